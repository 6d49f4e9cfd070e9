//! The registry/client: register myself with heartbeat renewals, deregister on shutdown,
//! discover (with stale last-known instances when the backend fails), weighted round-robin
//! `get_service_url`, active health checks, events, cleanup of expired instances.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{StreamExt, stream::BoxStream};
use tokio::{sync::broadcast, task::JoinHandle};

use crate::{
    backend::{Backend, Lease},
    error::{DiscoveryError, Result},
    events::{EventHandler, RegistryEvent},
    factory::backend_from_url,
    instance::{InstanceStatus, ServiceInstance},
    metrics,
    retry::RetryPolicy,
};

pub(crate) type Key = (String, String);

/// Locks a std mutex; every critical section here is a plain map update, so a poisoned lock
/// is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registry settings; see [`RegistryBuilder`] for defaults.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) ttl: Duration,
    pub(crate) renew_interval: Duration,
    pub(crate) health_check_interval: Option<Duration>,
    pub(crate) health_check_timeout: Duration,
    pub(crate) cleanup_interval: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) event_capacity: usize,
    pub(crate) balance: marketprism_core::balance::Strategy,
}

/// A discovery client over one [`Backend`]. Cheap to clone; background tasks (renewals,
/// watchers, health checks) stop when the last clone is dropped — without deregistering, so
/// the instances then expire after their TTL, exactly as if the process had been killed. Call
/// [`shutdown`](Registry::shutdown) for a clean exit.
///
/// ```
/// use std::time::Duration;
/// use marketprism_discovery::{Registry, ServiceInstance};
///
/// # #[tokio::main] async fn main() -> marketprism_discovery::Result<()> {
/// let registry = Registry::builder(marketprism_discovery::backend_from_url("memory://doc").await?)
///     .ttl(Duration::from_secs(10))
///     .build();
/// let me = ServiceInstance::builder("data-storage-service", "127.0.0.1", 8082).weight(2).build()?;
/// registry.register(me).await?;
/// let url = registry.get_service_url("data-storage-service").await?;
/// assert_eq!(url, "http://127.0.0.1:8082");
/// registry.shutdown().await?;
/// assert!(registry.discover("data-storage-service").await?.instances.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("backend", &self.inner.backend.name())
            .field("config", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) cfg: Config,
    own: Mutex<HashMap<Key, Own>>,
    pub(crate) cache: Mutex<HashMap<String, Cached>>,
    pub(crate) observed: Mutex<HashMap<Key, InstanceStatus>>,
    pub(crate) balancer: marketprism_core::balance::Balancer,
    events: broadcast::Sender<RegistryEvent>,
    handlers: Mutex<Vec<EventHandler>>,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) health_started: AtomicBool,
    pub(crate) http: Option<reqwest::Client>,
}

struct Own {
    instance: ServiceInstance,
    lease: Option<Lease>,
    renewer: JoinHandle<()>,
}

/// Last known instances of a service.
#[derive(Debug, Default)]
pub(crate) struct Cached {
    pub(crate) instances: HashMap<String, ServiceInstance>,
    pub(crate) stale: bool,
    pub(crate) watched: bool,
    pub(crate) listed_once: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
        for (_, own) in lock(&self.own).drain() {
            own.renewer.abort();
        }
    }
}

/// Builder for [`Registry`].
///
/// ```
/// use std::time::Duration;
/// use marketprism_discovery::{MemoryBackend, Registry, RetryPolicy};
/// let registry = Registry::builder(std::sync::Arc::new(MemoryBackend::new()))
///     .ttl(Duration::from_secs(15))               // record lifetime without renewal
///     .renew_interval(Duration::from_secs(5))     // default ttl / 3
///     .health_check_interval(Some(Duration::from_secs(10)))
///     .cleanup_interval(Duration::from_secs(5))   // watched services re-listed this often
///     .retry(RetryPolicy::default().max_attempts(4))
///     .build();
/// # let _ = registry;
/// ```
#[derive(Debug)]
pub struct RegistryBuilder {
    backend: Arc<dyn Backend>,
    cfg: Config,
    renew_set: bool,
}

