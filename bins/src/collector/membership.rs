//! The group's member list, kept from leases in the discovery backend.
//!
//! Each collector writes one record under [`AssignmentConfig::service_name`] with a short
//! TTL, renews it every third of the TTL and stamps its metadata `alive_ms` at each renewal.
//! That stamp is what a survivor reports as the start of the dark window when it takes the
//! dead member's instruments over: the member died after it, at most one renewal period
//! later.
//!
//! A collector keeps its lease only while it can deliver: when publishing has failed for a
//! whole TTL (cut off from NATS, say, while discovery still answers) it removes its lease, so
//! the survivors take its instruments over instead of leaving them dark behind a live lease;
//! it joins again after its next successful publish.
//!
//! The list is read by polling (`poll_ms`) rather than by watching: a poll is one range
//! read, works alike on every backend, and cannot miss an event; detection time is the TTL
//! plus at most one poll. This record is separate from the service's own registration
//! (which the gateway routes by, with `discovery.ttl_secs`), so the assignment can use a
//! much shorter TTL without making routing flap.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use marketprism_discovery::{Backend, DiscoveryError, Lease, ServiceInstance};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::assignment::AssignmentConfig;
use crate::common::now_ms;

/// The group as last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Members {
    /// Live member ids (this collector included once its lease is listed).
    pub(crate) ids: BTreeSet<String>,
    /// Last `alive_ms` seen of every member, gone ones included (kept for an hour).
    pub(crate) last_seen_ms: BTreeMap<String, i64>,
}

/// How long a departed member's last stamp is remembered.
const FORGET_AFTER_MS: i64 = 3_600_000;

/// This collector's record in the group.
fn record(
    config: &AssignmentConfig,
    me: &str,
    host: &str,
    port: u16,
) -> Result<ServiceInstance, DiscoveryError> {
    ServiceInstance::builder(config.service_name(), host, port)
        .id(me)
        .metadata("alive_ms", now_ms())
        .metadata("redundancy", config.redundancy)
        .metadata("version", env!("CARGO_PKG_VERSION"))
        .build()
}

/// Registers this collector, then keeps its lease and the member list until `stop`; the
/// list is published on `tx` whenever the set of ids changes. The lease is removed at
/// `stop` (a graceful stop hands the instruments over at once, not after the TTL).
pub(crate) async fn run(
    backend: Arc<dyn Backend>,
    config: AssignmentConfig,
    me: String,
    addr: (String, u16),
    tx: watch::Sender<Members>,
    failing_for: impl Fn() -> Option<Duration> + Send,
    stop: CancellationToken,
) {
    let ttl = Duration::from_secs(config.lease_ttl_secs);
    let renew_every = ttl / 3;
    let service = config.service_name();
    let mut lease: Option<Lease> = None;
    let mut renew = tokio::time::interval(renew_every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval(Duration::from_millis(config.poll_ms));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = renew.tick() => {
                if unfit(failing_for(), ttl) {
                    if lease.take().is_some() {
                        tracing::warn!(member = %me, "publishing has failed for a whole lease TTL; leaving the collector group so others carry the instruments");
                        if let Err(e) = backend.deregister(&service, &me).await {
                            tracing::warn!(error = %e, "could not remove the assignment lease (it expires after its TTL)");
                        }
                    }
                } else {
                    lease = keep_lease(&*backend, &config, &me, &addr, ttl, lease).await;
                }
            }
            _ = poll.tick() => match backend.list(&service).await {
                Ok(list) => publish(&tx, list),
                Err(e) => tracing::warn!(error = %e, "cannot read the collector group; keeping the last member list"),
            },
        }
    }
    if let Err(e) = backend.deregister(&service, &me).await {
        tracing::warn!(error = %e, "could not remove the assignment lease (it expires after its TTL)");
    }
}

/// True when publishing has been failing for at least `ttl`: the lease must not be renewed.
fn unfit(failing_for: Option<Duration>, ttl: Duration) -> bool {
    failing_for.is_some_and(|d| d >= ttl)
}

/// Renews (and re-stamps) the lease, or registers anew when there is none or it expired.
async fn keep_lease(
    backend: &dyn Backend,
    config: &AssignmentConfig,
    me: &str,
    addr: &(String, u16),
    ttl: Duration,
    lease: Option<Lease>,
) -> Option<Lease> {
    let instance = match record(config, me, &addr.0, addr.1) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "invalid assignment record");
            return lease;
        }
    };
    if let Some(l) = lease {
        // Renew first: it is what keeps the record; the stamp is best effort.
        match backend.renew(&l).await {
            Ok(()) => {
                if let Err(e) = backend.update(&l, &instance).await {
                    tracing::debug!(error = %e, "could not stamp the assignment lease");
                }
                return Some(l);
            }
            Err(DiscoveryError::NotFound { .. }) => {
                tracing::warn!("assignment lease expired; registering again");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the assignment lease");
                return Some(l);
            }
        }
    }
    match backend.register(&instance, ttl).await {
        Ok(l) => {
            tracing::info!(member = %me, group = %config.group, "joined the collector group");
            Some(l)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot register in the collector group; retrying");
            None
        }
    }
}

fn publish(tx: &watch::Sender<Members>, list: Vec<ServiceInstance>) {
    tx.send_if_modified(|m| {
        let now = now_ms();
        let ids: BTreeSet<String> = list.iter().map(|i| i.id.clone()).collect();
        for i in &list {
            let alive = i
                .metadata
                .get("alive_ms")
                .and_then(serde_json::Value::as_i64);
            m.last_seen_ms.insert(i.id.clone(), alive.unwrap_or(now));
        }
        m.last_seen_ms
            .retain(|id, seen| ids.contains(id) || now - *seen < FORGET_AFTER_MS);
        if ids == m.ids {
            false
        } else {
            m.ids = ids;
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_that_cannot_publish_for_a_ttl_gives_its_lease_up() {
        let ttl = Duration::from_secs(3);
        assert!(!unfit(None, ttl));
        assert!(!unfit(Some(Duration::from_millis(2999)), ttl));
        assert!(unfit(Some(ttl), ttl));
    }
}
