//! Consul backend over the documented HTTP API: `consul://host:port?token=T&dc=dc1&namespace=ns`
//! (plain HTTP, default port 8500) or `consul+https://host:port?...&ca_file=/etc/consul/ca.pem`
//! (HTTPS, default port 8501, Consul's HTTPS port; the server certificate is verified against
//! the system's roots plus the PEM certificates in `ca_file`, when given).
//!
//! **Tested without a Consul server** (none can be installed here): request building and
//! response parsing are unit-tested against the JSON examples of Consul's API docs, and a
//! recording HTTP stub (a mock, not Consul) checks that the right requests — methods, paths,
//! `X-Consul-Token`, bodies — are sent. The conformance suite has **not** run against a real
//! Consul agent; semantics below follow the documentation and are unverified.
//!
//! - Consul service ids are unique per *agent*, not per service, so ours is
//!   `<namespace>.<service>.<id>` (dots cannot occur in the three parts); the instance id is
//!   read back from it.
//! - register: `PUT /v1/agent/service/register` with a TTL check (`CheckID` `service:<consul id>`,
//!   `TTL` in whole seconds, `DeregisterCriticalServiceAfter` = max(1 m, 3 × TTL) — Consul's
//!   reaper runs about every 30 s, so an expired instance is *hidden* at once (its check is
//!   critical) but *deleted* only a minute or more later).
//! - renew: `GET /v1/agent/health/service/id/<id>` (404 or 503 critical → `NotFound`: an
//!   expired instance is not revived, as on every backend; a check turning critical between
//!   the two requests is revived) then `PUT /v1/agent/check/pass/service:<id>`; update: the
//!   same health request, then register again; deregister: `PUT /v1/agent/service/deregister/<id>`.
//! - list: `GET /v1/health/service/<name>`; an instance with a critical check counts as
//!   expired and is left out. services: `GET /v1/catalog/services`.
//! - watch: blocking queries on `/v1/health/service/<name>?index=&wait=` and a diff of the
//!   answers: an instance that turns critical is reported expired, one that vanishes
//!   deregistered.
//! - Our fields without a Consul equivalent travel in `Meta`: `mp_status`,
//!   `mp_health_check_url`, `mp_registered_at_ms`, `mp_namespace` (namespaces share one
//!   Consul catalog and are filtered client-side; a tag `mp-ns-<namespace>` marks them in the
//!   catalog). Consul restricts `Meta` keys to `[A-Za-z0-9_-]`, ≤ 128 characters, 64 pairs.
//! - Non-string metadata values travel as JSON text, their keys listed in `mp_json_keys`, and
//!   come back with their type (Consul's `Meta` values are strings of ≤ 512 characters).
//! - The requests must go to the agent the service runs next to (agent endpoints are
//!   node-local).

mod tls;
mod wire;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde_json::Value;

use crate::{
    backend::{
        Backend, Lease, RemovalReason, WatchEvent, WatchStream, check_lease_matches, ttl_secs,
    },
    error::{DiscoveryError, Result},
    factory::{BackendFactory, host_port, namespace, query_param},
    instance::{ServiceInstance, validate_name},
};

pub use wire::{parse_health, registration_body};

const NAME: &str = "consul";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one blocking query may wait.
pub const BLOCKING_WAIT: Duration = Duration::from_secs(60);

/// The Consul backend.
#[derive(Debug, Clone)]
pub struct ConsulBackend {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    dc: Option<String>,
    namespace: String,
}

/// Serves `consul://` (HTTP) or, with `https`, `consul+https://`.
pub(crate) struct ConsulFactory {
    pub(crate) https: bool,
}

/// The URL scheme for Consul over HTTPS.
pub const HTTPS_SCHEME: &str = "consul+https";

