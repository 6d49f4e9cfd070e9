//! etcd v3 backend over etcd's JSON gateway (plain HTTP, no protoc): `etcd://host:port?namespace=ns`.
//!
//! Layout: `/marketprism/discovery/<namespace>/services/<service>/<id>` holds the instance JSON
//! (plus an `etcd_lease` field) attached to a lease of the registration's TTL.
//! - register = `lease/grant` + `kv/put` with the lease; renew = `lease/keepalive` (a missing
//!   TTL in the answer means the lease is gone) + a `count_only` range (the key may have been
//!   deregistered while the lease lives).
//! - update = a `kv/txn` that puts only if the key exists, under the same lease.
//! - deregister deletes the key and leaves the lease to run out by itself; this is what lets
//!   a watcher tell a deregistration from an expiry: on a DELETE it asks `lease/timetolive`
//!   for the lease recorded in the previous value — alive means deregistered, gone means
//!   expired. (The lease id is read from the value because the 3.4 gateway's watch stream
//!   prints int64 lease ids through float64, losing their low digits.) A deregistration in the
//!   last instant of a lease's life may be reported as an expiry.
//! - watch = the streaming `/v3/watch` (one JSON object per line), opened before `watch`
//!   returns (it waits for the `created` answer).
//!
//! etcd refuses leases shorter than its minimum (about 2 s with default election settings);
//! TTLs are whole seconds, rounded up.
//!
//! Authentication: `etcd://user:password@host:2379` (percent-encode `@`, `:`, `/` in either)
//! or [`EtcdBackend::with_credentials`] (token login and renewal live in the private `auth`
//! module). The user needs a role with
//! `readwrite` on the prefix `/marketprism/discovery/`. Wrong credentials, a missing user
//! name on an etcd with auth enabled, or a denied permission fail with
//! [`DiscoveryError::Auth`], which is not retryable. TLS (`https`) is not implemented.

use std::time::Duration;

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    backend::{Backend, Lease, WatchStream, check_lease_matches, ttl_secs},
    error::{DiscoveryError, Result},
    factory::{BackendFactory, host_port, namespace},
    instance::ServiceInstance,
};

const NAME: &str = "etcd";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

mod auth;
mod watch;

/// The etcd backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EtcdBackend {
    http: reqwest::Client,
    endpoint: String,
    base: String,
    credentials: Option<std::sync::Arc<auth::Credentials>>,
}

/// What is stored: the instance plus its lease id (exact, see the module docs).
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    instance: ServiceInstance,
    #[serde(default)]
    etcd_lease: String,
}

pub(crate) struct EtcdFactory;

#[async_trait]
impl BackendFactory for EtcdFactory {
    fn scheme(&self) -> &'static str {
        "etcd"
    }
    async fn resolve(&self, url: &Url) -> Result<std::sync::Arc<dyn Backend>> {
        let endpoint = format!("http://{}", host_port(url, 2379)?);
        let mut backend = EtcdBackend::new(&endpoint, &namespace(url)?)?;
        if !url.username().is_empty() {
            let password = auth::percent_decode(url.password().unwrap_or_default());
            backend = backend.with_credentials(&auth::percent_decode(url.username()), &password);
        }
        Ok(std::sync::Arc::new(backend))
    }
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// The key just after every key starting with `prefix` (etcd's `range_end`).
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return B64.encode(&bytes);
        }
    }
    B64.encode([0u8])
}

fn decode(field: &Value) -> Result<Vec<u8>> {
    let s = field.as_str().unwrap_or_default();
    B64.decode(s).map_err(|e| DiscoveryError::Protocol {
        backend: NAME,
        message: "value is not base64".to_owned(),
        source: Some(Box::new(e)),
    })
}

fn parse_record(kv: &Value) -> Result<Record> {
    Ok(serde_json::from_slice(&decode(&kv["value"])?)?)
}

