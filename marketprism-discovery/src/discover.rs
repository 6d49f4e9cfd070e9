//! Discovery side of the [`Registry`]: lookups with a last-known cache, watches with periodic
//! reconciliation (cleanup of expired instances), weighted round-robin.

use std::{collections::HashMap, sync::Weak, time::Duration};

use futures::StreamExt;

use crate::{
    backend::{RemovalReason, WatchEvent, by_id},
    error::{DiscoveryError, Result},
    events::RegistryEvent,
    instance::{InstanceStatus, ServiceInstance},
    metrics,
    registry::{Inner, Registry, lock},
};

/// The answer of [`Registry::discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// Service name.
    pub service: String,
    /// Every known instance, each with its *effective* status (declared status, demoted to
    /// unhealthy by a failing health check), sorted by id.
    pub instances: Vec<ServiceInstance>,
    /// True when the backend could not be reached and these are the last known instances.
    pub stale: bool,
}

impl Discovery {
    /// The instances traffic may go to.
    pub fn healthy(&self) -> Vec<&ServiceInstance> {
        self.instances.iter().filter(|i| i.is_routable()).collect()
    }
}

impl Registry {
    /// The instances of `service`. Watched services answer from the watch; others ask the
    /// backend (with retries). When the backend fails and the service was seen before, the
    /// last known instances are returned with `stale: true` (and a
    /// [`RegistryEvent::Stale`]); never seen before, the error is returned.
    pub async fn discover(&self, service: &str) -> Result<Discovery> {
        let inner = &self.inner;
        self.ensure_health_checks();
        let fresh_watch = {
            let cache = lock(&inner.cache);
            cache
                .get(service)
                .filter(|c| c.watched && c.listed_once && !c.stale)
                .is_some()
        };
        if !fresh_watch {
            match inner.cfg.retry.run(|| inner.backend.list(service)).await {
                Ok(list) => inner.apply_listing(service, by_id(list), RemovalReason::Unknown),
                Err(e) => {
                    let known = lock(&inner.cache)
                        .get(service)
                        .is_some_and(|c| c.listed_once);
                    if !known {
                        metrics::discovery(service, "error");
                        return Err(e);
                    }
                    inner.mark_stale(service, &e);
                }
            }
        }
        let d = inner.snapshot(service);
        metrics::discovery(service, if d.stale { "stale" } else { "ok" });
        Ok(d)
    }

    /// `scheme://host:port` of a healthy instance of `service`, chosen by the registry's
    /// balancing strategy (default smooth weighted round-robin: weights 3 and 1 give 3 picks
    /// of the first for each of the second).
    pub async fn get_service_url(&self, service: &str) -> Result<String> {
        Ok(self.pick(service).await?.base_url())
    }

    /// A healthy instance of `service` and a guard counting one request to it as in flight
    /// until dropped (what [`Strategy::LeastConnections`](marketprism_core::balance::Strategy)
    /// balances on). Hold the guard while the request runs.
    pub async fn pick_tracked(
        &self,
        service: &str,
    ) -> Result<(ServiceInstance, marketprism_core::balance::InFlight)> {
        let instance = self.pick(service).await?;
        let guard = self.inner.balancer.start(service, &instance.id);
        Ok((instance, guard))
    }

    /// A healthy instance of `service`, chosen by the registry's balancing strategy.
    pub async fn pick(&self, service: &str) -> Result<ServiceInstance> {
        let d = self.discover(service).await?;
        let healthy: Vec<ServiceInstance> = d.healthy().into_iter().cloned().collect();
        // Weight 0 still counts as 1 here: a registered, healthy instance is eligible.
        self.inner
            .balancer
            .pick_by(service, &healthy, |c| (c.id.as_str(), c.weight.max(1)))
            .and_then(|i| healthy.get(i).cloned())
            .ok_or_else(|| DiscoveryError::NoHealthyInstance {
                service: service.to_owned(),
            })
    }

    /// Names of services with live instances (asks the backend).
    pub async fn services(&self) -> Result<Vec<String>> {
        let inner = &self.inner;
        inner.cfg.retry.run(|| inner.backend.services()).await
    }

    /// Follows `service` in the background: a backend watch, plus a full listing every
    /// `cleanup_interval` that catches removals the watch did not report (NATS bucket-TTL
    /// expiry, lost pub/sub messages) and reports them as expired. Events go to handlers and
    /// subscribers; `discover` then answers from memory. Idempotent.
    pub async fn watch_service(&self, service: &str) -> Result<()> {
        crate::instance::validate_name("service name", service)?;
        self.ensure_health_checks();
        {
            let mut cache = lock(&self.inner.cache);
            let entry = cache.entry(service.to_owned()).or_default();
            if entry.watched {
                return Ok(());
            }
            entry.watched = true;
        }
        let task = tokio::spawn(watch_loop(
            std::sync::Arc::downgrade(&self.inner),
            service.to_owned(),
        ));
        lock(&self.inner.tasks).push(task);
        Ok(())
    }
}

