//! In-process backend: `memory://` (the process-wide store), `memory://<name>` (a named
//! process-wide store) or [`MemoryBackend::new`] (a private store).
//!
//! Registries in one process that use the same `memory://` URL see each other — this is how
//! the all-in-one `marketprism` binary discovers its six services with no server. TTLs are
//! enforced lazily on every call and by a 100 ms sweep inside each watch stream, so no
//! background task is needed (and none outlives a tokio runtime).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, OnceLock, Weak},
    time::Duration,
};

use async_trait::async_trait;
use tokio::{sync::broadcast, time::Instant};

use crate::{
    backend::{Backend, Lease, RemovalReason, WatchEvent, WatchStream, check_lease_matches},
    error::{DiscoveryError, Result},
    instance::ServiceInstance,
};

const EVENT_CAPACITY: usize = 1024;
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The in-memory backend. Cloning shares the store.
///
/// ```
/// use std::time::Duration;
/// use marketprism_discovery::{Backend, MemoryBackend, ServiceInstance};
///
/// # #[tokio::main] async fn main() -> marketprism_discovery::Result<()> {
/// let backend = MemoryBackend::new();
/// let inst = ServiceInstance::builder("svc", "127.0.0.1", 9000).id("a").build()?;
/// let lease = backend.register(&inst, Duration::from_secs(5)).await?;
/// assert_eq!(backend.list("svc").await?.len(), 1);
/// backend.deregister(&lease.service, &lease.id).await?;
/// assert!(backend.list("svc").await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    services: Mutex<HashMap<String, HashMap<String, Entry>>>,
    events: broadcast::Sender<WatchEvent>,
}

#[derive(Debug)]
struct Entry {
    instance: ServiceInstance,
    ttl: Duration,
    expires: Instant,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// A new private store.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                services: Mutex::new(HashMap::new()),
                events,
            }),
        }
    }

    /// The process-wide store called `name` (`""` for `memory://`), created on first use.
    pub fn shared(name: &str) -> Self {
        static STORES: OnceLock<Mutex<HashMap<String, MemoryBackend>>> = OnceLock::new();
        let stores = STORES.get_or_init(|| Mutex::new(HashMap::new()));
        let mut stores = stores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        stores.entry(name.to_owned()).or_default().clone()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Entry>>> {
        self.inner.lock()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<String, Entry>>> {
        // A panic while holding the lock cannot leave the maps half-updated (every update is a
        // single insert/remove), so a poisoned lock is still consistent.
        self.services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes expired entries and announces them.
    fn sweep(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut services = self.lock();
            for (service, instances) in services.iter_mut() {
                instances.retain(|id, e| {
                    let alive = e.expires > now;
                    if !alive {
                        expired.push((service.clone(), id.clone()));
                    }
                    alive
                });
            }
            services.retain(|_, instances| !instances.is_empty());
        }
        for (service, id) in expired {
            let _ = self.events.send(WatchEvent::Removed {
                service,
                id,
                reason: RemovalReason::Expired,
            });
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn register(&self, instance: &ServiceInstance, ttl: Duration) -> Result<Lease> {
        instance.validate()?;
        self.inner.sweep();
        self.lock()
            .entry(instance.service.clone())
            .or_default()
            .insert(
                instance.id.clone(),
                Entry {
                    instance: instance.clone(),
                    ttl,
                    expires: Instant::now() + ttl,
                },
            );
        let _ = self.inner.events.send(WatchEvent::Put(instance.clone()));
        Ok(Lease {
            service: instance.service.clone(),
            id: instance.id.clone(),
            ttl,
            token: 0,
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<()> {
        self.inner.sweep();
        let mut services = self.lock();
        let entry = services
            .get_mut(&lease.service)
            .and_then(|m| m.get_mut(&lease.id))
            .ok_or_else(|| DiscoveryError::not_found(&lease.service, &lease.id))?;
        entry.expires = Instant::now() + entry.ttl;
        Ok(())
    }

    async fn update(&self, lease: &Lease, instance: &ServiceInstance) -> Result<()> {
        check_lease_matches(lease, instance)?;
        self.inner.sweep();
        {
            let mut services = self.lock();
            let entry = services
                .get_mut(&lease.service)
                .and_then(|m| m.get_mut(&lease.id))
                .ok_or_else(|| DiscoveryError::not_found(&lease.service, &lease.id))?;
            entry.instance = instance.clone();
        }
        let _ = self.inner.events.send(WatchEvent::Put(instance.clone()));
        Ok(())
    }

    async fn deregister(&self, service: &str, id: &str) -> Result<()> {
        self.inner.sweep();
        let removed = {
            let mut services = self.lock();
            let removed = services.get_mut(service).and_then(|m| m.remove(id));
            if services.get(service).is_some_and(HashMap::is_empty) {
                services.remove(service);
            }
            removed
        };
        if removed.is_some() {
            let _ = self.inner.events.send(WatchEvent::Removed {
                service: service.to_owned(),
                id: id.to_owned(),
                reason: RemovalReason::Deregistered,
            });
        }
        Ok(())
    }

    async fn list(&self, service: &str) -> Result<Vec<ServiceInstance>> {
        self.inner.sweep();
        Ok(self
            .lock()
            .get(service)
            .map(|m| m.values().map(|e| e.instance.clone()).collect())
            .unwrap_or_default())
    }

    async fn services(&self) -> Result<Vec<String>> {
        self.inner.sweep();
        Ok(self.lock().keys().cloned().collect())
    }

    async fn watch(&self, service: &str) -> Result<WatchStream> {
        struct State {
            rx: broadcast::Receiver<WatchEvent>,
            inner: Weak<Inner>,
            tick: tokio::time::Interval,
            service: String,
        }
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let state = State {
            rx: self.inner.events.subscribe(),
            inner: Arc::downgrade(&self.inner),
            tick,
            service: service.to_owned(),
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            loop {
                tokio::select! {
                    ev = st.rx.recv() => match ev {
                        Ok(WatchEvent::Put(i)) if i.service == st.service => {
                            return Some((Ok(WatchEvent::Put(i)), st));
                        }
                        Ok(ev @ WatchEvent::Removed { .. }) => {
                            if matches!(&ev, WatchEvent::Removed { service, .. } if *service == st.service) {
                                return Some((Ok(ev), st));
                            }
                        }
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            return Some((Err(DiscoveryError::Lagged { missed }), st));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = st.tick.tick() => match st.inner.upgrade() {
                        Some(inner) => inner.sweep(),
                        None => return None,
                    },
                }
            }
        });
        Ok(Box::pin(stream))
    }
}