impl EtcdBackend {
    /// A client of the etcd gateway at `endpoint` (`http://127.0.0.1:2379`) in `namespace`.
    ///
    /// ```
    /// let etcd = marketprism_discovery::etcd::EtcdBackend::new("http://127.0.0.1:2379", "default")?;
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn new(endpoint: &str, namespace: &str) -> Result<Self> {
        crate::instance::validate_name("namespace", namespace)?;
        let http = crate::http_client_builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| DiscoveryError::unavailable(NAME, "cannot build HTTP client", e))?;
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            base: format!("/marketprism/discovery/{namespace}/services/"),
            credentials: None,
        })
    }

    /// Authenticates as `user` with `password` (etcd with `auth enable`).
    ///
    /// ```
    /// let etcd = marketprism_discovery::etcd::EtcdBackend::new("http://127.0.0.1:2379", "default")?
    ///     .with_credentials("marketprism", "s3cr3t");
    /// assert!(!format!("{etcd:?}").contains("s3cr3t"));
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some(std::sync::Arc::new(auth::Credentials::new(user, password)));
        self
    }

    /// One POST; `Ok(Err((grpc code, message)))` when etcd answered with an error.
    async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> Result<std::result::Result<Value, (i64, String)>> {
        let url = format!("{}/v3/{path}", self.endpoint);
        let mut req = self
            .http
            .post(&url)
            .timeout(REQUEST_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.header(reqwest::header::AUTHORIZATION, t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| DiscoveryError::unavailable(NAME, format!("POST {url}"), e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| DiscoveryError::unavailable(NAME, format!("reading {url}"), e))?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| DiscoveryError::Protocol {
                backend: NAME,
                message: format!("{url} answered {status} with non-JSON"),
                source: Some(Box::new(e)),
            })?;
        if status.is_success() && value.get("error").is_none() {
            return Ok(Ok(value));
        }
        let code = value["code"].as_i64().unwrap_or(-1);
        let message = value["message"].as_str().unwrap_or("no message").to_owned();
        if status.is_server_error() && code == -1 {
            return Err(DiscoveryError::Unavailable {
                backend: NAME,
                message: format!("{url}: {status} {message}"),
                source: None,
            });
        }
        Ok(Err((code, message)))
    }

    fn key(&self, service: &str, id: &str) -> String {
        format!("{}{service}/{id}", self.base)
    }

    /// POSTs `body` to `/v3/<path>` (authenticated when credentials are set; a forgotten
    /// token is renewed once); gRPC status NOT_FOUND (code 5) becomes `Ok(None)`.
    async fn call(&self, path: &str, body: &Value) -> Result<Option<Value>> {
        let mut token = self.token().await?;
        let mut answer = self.post(path, body, token.as_deref()).await?;
        if let (Err((16, _)), Some(creds)) = (&answer, &self.credentials) {
            // `invalid auth token`: etcd restarted or the token's TTL ran out.
            creds.set_token(None);
            token = self.token().await?;
            answer = self.post(path, body, token.as_deref()).await?;
        }
        match answer {
            Ok(v) => Ok(Some(v)),
            Err((5, _)) => Ok(None),
            Err((code, message)) => Err(self.classify(path, code, message)),
        }
    }

    async fn lease_alive(&self, lease: &str) -> Result<bool> {
        let ttl = self
            .call("lease/timetolive", &json!({ "ID": lease }))
            .await?
            .and_then(|v| v["TTL"].as_str().and_then(|t| t.parse::<i64>().ok()));
        Ok(ttl.is_some_and(|t| t > 0))
    }

    fn value(&self, instance: &ServiceInstance, lease: i64) -> Result<String> {
        let rec = Record {
            instance: instance.clone(),
            etcd_lease: lease.to_string(),
        };
        Ok(B64.encode(serde_json::to_vec(&rec)?))
    }

    async fn range(&self, prefix: &str, extra: Value) -> Result<Value> {
        let mut body = json!({ "key": b64(prefix), "range_end": prefix_end(prefix) });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.call("kv/range", &body)
            .await?
            .ok_or_else(|| DiscoveryError::protocol(NAME, "range answered NOT_FOUND"))
    }
}

