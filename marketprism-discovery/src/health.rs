//! Active HTTP health checks: every `health_check_interval`, each known instance with a
//! `health_check_url` whose declared status is healthy is probed with a GET; a 2xx answer
//! within `health_check_timeout` keeps it healthy, anything else marks it unhealthy *in this
//! registry's view* (its record, owned by its registrant, is not rewritten). Transitions emit
//! [`RegistryEvent::StatusChanged`](crate::RegistryEvent::StatusChanged).

use std::{sync::Weak, sync::atomic::Ordering};

use crate::{
    error::{DiscoveryError, Result},
    events::RegistryEvent,
    instance::{InstanceStatus, ServiceInstance},
    metrics,
    registry::{Inner, Registry, lock},
};

impl Registry {
    /// Starts the periodic health checks if configured and not running.
    pub(crate) fn ensure_health_checks(&self) {
        let Some(every) = self.inner.cfg.health_check_interval else {
            return;
        };
        if self.inner.http.is_none() || self.inner.health_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = std::sync::Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if !check_all(&weak).await {
                    return;
                }
            }
        });
        lock(&self.inner.tasks).push(task);
    }

    /// Probes one known instance now and records the verdict.
    pub async fn check_health(&self, service: &str, id: &str) -> Result<InstanceStatus> {
        let inst = lock(&self.inner.cache)
            .get(service)
            .and_then(|c| c.instances.get(id).cloned())
            .ok_or_else(|| DiscoveryError::not_found(service, id))?;
        let healthy = self.inner.probe(&inst).await;
        self.inner.record(&inst, healthy);
        Ok(self.inner.effective(&inst))
    }
}

/// One round over every known instance; false when the registry is gone.
async fn check_all(weak: &Weak<Inner>) -> bool {
    let Some(inner) = weak.upgrade() else {
        return false;
    };
    let targets: Vec<ServiceInstance> = lock(&inner.cache)
        .values()
        .flat_map(|c| c.instances.values())
        .filter(|i| i.health_check_url.is_some() && i.status == InstanceStatus::Healthy)
        .cloned()
        .collect();
    let probes = targets.iter().map(|i| {
        let inner = &inner;
        async move { (i, inner.probe(i).await) }
    });
    for (inst, healthy) in futures::future::join_all(probes).await {
        inner.record(inst, healthy);
    }
    true
}

impl Inner {
    async fn probe(&self, inst: &ServiceInstance) -> bool {
        let (Some(http), Some(url)) = (&self.http, &inst.health_check_url) else {
            return true;
        };
        let healthy = match http.get(url).send().await {
            Ok(resp) => resp.status().is_success(),
            Err(e) => {
                tracing::debug!(service = %inst.service, id = %inst.id, error = %e, "health check failed");
                false
            }
        };
        metrics::health_check(&inst.service, healthy);
        healthy
    }

    fn record(&self, inst: &ServiceInstance, healthy: bool) {
        let before = self.effective(inst);
        let verdict = if healthy {
            InstanceStatus::Healthy
        } else {
            InstanceStatus::Unhealthy
        };
        lock(&self.observed).insert((inst.service.clone(), inst.id.clone()), verdict);
        let after = self.effective(inst);
        if before != after {
            self.emit(RegistryEvent::StatusChanged {
                service: inst.service.clone(),
                id: inst.id.clone(),
                old: before,
                new: after,
            });
            self.update_gauge(&inst.service);
        }
    }
}
