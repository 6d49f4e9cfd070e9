//! NATS JetStream key-value backend: `nats://[user:pass@]host:port?namespace=ns`.
//!
//! One bucket per namespace, `mp-discovery-<namespace>`, key `<service>.<id>`, value the
//! instance JSON. Expiry uses **per-message TTLs** (`Nats-TTL` header, NATS ≥ 2.11) with
//! **limit markers** (`subject_delete_marker_ttl`): when a record's TTL runs out the server
//! removes it and writes a `MaxAge` marker, which watchers see as an expiry. A record expired
//! by a *bucket-wide* `max_age` produces no watch event at all (measured on 2.15.1), which is
//! why the bucket has no `max_age` and why the [`Registry`](crate::Registry) also compares
//! listings periodically to catch removals a watch may not report.
//!
//! - register/update/renew publish the record with `Nats-TTL` (whole seconds, rounded up);
//!   renew and update use `Nats-Expected-Last-Subject-Sequence` so they never resurrect a
//!   record deregistered or expired meanwhile (`NotFound` instead).
//! - deregister publishes a `KV-Operation: DEL` marker that itself expires after
//!   [`MARKER_TTL`], so deleted ids do not pile up in the stream.
//! - watch de-duplicates renewals (each renewal is a new message with the same value) and
//!   reports a removal only for an instance it knew.

use std::{sync::Arc, time::Duration};

use async_nats::{
    HeaderMap, HeaderValue,
    header::{NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_TTL},
    jetstream::{
        self,
        consumer::{DeliverPolicy, push::OrderedConfig},
        kv::{self, Operation},
    },
};
use async_trait::async_trait;
use futures::StreamExt;
use reqwest::Url;

use crate::{
    backend::{
        Backend, Lease, RemovalReason, WatchEvent, WatchStream, by_id, check_lease_matches,
        ttl_secs,
    },
    error::{DiscoveryError, Result},
    factory::{BackendFactory, namespace},
    instance::ServiceInstance,
};

const NAME: &str = "nats";
/// How long deregistration and expiry markers stay in the bucket.
pub const MARKER_TTL: Duration = Duration::from_secs(60);
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// The NATS backend.
#[derive(Debug, Clone)]
pub struct NatsBackend {
    js: jetstream::Context,
    kv: kv::Store,
}

pub(crate) struct NatsFactory;

#[async_trait]
impl BackendFactory for NatsFactory {
    fn scheme(&self) -> &'static str {
        "nats"
    }
    async fn resolve(&self, url: &Url) -> Result<Arc<dyn Backend>> {
        let ns = namespace(url)?;
        let mut server = url.clone();
        server.set_query(None);
        Ok(Arc::new(NatsBackend::connect(server.as_str(), &ns).await?))
    }
}

fn unavailable(what: &str, e: impl Into<crate::error::BoxError>) -> DiscoveryError {
    DiscoveryError::unavailable(NAME, what.to_owned(), e)
}

/// Whether a stored message is a live record (not a delete/purge/expiry marker).
fn is_live(headers: Option<&HeaderMap>) -> bool {
    headers.is_none_or(|h| h.get("KV-Operation").is_none() && h.get("Nats-Marker-Reason").is_none())
}