impl RegistryBuilder {
    /// TTL of our registrations (default 30 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.cfg.ttl = ttl;
        self
    }
    /// Heartbeat period (default `ttl / 3`, so two renewals may fail before expiry).
    pub fn renew_interval(mut self, every: Duration) -> Self {
        self.cfg.renew_interval = every;
        self.renew_set = true;
        self
    }
    /// Active HTTP health checks of discovered instances (default every 30 s; `None`: off).
    pub fn health_check_interval(mut self, every: Option<Duration>) -> Self {
        self.cfg.health_check_interval = every;
        self
    }
    /// Timeout of one health check (default 5 s).
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.health_check_timeout = timeout;
        self
    }
    /// How often watched services are listed again to catch removals a watch missed
    /// (default 10 s).
    pub fn cleanup_interval(mut self, every: Duration) -> Self {
        self.cfg.cleanup_interval = every;
        self
    }
    /// Retries of backend calls (default 3 attempts, 100 ms doubling to 5 s, jittered).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.cfg.retry = policy;
        self
    }
    /// How [`pick`](Registry::pick) and [`get_service_url`](Registry::get_service_url) choose
    /// among healthy instances (default weighted round-robin; see
    /// [`Strategy`](marketprism_core::balance::Strategy)). With least-connections, take
    /// instances with [`pick_tracked`](Registry::pick_tracked) so requests are counted.
    pub fn balance(mut self, strategy: marketprism_core::balance::Strategy) -> Self {
        self.cfg.balance = strategy;
        self
    }
    /// Capacity of the event channel (default 1024; slow subscribers lose events).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.cfg.event_capacity = capacity.max(1);
        self
    }

    /// Builds the registry. Background tasks start on first use, on the current runtime.
    pub fn build(self) -> Registry {
        let mut cfg = self.cfg;
        if !self.renew_set {
            cfg.renew_interval = cfg.ttl / 3;
        }
        cfg.renew_interval = cfg.renew_interval.max(Duration::from_millis(10));
        metrics::describe();
        let (events, _) = broadcast::channel(cfg.event_capacity);
        let http = crate::http_client_builder()
            .timeout(cfg.health_check_timeout)
            .build()
            .inspect_err(|e| tracing::warn!(error = %e, "no HTTP client: health checks disabled"))
            .ok();
        let balance = cfg.balance;
        Registry {
            inner: Arc::new(Inner {
                backend: self.backend,
                cfg,
                own: Mutex::new(HashMap::new()),
                cache: Mutex::new(HashMap::new()),
                observed: Mutex::new(HashMap::new()),
                balancer: marketprism_core::balance::Balancer::with_strategy(balance),
                events,
                handlers: Mutex::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
                health_started: AtomicBool::new(false),
                http,
            }),
        }
    }
}

impl Registry {
    /// Starts building a registry over `backend`.
    pub fn builder(backend: Arc<dyn Backend>) -> RegistryBuilder {
        RegistryBuilder {
            backend,
            cfg: Config {
                ttl: Duration::from_secs(30),
                renew_interval: Duration::from_secs(10),
                health_check_interval: Some(Duration::from_secs(30)),
                health_check_timeout: Duration::from_secs(5),
                cleanup_interval: Duration::from_secs(10),
                retry: RetryPolicy::default(),
                event_capacity: 1024,
                balance: marketprism_core::balance::Strategy::WeightedRoundRobin,
            },
            renew_set: false,
        }
    }