#[async_trait]
impl BackendFactory for ConsulFactory {
    fn scheme(&self) -> &'static str {
        if self.https { HTTPS_SCHEME } else { "consul" }
    }
    async fn resolve(&self, url: &Url) -> Result<Arc<dyn Backend>> {
        let ns = namespace(url)?;
        let mut b = if self.https {
            let ca = match query_param(url, "ca_file") {
                Some(path) => {
                    Some(
                        std::fs::read(&path).map_err(|e| DiscoveryError::InvalidUrl {
                            url: marketprism_core::redact::url(url.as_str()),
                            reason: format!("ca_file `{path}` cannot be read: {e}"),
                        })?,
                    )
                }
                None => None,
            };
            ConsulBackend::with_tls(
                &format!("https://{}", host_port(url, 8501)?),
                &ns,
                ca.as_deref(),
            )?
        } else {
            ConsulBackend::new(&format!("http://{}", host_port(url, 8500)?), &ns)?
        };
        b.token = query_param(url, "token");
        b.dc = query_param(url, "dc");
        Ok(Arc::new(b))
    }
}

impl ConsulBackend {
    /// A client of the Consul agent at `endpoint` (`http://127.0.0.1:8500`).
    ///
    /// ```
    /// use marketprism_discovery::consul::ConsulBackend;
    /// let consul = ConsulBackend::new("http://127.0.0.1:8500", "default")?
    ///     .with_token("s3cr3t")
    ///     .with_datacenter("dc1");
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn new(endpoint: &str, namespace: &str) -> Result<Self> {
        validate_name("namespace", namespace)?;
        let http = crate::http_client_builder()
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| DiscoveryError::unavailable(NAME, "cannot build HTTP client", e))?;
        Ok(Self {
            http,
            base: endpoint.trim_end_matches('/').to_owned(),
            token: None,
            dc: None,
            namespace: namespace.to_owned(),
        })
    }

    /// The agent's base URL (`http://…:8500` or `https://…:8501`).
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Sends `X-Consul-Token: token` (ACLs).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Queries datacenter `dc` (`?dc=`).
    pub fn with_datacenter(mut self, dc: impl Into<String>) -> Self {
        self.dc = Some(dc.into());
        self
    }

    /// Sends one request; returns status, `X-Consul-Index` and the body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(u16, Option<u64>, Vec<u8>)> {
        let url = format!("{}/v1/{path}", self.base);
        let mut q: Vec<(&str, String)> = query.to_vec();
        if let Some(dc) = &self.dc {
            q.push(("dc", dc.clone()));
        }
        let parsed = if q.is_empty() {
            Url::parse(&url)
        } else {
            Url::parse_with_params(&url, &q)
        };
        let full = parsed.map_err(|e| DiscoveryError::InvalidUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let mut req = self.http.request(method.clone(), full).timeout(timeout);
        if let Some(t) = &self.token {
            req = req.header("X-Consul-Token", t);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| DiscoveryError::unavailable(NAME, format!("{method} {url}"), e))?;
        let status = resp.status().as_u16();
        let index = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| DiscoveryError::unavailable(NAME, format!("reading {url}"), e))?;
        // 503 is how the agent's health endpoint says "critical", not an outage.
        let critical = status == 503 && path.starts_with("agent/health/service/id/");
        if status >= 500 && !critical && !is_unknown(&bytes) {
            return Err(DiscoveryError::Unavailable {
                backend: NAME,
                message: format!(
                    "{method} {url}: {status} {}",
                    String::from_utf8_lossy(&bytes)
                ),
                source: None,
            });
        }
        if status == 401 || status == 403 {
            return Err(DiscoveryError::Auth {
                backend: NAME,
                message: format!(
                    "{method} {url}: {status} (ACL token missing or lacking permission; give `?token=` in the URL)"
                ),
            });
        }
        Ok((status, index, bytes.to_vec()))
    }

    /// Health entries of `service` (all, with their check state), and the index.
    async fn health(
        &self,
        service: &str,
        index: Option<u64>,
    ) -> Result<(Vec<(ServiceInstance, bool)>, u64)> {
        let mut q = Vec::new();
        if let Some(i) = index {
            q.push(("index", i.to_string()));
            q.push(("wait", format!("{}s", BLOCKING_WAIT.as_secs())));
        }
        let timeout = if index.is_some() {
            BLOCKING_WAIT + BLOCKING_WAIT / 16 + Duration::from_secs(5)
        } else {
            REQUEST_TIMEOUT
        };
        let (status, idx, body) = self
            .send(
                Method::GET,
                &format!("health/service/{service}"),
                &q,
                None,
                timeout,
            )
            .await?;
        if status != 200 {
            return Err(DiscoveryError::protocol(
                NAME,
                format!("health/service/{service}: {status}"),
            ));
        }
        let value: Value = serde_json::from_slice(&body)?;
        let entries = parse_health(&value)?
            .into_iter()
            .filter(|(i, _)| {
                i.metadata
                    .get(wire::NS_META)
                    .is_none_or(|ns| ns.as_str() == Some(self.namespace.as_str()))
            })
            .map(|(mut i, alive)| {
                i.metadata.remove(wire::NS_META);
                (i, alive)
            })
            .collect();
        Ok((entries, idx.unwrap_or(0)))
    }

    /// Whether the instance is registered and its TTL check not critical
    /// (`GET /v1/agent/health/service/id/<id>`: 200 passing, 429 warning, 503 critical, 404
    /// unknown).
    async fn alive(&self, service: &str, id: &str) -> Result<bool> {
        let path = format!(
            "agent/health/service/id/{}",
            wire::consul_id(&self.namespace, service, id)
        );
        let (status, _, _) = self
            .send(Method::GET, &path, &[], None, REQUEST_TIMEOUT)
            .await?;
        match status {
            200 | 429 => Ok(true),
            404 | 503 => Ok(false),
            _ => Err(DiscoveryError::protocol(NAME, format!("{path}: {status}"))),
        }
    }

    async fn put_registration(&self, instance: &ServiceInstance, ttl: Duration) -> Result<()> {
        let body = registration_body(instance, ttl, &self.namespace);
        let (status, _, text) = self
            .send(
                Method::PUT,
                "agent/service/register",
                &[],
                Some(&body),
                REQUEST_TIMEOUT,
            )
            .await?;
        if status == 200 {
            Ok(())
        } else {
            Err(DiscoveryError::protocol(
                NAME,
                format!("register: {status} {}", String::from_utf8_lossy(&text)),
            ))
        }
    }
}