impl Inner {
    /// The effective status: a declared non-healthy status wins; else the health check's.
    pub(crate) fn effective(&self, i: &ServiceInstance) -> InstanceStatus {
        if i.status != InstanceStatus::Healthy {
            return i.status;
        }
        lock(&self.observed)
            .get(&(i.service.clone(), i.id.clone()))
            .copied()
            .unwrap_or(InstanceStatus::Healthy)
    }

    pub(crate) fn snapshot(&self, service: &str) -> Discovery {
        let (mut instances, stale) = {
            let cache = lock(&self.cache);
            match cache.get(service) {
                Some(c) => (c.instances.values().cloned().collect::<Vec<_>>(), c.stale),
                None => (Vec::new(), false),
            }
        };
        for i in &mut instances {
            i.status = self.effective(i);
        }
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        Discovery {
            service: service.to_owned(),
            instances,
            stale,
        }
    }

    pub(crate) fn update_gauge(&self, service: &str) {
        let n = self.snapshot(service).healthy().len();
        metrics::instances_active(service, n);
    }

    /// Replaces the cached listing, emitting the differences.
    pub(crate) fn apply_listing(
        &self,
        service: &str,
        now: HashMap<String, ServiceInstance>,
        gone: RemovalReason,
    ) {
        let old = {
            let mut cache = lock(&self.cache);
            let c = cache.entry(service.to_owned()).or_default();
            c.listed_once = true;
            let was_stale = std::mem::replace(&mut c.stale, false);
            if was_stale {
                tracing::info!(%service, "discovery backend reachable again");
            }
            c.instances.clone()
        };
        for ev in crate::backend::diff_listings(&old, &now, gone) {
            self.apply_event(service, ev);
        }
    }

    /// Applies one change to the cache and emits the matching registry event.
    pub(crate) fn apply_event(&self, service: &str, ev: WatchEvent) {
        match ev {
            WatchEvent::Put(i) => {
                let old = lock(&self.cache)
                    .entry(service.to_owned())
                    .or_default()
                    .instances
                    .insert(i.id.clone(), i.clone());
                match old {
                    None => self.emit(RegistryEvent::Registered(i)),
                    Some(o) if o.status != i.status => self.emit(RegistryEvent::StatusChanged {
                        service: i.service.clone(),
                        id: i.id.clone(),
                        old: o.status,
                        new: i.status,
                    }),
                    Some(_) => {}
                }
            }
            WatchEvent::Removed {
                service: s,
                id,
                reason,
            } => {
                let removed = lock(&self.cache)
                    .get_mut(service)
                    .and_then(|c| c.instances.remove(&id));
                lock(&self.observed).remove(&(s.clone(), id.clone()));
                if removed.is_some() {
                    self.emit(match reason {
                        RemovalReason::Deregistered => {
                            RegistryEvent::Deregistered { service: s, id }
                        }
                        RemovalReason::Expired | RemovalReason::Unknown => {
                            RegistryEvent::Expired { service: s, id }
                        }
                    });
                }
            }
        }
        self.update_gauge(service);
    }

    pub(crate) fn mark_stale(&self, service: &str, error: &DiscoveryError) {
        let newly = {
            let mut cache = lock(&self.cache);
            let c = cache.entry(service.to_owned()).or_default();
            !std::mem::replace(&mut c.stale, true)
        };
        if newly {
            tracing::warn!(%service, %error, "discovery backend failing: serving last known instances (stale)");
            self.emit(RegistryEvent::Stale {
                service: service.to_owned(),
                error: error.to_string(),
            });
        }
    }
}

/// Watch + periodic reconciliation of one service, re-established with backoff on failure.
async fn watch_loop(weak: Weak<Inner>, service: String) {
    let mut failures = 0u32;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let backend = inner.backend.clone();
        let retry = inner.cfg.retry;
        let cleanup = inner.cfg.cleanup_interval;
        drop(inner);
        let started = match backend.watch(&service).await {
            Ok(stream) => match backend.list(&service).await {
                Ok(list) => Ok((stream, list)),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (mut stream, list) = match started {
            Ok(s) => s,
            Err(e) => {
                if let Some(inner) = weak.upgrade() {
                    inner.mark_stale(&service, &e);
                }
                failures = failures.saturating_add(1);
                tokio::time::sleep(retry.backoff(failures)).await;
                continue;
            }
        };
        failures = 0;
        match weak.upgrade() {
            Some(inner) => inner.apply_listing(&service, by_id(list), RemovalReason::Expired),
            None => return,
        }
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + cleanup, cleanup);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = stream.next() => {
                    let Some(inner) = weak.upgrade() else { return };
                    match ev {
                        Some(Ok(ev)) => inner.apply_event(&service, ev),
                        Some(Err(e)) => {
                            tracing::warn!(%service, error = %e, "watch interrupted; re-listing");
                            if !e.is_retryable() || matches!(e, DiscoveryError::Unavailable { .. }) {
                                inner.mark_stale(&service, &e);
                            }
                            break;
                        }
                        None => break,
                    }
                }
                _ = tick.tick() => {
                    let Some(inner) = weak.upgrade() else { return };
                    match backend.list(&service).await {
                        Ok(list) => inner.apply_listing(&service, by_id(list), RemovalReason::Expired),
                        Err(e) => inner.mark_stale(&service, &e),
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