    /// A registry with default settings over the backend for `url` (see
    /// [`backend_from_url`]).
    pub async fn from_url(url: &str) -> Result<Registry> {
        Ok(Self::builder(backend_from_url(url).await?).build())
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// Registers `instance` and keeps it alive with renewals every `renew_interval` until
    /// [`deregister`](Self::deregister) or [`shutdown`](Self::shutdown). If a renewal finds
    /// the record gone (expired during an outage), it registers again.
    pub async fn register(&self, instance: ServiceInstance) -> Result<ServiceInstance> {
        instance.validate()?;
        let inner = &self.inner;
        let lease = inner
            .cfg
            .retry
            .run(|| inner.backend.register(&instance, inner.cfg.ttl))
            .await?;
        metrics::registration(&instance.service, inner.backend.name());
        let key = (instance.service.clone(), instance.id.clone());
        let renewer = tokio::spawn(renew_loop(Arc::downgrade(inner), key.clone()));
        let previous = lock(&inner.own).insert(
            key,
            Own {
                instance: instance.clone(),
                lease: Some(lease),
                renewer,
            },
        );
        if let Some(p) = previous {
            p.renewer.abort();
        }
        inner.emit(RegistryEvent::Registered(instance.clone()));
        Ok(instance)
    }

    /// Our registered instances.
    pub fn registered(&self) -> Vec<ServiceInstance> {
        lock(&self.inner.own)
            .values()
            .map(|o| o.instance.clone())
            .collect()
    }

    /// Changes the declared status of one of our instances (e.g. `Maintenance` before a
    /// drain).
    pub async fn set_status(&self, service: &str, id: &str, status: InstanceStatus) -> Result<()> {
        let inner = &self.inner;
        let key = (service.to_owned(), id.to_owned());
        let (old, lease) = {
            let own = lock(&inner.own);
            let o = own
                .get(&key)
                .ok_or_else(|| DiscoveryError::not_found(service, id))?;
            (o.instance.clone(), o.lease.clone())
        };
        let new = old.with_status(status);
        let result = match &lease {
            Some(l) => inner.cfg.retry.run(|| inner.backend.update(l, &new)).await,
            None => Err(DiscoveryError::not_found(service, id)),
        };
        let lease = match result {
            Ok(()) => lease,
            Err(DiscoveryError::NotFound { .. }) => Some(
                inner
                    .cfg
                    .retry
                    .run(|| inner.backend.register(&new, inner.cfg.ttl))
                    .await?,
            ),
            Err(e) => return Err(e),
        };
        if let Some(o) = lock(&inner.own).get_mut(&key) {
            o.instance = new.clone();
            o.lease = lease;
        }
        if old.status != status {
            inner.emit(RegistryEvent::StatusChanged {
                service: service.to_owned(),
                id: id.to_owned(),
                old: old.status,
                new: status,
            });
        }
        Ok(())
    }

    /// Stops renewing one of our instances and removes it from the backend.
    pub async fn deregister(&self, service: &str, id: &str) -> Result<()> {
        let inner = &self.inner;
        if let Some(o) = lock(&inner.own).remove(&(service.to_owned(), id.to_owned())) {
            o.renewer.abort();
        }
        inner
            .cfg
            .retry
            .run(|| inner.backend.deregister(service, id))
            .await?;
        inner.emit(RegistryEvent::Deregistered {
            service: service.to_owned(),
            id: id.to_owned(),
        });
        Ok(())
    }

    /// Deregisters all our instances and stops background tasks. Returns the first failure
    /// (the other instances are still deregistered).
    pub async fn shutdown(&self) -> Result<()> {
        let keys: Vec<Key> = lock(&self.inner.own).keys().cloned().collect();
        let mut first_err = None;
        for (service, id) in keys {
            if let Err(e) = self.deregister(&service, &id).await {
                tracing::warn!(%service, %id, error = %e, "deregistration failed at shutdown");
                first_err.get_or_insert(e);
            }
        }
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        self.inner.health_started.store(false, Ordering::SeqCst);
        first_err.map_or(Ok(()), Err)
    }

    /// Calls `handler` with every event (on the task producing it; keep it quick).
    pub fn on_event(&self, handler: impl Fn(&RegistryEvent) + Send + Sync + 'static) {
        lock(&self.inner.handlers).push(Arc::new(handler));
    }

    /// A stream of events from now on. A subscriber that falls more than the event capacity
    /// behind skips the events it missed.
    pub fn subscribe(&self) -> BoxStream<'static, RegistryEvent> {
        tokio_stream::wrappers::BroadcastStream::new(self.inner.events.subscribe())
            .filter_map(|r| async move { r.ok() })
            .boxed()
    }
}

impl Inner {
    pub(crate) fn emit(&self, event: RegistryEvent) {
        tracing::debug!(
            kind = event.kind(),
            service = event.service(),
            "discovery event"
        );
        let handlers: Vec<EventHandler> = lock(&self.handlers).clone();
        for h in handlers {
            h(&event);
        }
        let _ = self.events.send(event);
    }
}

/// Heartbeats for one of our instances; ends when it is deregistered or the registry dropped.
async fn renew_loop(weak: Weak<Inner>, key: Key) {
    let Some(every) = weak.upgrade().map(|i| i.cfg.renew_interval) else {
        return;
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let Some((instance, lease)) = lock(&inner.own)
            .get(&key)
            .map(|o| (o.instance.clone(), o.lease.clone()))
        else {
            return;
        };
        let outcome = match &lease {
            Some(l) => inner.backend.renew(l).await,
            None => Err(DiscoveryError::not_found(&key.0, &key.1)),
        };
        match outcome {
            Ok(()) => {}
            Err(DiscoveryError::NotFound { .. }) => {
                tracing::warn!(service = %key.0, id = %key.1, "registration lost; registering again");
                match inner.backend.register(&instance, inner.cfg.ttl).await {
                    Ok(new_lease) => {
                        metrics::registration(&key.0, inner.backend.name());
                        if let Some(o) = lock(&inner.own).get_mut(&key) {
                            o.lease = Some(new_lease);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(service = %key.0, error = %e, "re-registration failed")
                    }
                }
            }
            Err(e) => tracing::warn!(service = %key.0, id = %key.1, error = %e, "renewal failed"),
        }
    }
}