/// Consul answers 500 "Unknown check" / "does not exist" for a missing check in old versions.
fn is_unknown(body: &[u8]) -> bool {
    let s = String::from_utf8_lossy(body).to_ascii_lowercase();
    s.contains("unknown check") || s.contains("does not exist") || s.contains("unknown service")
}

#[async_trait]
impl Backend for ConsulBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn register(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Lease> {
        instance.validate()?;
        self.put_registration(instance, ttl).await?;
        Ok(Lease {
            service: instance.service.clone(),
            id: instance.id.clone(),
            ttl: Duration::from_secs(ttl_secs(ttl)),
            token: 0,
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<()> {
        // Passing a critical check would bring an expired instance back: Consul keeps it until
        // `DeregisterCriticalServiceAfter`. Expired is gone, as on every other backend.
        if !self.alive(&lease.service, &lease.id).await? {
            return Err(DiscoveryError::not_found(&lease.service, &lease.id));
        }
        let path = format!(
            "agent/check/pass/service:{}",
            wire::consul_id(&self.namespace, &lease.service, &lease.id)
        );
        let (status, _, body) = self
            .send(Method::PUT, &path, &[], None, REQUEST_TIMEOUT)
            .await?;
        match status {
            200 => Ok(()),
            404 => Err(DiscoveryError::not_found(&lease.service, &lease.id)),
            _ if is_unknown(&body) => Err(DiscoveryError::not_found(&lease.service, &lease.id)),
            _ => Err(DiscoveryError::protocol(NAME, format!("{path}: {status}"))),
        }
    }

    async fn update(&self, lease: &Lease, instance: &ServiceInstance) -> Result<()> {
        check_lease_matches(lease, instance)?;
        if !self.alive(&lease.service, &lease.id).await? {
            return Err(DiscoveryError::not_found(&lease.service, &lease.id));
        }
        self.put_registration(instance, lease.ttl).await
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<()> {
        validate_name("service name", service)?;
        validate_name("instance id", id)?;
        let path = format!(
            "agent/service/deregister/{}",
            wire::consul_id(&self.namespace, service, id)
        );
        let (status, _, body) = self
            .send(Method::PUT, &path, &[], None, REQUEST_TIMEOUT)
            .await?;
        if status == 200 || status == 404 || is_unknown(&body) {
            Ok(())
        } else {
            Err(DiscoveryError::protocol(NAME, format!("{path}: {status}")))
        }
    }

    async fn list(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        validate_name("service name", service)?;
        let (entries, _) = self.health(service, None).await?;
        Ok(entries
            .into_iter()
            .filter(|(_, alive)| *alive)
            .map(|(i, _)| i)
            .collect())
    }

    async fn services(&self) -> Result<Vec<String>> {
        let (status, _, body) = self
            .send(Method::GET, "catalog/services", &[], None, REQUEST_TIMEOUT)
            .await?;
        if status != 200 {
            return Err(DiscoveryError::protocol(
                NAME,
                format!("catalog/services: {status}"),
            ));
        }
        let value: Value = serde_json::from_slice(&body)?;
        Ok(wire::parse_catalog_services(&value, &self.namespace))
    }

    async fn watch(&self, service: &str) -> Result<WatchStream> {
        validate_name("service name", service)?;
        let (entries, index) = self.health(service, None).await?;
        let state = (
            self.clone(),
            service.to_owned(),
            alive_map(entries),
            index,
            std::collections::VecDeque::new(),
        );
        let stream = futures::stream::unfold(
            state,
            |(b, service, mut known, mut index, mut pending)| async move {
                loop {
                    if let Some(ev) = pending.pop_front() {
                        return Some((Ok(ev), (b, service, known, index, pending)));
                    }
                    match b.health(&service, Some(index)).await {
                        Ok((entries, new_index)) => {
                            // Per Consul's docs: an index going backwards resets the wait.
                            index = if new_index < index { 0 } else { new_index };
                            let (alive, critical): (Vec<_>, Vec<_>) =
                                entries.into_iter().partition(|(_, a)| *a);
                            let now = alive_map(alive);
                            let critical: Vec<String> =
                                critical.into_iter().map(|(i, _)| i.id).collect();
                            for ev in crate::backend::diff_listings(
                                &known,
                                &now,
                                RemovalReason::Deregistered,
                            ) {
                                let ev = match ev {
                                    WatchEvent::Removed { service, id, .. }
                                        if critical.contains(&id) =>
                                    {
                                        WatchEvent::Removed {
                                            service,
                                            id,
                                            reason: RemovalReason::Expired,
                                        }
                                    }
                                    other => other,
                                };
                                pending.push_back(ev);
                            }
                            known = now;
                        }
                        Err(e) => {
                            let out = Err(e);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            return Some((out, (b, service, known, index, pending)));
                        }
                    }
                }
            },
        );
        Ok(Box::pin(stream))
    }
}

fn alive_map(entries: Vec<(ServiceInstance, bool)>) -> HashMap<String, ServiceInstance> {
    entries
        .into_iter()
        .filter(|(_, a)| *a)
        .map(|(i, _)| (i.id.clone(), i))
        .collect()
}