#[async_trait]
impl Backend for EtcdBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn register(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Lease> {
        instance.validate()?;
        let granted = self
            .call("lease/grant", &json!({ "TTL": ttl_secs(ttl).to_string() }))
            .await?
            .ok_or_else(|| DiscoveryError::protocol(NAME, "lease grant answered NOT_FOUND"))?;
        let lease_id: i64 = granted["ID"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                DiscoveryError::protocol(NAME, format!("lease grant answer {granted}"))
            })?;
        let key = self.key(&instance.service, &instance.id);
        let body = json!({
            "key": b64(&key),
            "value": self.value(instance, lease_id)?,
            "lease": lease_id.to_string(),
        });
        self.call("kv/put", &body)
            .await?
            .ok_or_else(|| DiscoveryError::protocol(NAME, "fresh lease not found"))?;
        Ok(Lease {
            service: instance.service.clone(),
            id: instance.id.clone(),
            ttl,
            token: lease_id,
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<()> {
        let gone = || DiscoveryError::not_found(&lease.service, &lease.id);
        let answer = self
            .call("lease/keepalive", &json!({ "ID": lease.token.to_string() }))
            .await?
            .ok_or_else(gone)?;
        let ttl = answer["result"]["TTL"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        if ttl <= 0 {
            return Err(gone());
        }
        let key = self.key(&lease.service, &lease.id);
        let count = self
            .call("kv/range", &json!({ "key": b64(&key), "count_only": true }))
            .await?
            .and_then(|v| v["count"].as_str().and_then(|c| c.parse::<u64>().ok()))
            .unwrap_or(0);
        if count == 0 {
            return Err(gone());
        }
        Ok(())
    }

    async fn update(&self, lease: &Lease, instance: &ServiceInstance) -> Result<()> {
        check_lease_matches(lease, instance)?;
        let key = b64(&self.key(&lease.service, &lease.id));
        let body = json!({
            "compare": [{ "key": key, "target": "CREATE", "result": "GREATER", "create_revision": "0" }],
            "success": [{ "request_put": {
                "key": key,
                "value": self.value(instance, lease.token)?,
                "lease": lease.token.to_string(),
            }}],
        });
        match self.call("kv/txn", &body).await? {
            Some(v) if v["succeeded"].as_bool() == Some(true) => Ok(()),
            _ => Err(DiscoveryError::not_found(&lease.service, &lease.id)),
        }
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<()> {
        let key = self.key(service, id);
        self.call("kv/deleterange", &json!({ "key": b64(&key) }))
            .await?;
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        let prefix = format!("{}{service}/", self.base);
        let answer = self.range(&prefix, json!({})).await?;
        let kvs = answer["kvs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(kvs.len());
        for kv in kvs {
            match parse_record(kv) {
                Ok(r) => out.push(r.instance),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable etcd discovery record"),
            }
        }
        Ok(out)
    }

    async fn services(&self) -> Result<Vec<String>> {
        let answer = self.range(&self.base, json!({ "keys_only": true })).await?;
        let mut names: Vec<String> = answer["kvs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| {
                let key = String::from_utf8(decode(&kv["key"]).ok()?).ok()?;
                let rest = key.strip_prefix(&self.base)?;
                Some(rest.split('/').next()?.to_owned())
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn watch(&self, service: &str) -> Result<WatchStream> {
        let prefix = format!("{}{service}/", self.base);
        let url = format!("{}/v3/watch", self.endpoint);
        let body = json!({ "create_request": {
            "key": b64(&prefix), "range_end": prefix_end(&prefix), "prev_kv": true,
        }});
        let mut req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(t) = self.token().await? {
            req = req.header(reqwest::header::AUTHORIZATION, t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| DiscoveryError::unavailable(NAME, format!("POST {url}"), e))?;
        if !resp.status().is_success() {
            return Err(DiscoveryError::protocol(
                NAME,
                format!("watch answered {}", resp.status()),
            ));
        }
        let mut lines = watch::Lines {
            resp,
            buf: Vec::new(),
        };
        // The first answer confirms the watch exists; changes after it are ours.
        match tokio::time::timeout(REQUEST_TIMEOUT, lines.next()).await {
            Ok(Ok(Some(first)))
                if first["result"]["created"].as_bool() == Some(true)
                    && first["result"]["canceled"].as_bool() != Some(true) => {}
            Ok(Ok(Some(first))) if first["result"]["canceled"].as_bool() == Some(true) => {
                let reason = first["result"]["cancel_reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if reason.contains("invalid auth token") {
                    if let Some(c) = &self.credentials {
                        c.set_token(None);
                    }
                    return Err(DiscoveryError::Unavailable {
                        backend: NAME,
                        message: format!("watch: {reason} (authenticating again)"),
                        source: None,
                    });
                }
                let code = if reason.contains("PermissionDenied") {
                    7
                } else {
                    3
                };
                return Err(self.classify("watch", code, reason));
            }
            Ok(Ok(other)) => {
                return Err(DiscoveryError::protocol(
                    NAME,
                    format!("watch did not start: {other:?}"),
                ));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(DiscoveryError::Unavailable {
                    backend: NAME,
                    message: "watch not confirmed within 5 s".to_owned(),
                    source: None,
                });
            }
        }
        let state = watch::WatchState {
            lines,
            backend: self.clone(),
            pending: std::collections::VecDeque::new(),
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(state, watch::watch_step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte() {
        assert_eq!(B64.decode(prefix_end("a/b/")).unwrap(), b"a/b0");
        assert_eq!(B64.decode(prefix_end("az")).unwrap(), b"a{");
    }
}
