//! The object-safe [`Backend`] trait every store implements.

use std::{collections::HashMap, time::Duration};

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::{error::Result, instance::ServiceInstance};

/// What [`Backend::register`] returns: enough to renew, update or deregister the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Service name.
    pub service: String,
    /// Instance id.
    pub id: String,
    /// The TTL the record was written with.
    pub ttl: Duration,
    /// Backend-specific handle (the etcd lease id; 0 where unused).
    pub token: i64,
}

/// Why an instance disappeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemovalReason {
    /// Explicitly deregistered.
    Deregistered,
    /// Its TTL ran out without a renewal.
    Expired,
    /// The backend does not say.
    Unknown,
}

/// One change to a watched service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchEvent {
    /// An instance was registered or its record changed (status, weight, ...).
    Put(ServiceInstance),
    /// An instance is gone.
    Removed {
        /// Service name.
        service: String,
        /// Instance id.
        id: String,
        /// Why.
        reason: RemovalReason,
    },
}

impl WatchEvent {
    /// The instance id the event is about.
    pub fn id(&self) -> &str {
        match self {
            WatchEvent::Put(i) => &i.id,
            WatchEvent::Removed { id, .. } => id,
        }
    }
}

/// A stream of watch events. An `Err` item ([`DiscoveryError::Lagged`] or a transport error)
/// means events may have been lost: list the service again. The stream ends when the backend
/// connection ends for good.
///
/// [`DiscoveryError::Lagged`]: crate::DiscoveryError::Lagged
pub type WatchStream = BoxStream<'static, Result<WatchEvent>>;

/// A service registry store. Object safe: used as `Arc<dyn Backend>`, chosen by URL with
/// [`backend_from_url`](crate::backend_from_url). Every implementation passes the same
/// conformance suite (`marketprism_discovery::conformance`).
///
/// Semantics every backend keeps:
/// - `register` is an upsert: the record lives until `ttl` passes without a `renew`.
/// - `renew` and `update` fail with [`NotFound`](crate::DiscoveryError::NotFound) once the
///   record is gone (expired or deregistered) — the caller registers again.
/// - `deregister` is idempotent.
/// - `watch` reports changes made after it returns.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Short backend name (`memory`, `etcd`, `nats`, `redis`, `consul`).
    fn name(&self) -> &'static str;

    /// Writes `instance` with a time to live (rounded up to whole seconds by backends whose
    /// TTLs are in seconds: etcd, NATS, Consul).
    async fn register(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Lease>;

    /// Extends the record's life by its TTL.
    async fn renew(&self, lease: &Lease) -> Result<()>;

    /// Replaces the record (status, weight, metadata...) keeping the lease. `instance` must
    /// have the lease's service and id.
    async fn update(&self, lease: &Lease, instance: &ServiceInstance) -> Result<()>;

    /// Removes the record now. Removing an absent record is not an error.
    async fn deregister(&self, service: &str, id: &str) -> Result<()>;

    /// The service's live instances, in any order.
    async fn list(&self, service: &str) -> Result<Vec<ServiceInstance>>;

    /// Names of services with at least one live instance.
    async fn services(&self) -> Result<Vec<String>>;

    /// Changes to `service` from now on.
    async fn watch(&self, service: &str) -> Result<WatchStream>;
}

/// Events turning listing `old` into listing `new`; instances missing from `new` are reported
/// with `gone_reason`. Used by backends that watch by polling and by the registry's
/// reconciliation.
pub(crate) fn diff_listings(
    old: &HashMap<String, ServiceInstance>,
    new: &HashMap<String, ServiceInstance>,
    gone_reason: RemovalReason,
) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    for (id, inst) in new {
        if old.get(id) != Some(inst) {
            events.push(WatchEvent::Put(inst.clone()));
        }
    }
    for (id, inst) in old {
        if !new.contains_key(id) {
            events.push(WatchEvent::Removed {
                service: inst.service.clone(),
                id: id.clone(),
                reason: gone_reason,
            });
        }
    }
    events
}

/// Indexes a listing by id.
pub(crate) fn by_id(list: Vec<ServiceInstance>) -> HashMap<String, ServiceInstance> {
    list.into_iter().map(|i| (i.id.clone(), i)).collect()
}

/// Rejects an update whose instance does not match the lease.
pub(crate) fn check_lease_matches(lease: &Lease, instance: &ServiceInstance) -> Result<()> {
    instance.validate()?;
    if lease.service != instance.service || lease.id != instance.id {
        return Err(crate::DiscoveryError::InvalidInstance {
            reason: format!(
                "update of `{}/{}` with a lease for `{}/{}`",
                instance.service, instance.id, lease.service, lease.id
            ),
        });
    }
    Ok(())
}

/// A TTL in whole seconds, rounded up, at least 1 (what etcd, NATS and Consul store).
///
/// ```
/// use std::time::Duration;
/// use marketprism_discovery::backend::ttl_secs;
/// assert_eq!(ttl_secs(Duration::from_millis(1500)), 2);
/// assert_eq!(ttl_secs(Duration::ZERO), 1);
/// ```
pub fn ttl_secs(ttl: Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.max(1)
}