impl NatsBackend {
    /// Connects to `server` (`nats://127.0.0.1:4222`) and opens (creating if needed) the
    /// bucket of `namespace`.
    pub async fn connect(server: &str, namespace: &str) -> Result<Self> {
        crate::instance::validate_name("namespace", namespace)?;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(3))
            .connect(server)
            .await
            .map_err(|e| unavailable(&format!("cannot connect to {server}"), e))?;
        Self::with_client(client, namespace).await
    }

    /// Uses an existing connection.
    pub async fn with_client(client: async_nats::Client, namespace: &str) -> Result<Self> {
        crate::instance::validate_name("namespace", namespace)?;
        let js = jetstream::new(client);
        let bucket = format!("mp-discovery-{namespace}");
        let config = kv::Config {
            bucket: bucket.clone(),
            description: "MarketPrism service discovery".to_owned(),
            history: 1,
            limit_markers: Some(MARKER_TTL),
            ..Default::default()
        };
        // Creating a bucket with an identical config is idempotent; a bucket made by another
        // version of this code is opened as it is.
        let kv = match js.create_key_value(config).await {
            Ok(kv) => kv,
            Err(create_err) => js.get_key_value(&bucket).await.map_err(|_| {
                unavailable(
                    &format!("cannot create or open bucket {bucket}"),
                    create_err,
                )
            })?,
        };
        Ok(Self { js, kv })
    }

    fn subject(&self, service: &str, id: &str) -> String {
        let prefix = self.kv.put_prefix.as_ref().unwrap_or(&self.kv.prefix);
        format!("{prefix}{service}.{id}")
    }

    /// Publishes a record with a TTL, optionally only over revision `expect`.
    async fn publish(
        &self,
        instance: &ServiceInstance,
        ttl: Duration,
        expect: Option<u64>,
    ) -> Result<std::result::Result<(), ()>> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_TTL, HeaderValue::from(ttl_secs(ttl)));
        if let Some(rev) = expect {
            headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, HeaderValue::from(rev));
        }
        let subject = self.subject(&instance.service, &instance.id);
        let ack = self
            .js
            .publish_with_headers(subject, headers, instance.to_json()?.into())
            .await
            .map_err(|e| unavailable("publish", e))?;
        match ack.await {
            Ok(_) => Ok(Ok(())),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Ok(Err(()))
            }
            Err(e) => Err(unavailable("publish acknowledgement", e)),
        }
    }

    /// The live record of `service/id` and its revision.
    async fn live_entry(&self, service: &str, id: &str) -> Result<Option<(ServiceInstance, u64)>> {
        let entry = self
            .kv
            .entry(format!("{service}.{id}"))
            .await
            .map_err(|e| unavailable("get", e))?;
        match entry {
            Some(e) if e.operation == Operation::Put => {
                Ok(Some((ServiceInstance::from_json(&e.value)?, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Rewrites the live record (same value for a renewal) keeping its TTL; never resurrects.
    async fn rewrite(&self, lease: &Lease, new: Option<&ServiceInstance>) -> Result<()> {
        for _ in 0..5 {
            let Some((current, rev)) = self.live_entry(&lease.service, &lease.id).await? else {
                return Err(DiscoveryError::not_found(&lease.service, &lease.id));
            };
            let value = new.unwrap_or(&current);
            if self.publish(value, lease.ttl, Some(rev)).await?.is_ok() {
                return Ok(());
            }
        }
        Err(DiscoveryError::Unavailable {
            backend: NAME,
            message: format!(
                "{}/{} kept changing during a renewal",
                lease.service, lease.id
            ),
            source: None,
        })
    }
}

#[async_trait]
impl Backend for NatsBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn register(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Lease> {
        instance.validate()?;
        self.publish(instance, ttl, None)
            .await?
            .map_err(|()| DiscoveryError::protocol(NAME, "unexpected sequence check"))?;
        Ok(Lease {
            service: instance.service.clone(),
            id: instance.id.clone(),
            ttl,
            token: 0,
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<()> {
        self.rewrite(lease, None).await
    }

    async fn update(&self, lease: &Lease, instance: &ServiceInstance) -> Result<()> {
        check_lease_matches(lease, instance)?;
        self.rewrite(lease, Some(instance)).await
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<()> {
        crate::instance::validate_name("service name", service)?;
        crate::instance::validate_name("instance id", id)?;
        let mut headers = HeaderMap::new();
        headers.insert("KV-Operation", "DEL");
        headers.insert(NATS_MESSAGE_TTL, HeaderValue::from(MARKER_TTL.as_secs()));
        self.js
            .publish_with_headers(self.subject(service, id), headers, bytes_empty())
            .await
            .map_err(|e| unavailable("publish delete marker", e))?
            .await
            .map_err(|e| unavailable("delete marker acknowledgement", e))?;
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        crate::instance::validate_name("service name", service)?;
        let subjects = format!("{}{service}.>", self.kv.prefix);
        let out = tokio::time::timeout(LIST_TIMEOUT, self.last_per_subject(subjects))
            .await
            .map_err(|_| DiscoveryError::Unavailable {
                backend: NAME,
                message: format!("listing {service} took over {LIST_TIMEOUT:?}"),
                source: None,
            })??;
        let mut instances = Vec::with_capacity(out.len());
        for (_, payload) in out {
            match ServiceInstance::from_json(&payload) {
                Ok(i) => instances.push(i),
                Err(e) => tracing::warn!(error = %e, "skipping unreadable NATS discovery record"),
            }
        }
        Ok(instances)
    }

    async fn services(&self) -> Result<Vec<String>> {
        let mut keys = self.kv.keys().await.map_err(|e| unavailable("keys", e))?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| unavailable("keys", e))?;
            if let Some((service, _)) = key.split_once('.') {
                names.push(service.to_owned());
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn watch(&self, service: &str) -> Result<WatchStream> {
        crate::instance::validate_name("service name", service)?;
        let watch = self
            .kv
            .watch(format!("{service}.>"))
            .await
            .map_err(|e| unavailable("watch", e))?;
        // Known instances: renewals of these are not changes, removals of others are noise.
        let known = by_id(self.list(service).await?);
        let stream = futures::stream::unfold((watch, known), |(mut watch, mut known)| async move {
            loop {
                let entry = match watch.next().await? {
                    Ok(entry) => entry,
                    Err(e) => return Some((Err(unavailable("watch", e)), (watch, known))),
                };
                let Some((service, id)) = entry.key.split_once('.') else {
                    continue;
                };
                let reason = match entry.operation {
                    Operation::Put => {
                        let inst = match ServiceInstance::from_json(&entry.value) {
                            Ok(inst) => inst,
                            Err(e) => return Some((Err(e), (watch, known))),
                        };
                        if known.get(id) == Some(&inst) {
                            continue;
                        }
                        known.insert(id.to_owned(), inst.clone());
                        return Some((Ok(WatchEvent::Put(inst)), (watch, known)));
                    }
                    Operation::Delete => RemovalReason::Deregistered,
                    // A purge marker written by the server when a TTL ran out.
                    Operation::Purge => RemovalReason::Expired,
                };
                if known.remove(id).is_some() {
                    let ev = WatchEvent::Removed {
                        service: service.to_owned(),
                        id: id.to_owned(),
                        reason,
                    };
                    return Some((Ok(ev), (watch, known)));
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

fn bytes_empty() -> bytes::Bytes {
    bytes::Bytes::new()
}

impl NatsBackend {
    /// The last live message of every subject matching `filter`: `(subject, payload)`.
    async fn last_per_subject(&self, filter: String) -> Result<Vec<(String, bytes::Bytes)>> {
        let mut consumer = self
            .kv
            .stream
            .create_consumer(OrderedConfig {
                deliver_subject: self.js_client_inbox(),
                description: Some("marketprism discovery list".to_owned()),
                filter_subject: filter,
                deliver_policy: DeliverPolicy::LastPerSubject,
                ..Default::default()
            })
            .await
            .map_err(|e| unavailable("list consumer", e))?;
        let pending = consumer
            .info()
            .await
            .map_err(|e| unavailable("list consumer info", e))?
            .num_pending;
        let mut out = Vec::new();
        if pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| unavailable("list messages", e))?;
        while let Some(msg) = messages.next().await {
            let msg = msg.map_err(|e| unavailable("list messages", e))?;
            let left = msg
                .info()
                .map_err(|e| DiscoveryError::protocol(NAME, format!("message metadata: {e}")))?
                .pending;
            if is_live(msg.headers.as_ref()) {
                out.push((msg.subject.to_string(), msg.payload.clone()));
            }
            if left == 0 {
                break;
            }
        }
        Ok(out)
    }

    fn js_client_inbox(&self) -> String {
        self.js.client().new_inbox()
    }
}
