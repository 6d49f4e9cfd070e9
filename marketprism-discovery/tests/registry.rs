//! The Registry over the memory backend (and a failing wrapper for outage behaviour).
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use futures::StreamExt;
use marketprism_discovery::{
    Backend, DiscoveryError, InstanceStatus, Lease, MemoryBackend, Registry, RegistryEvent,
    RetryPolicy, ServiceInstance, WatchStream,
};

fn inst(service: &str, id: &str, port: u16, weight: u32) -> ServiceInstance {
    ServiceInstance::builder(service, "127.0.0.1", port)
        .id(id)
        .weight(weight)
        .build()
        .unwrap()
}

fn fast(backend: Arc<dyn Backend>) -> Registry {
    Registry::builder(backend)
        .ttl(Duration::from_millis(900))
        .renew_interval(Duration::from_millis(200))
        .cleanup_interval(Duration::from_millis(300))
        .health_check_interval(None)
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(10)))
        .build()
}

async fn next_matching(
    events: &mut futures::stream::BoxStream<'static, RegistryEvent>,
    want: impl Fn(&RegistryEvent) -> bool,
) -> RegistryEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("event within 5 s")
            .expect("stream open");
        if want(&ev) {
            return ev;
        }
    }
}

#[tokio::test]
async fn renewals_keep_us_registered_and_shutdown_deregisters() {
    let store = Arc::new(MemoryBackend::new());
    let registry = fast(store.clone());
    let mut events = registry.subscribe();
    registry.register(inst("svc", "a", 1, 1)).await.unwrap();
    next_matching(
        &mut events,
        |e| matches!(e, RegistryEvent::Registered(i) if i.id == "a"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // ~3 TTLs
    assert_eq!(store.list("svc").await.unwrap().len(), 1, "renewals failed");
    registry.shutdown().await.unwrap();
    next_matching(
        &mut events,
        |e| matches!(e, RegistryEvent::Deregistered { id, .. } if id == "a"),
    )
    .await;
    assert!(store.list("svc").await.unwrap().is_empty());
}

#[tokio::test]
async fn dropping_the_registry_lets_the_instance_expire() {
    // The in-process equivalent of killing the process: renewals stop, nothing deregisters.
    let store = Arc::new(MemoryBackend::new());
    let registry = fast(store.clone());
    registry.register(inst("svc", "a", 1, 1)).await.unwrap();
    drop(registry);
    assert_eq!(store.list("svc").await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(store.list("svc").await.unwrap().is_empty());
}

/// The other strategies through a registry: least-connections avoids an instance whose
/// requests (held `pick_tracked` guards) are still running; random follows the weights.
#[tokio::test]
async fn least_connections_and_random_strategies() {
    use marketprism_core::balance::Strategy;
    let store: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let registry = Registry::builder(store.clone())
        .health_check_interval(None)
        .balance(Strategy::LeastConnections)
        .build();
    registry.register(inst("lc", "a", 1001, 1)).await.unwrap();
    registry.register(inst("lc", "b", 1002, 1)).await.unwrap();
    let (first, held) = registry.pick_tracked("lc").await.unwrap();
    // While `first` works on its request, every new request goes to the other one.
    for _ in 0..5 {
        let (next, guard) = registry.pick_tracked("lc").await.unwrap();
        assert_ne!(next.id, first.id);
        drop(guard);
    }
    drop(held);
    let (_, g1) = registry.pick_tracked("lc").await.unwrap();
    let (_, g2) = registry.pick_tracked("lc").await.unwrap();
    drop((g1, g2));

    let random = Registry::builder(store)
        .health_check_interval(None)
        .balance(Strategy::Random)
        .build();
    random.register(inst("rnd", "x", 1003, 4)).await.unwrap();
    random.register(inst("rnd", "y", 1004, 1)).await.unwrap();
    let mut x = 0;
    for _ in 0..2000 {
        if random
            .get_service_url("rnd")
            .await
            .unwrap()
            .ends_with(":1003")
        {
            x += 1;
        }
    }
    assert!(
        (1500..1700).contains(&x),
        "x picked {x} of 2000 (weight 4 of 5)"
    );
}

#[tokio::test]
async fn weighted_round_robin_and_status() {
    let store: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let registry = fast(store.clone());
    registry
        .register(inst("svc", "heavy", 1001, 3))
        .await
        .unwrap();
    registry
        .register(inst("svc", "light", 1002, 1))
        .await
        .unwrap();
    let mut urls = Vec::new();
    for _ in 0..8 {
        urls.push(registry.get_service_url("svc").await.unwrap());
    }
    let heavy = urls.iter().filter(|u| u.ends_with(":1001")).count();
    assert_eq!((heavy, urls.len() - heavy), (6, 2), "{urls:?}");

    let mut events = registry.subscribe();
    registry
        .set_status("svc", "heavy", InstanceStatus::Maintenance)
        .await
        .unwrap();
    let ev = next_matching(&mut events, |e| {
        matches!(e, RegistryEvent::StatusChanged { .. })
    })
    .await;
    assert_eq!(
        ev,
        RegistryEvent::StatusChanged {
            service: "svc".into(),
            id: "heavy".into(),
            old: InstanceStatus::Healthy,
            new: InstanceStatus::Maintenance
        }
    );
    for _ in 0..4 {
        assert!(
            registry
                .get_service_url("svc")
                .await
                .unwrap()
                .ends_with(":1002")
        );
    }
    let d = registry.discover("svc").await.unwrap();
    assert_eq!(d.instances.len(), 2);
    assert_eq!(d.healthy().len(), 1);
    registry
        .set_status("svc", "light", InstanceStatus::Unhealthy)
        .await
        .unwrap();
    assert!(matches!(
        registry.get_service_url("svc").await,
        Err(DiscoveryError::NoHealthyInstance { .. })
    ));
    registry.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_sees_other_clients_register_and_expire() {
    let store: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let watcher = fast(store.clone());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    watcher.on_event(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut events = watcher.subscribe();
    watcher.watch_service("svc").await.unwrap();
    let other = fast(store.clone());
    other.register(inst("svc", "b", 2, 1)).await.unwrap();
    next_matching(
        &mut events,
        |e| matches!(e, RegistryEvent::Registered(i) if i.id == "b"),
    )
    .await;
    assert_eq!(watcher.discover("svc").await.unwrap().instances.len(), 1);
    drop(other); // no deregistration: the record must expire
    next_matching(
        &mut events,
        |e| matches!(e, RegistryEvent::Expired { id, .. } if id == "b"),
    )
    .await;
    assert!(watcher.discover("svc").await.unwrap().instances.is_empty());
    assert!(seen.load(Ordering::SeqCst) >= 2, "handler not called");
}

/// Wraps a backend; fails every call with `Unavailable` while `down` is set.
#[derive(Debug)]
struct Flaky {
    inner: MemoryBackend,
    down: AtomicBool,
    lists: AtomicUsize,
}

impl Flaky {
    fn check(&self) -> marketprism_discovery::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(DiscoveryError::Unavailable {
                backend: "flaky",
                message: "connection refused".into(),
                source: None,
            })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Backend for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn register(
        &self,
        i: &ServiceInstance,
        ttl: Duration,
    ) -> marketprism_discovery::Result<Lease> {
        self.check()?;
        self.inner.register(i, ttl).await
    }
    async fn renew(&self, l: &Lease) -> marketprism_discovery::Result<()> {
        self.check()?;
        self.inner.renew(l).await
    }
    async fn update(&self, l: &Lease, i: &ServiceInstance) -> marketprism_discovery::Result<()> {
        self.check()?;
        self.inner.update(l, i).await
    }
    async fn deregister(&self, s: &str, id: &str) -> marketprism_discovery::Result<()> {
        self.check()?;
        self.inner.deregister(s, id).await
    }
    async fn list(&self, s: &str) -> marketprism_discovery::Result<Vec<ServiceInstance>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.list(s).await
    }
    async fn services(&self) -> marketprism_discovery::Result<Vec<String>> {
        self.check()?;
        self.inner.services().await
    }
    async fn watch(&self, s: &str) -> marketprism_discovery::Result<WatchStream> {
        self.check()?;
        self.inner.watch(s).await
    }
}

#[tokio::test]
async fn backend_outage_serves_last_known_instances_marked_stale() {
    let flaky = Arc::new(Flaky {
        inner: MemoryBackend::new(),
        down: AtomicBool::new(false),
        lists: AtomicUsize::new(0),
    });
    let registry = Registry::builder(flaky.clone())
        .health_check_interval(None)
        .retry(
            RetryPolicy::default()
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(5)),
        )
        .build();
    flaky
        .inner
        .register(&inst("svc", "a", 1, 1), Duration::from_secs(60))
        .await
        .unwrap();
    let fresh = registry.discover("svc").await.unwrap();
    assert!(!fresh.stale);
    let mut events = registry.subscribe();

    flaky.down.store(true, Ordering::SeqCst);
    let before = flaky.lists.load(Ordering::SeqCst);
    let stale = registry.discover("svc").await.unwrap();
    assert!(stale.stale);
    assert_eq!(stale.instances, fresh.instances);
    assert_eq!(
        flaky.lists.load(Ordering::SeqCst) - before,
        3,
        "3 attempts with backoff"
    );
    next_matching(&mut events, |e| matches!(e, RegistryEvent::Stale { .. })).await;
    assert_eq!(
        registry.get_service_url("svc").await.unwrap(),
        "http://127.0.0.1:1"
    );
    // Never seen before: the error itself, clearly.
    let err = registry.discover("unknown").await.unwrap_err();
    assert!(err.is_retryable());
    assert!(err.to_string().contains("connection refused"), "{err}");

    flaky.down.store(false, Ordering::SeqCst);
    assert!(!registry.discover("svc").await.unwrap().stale);
}

#[tokio::test]
async fn active_health_checks_demote_and_restore() {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let stub = common::Stub::start(move |_| {
        let status = if flag.load(Ordering::SeqCst) {
            200
        } else {
            503
        };
        (status, vec![], "{}".into())
    })
    .await;
    let store: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let target = ServiceInstance::builder("svc", "127.0.0.1", stub.addr.port())
        .id("t")
        .health_check_url(format!("http://{}/health", stub.addr))
        .build()
        .unwrap();
    store
        .register(&target, Duration::from_secs(60))
        .await
        .unwrap();
    let registry = Registry::builder(store)
        .health_check_interval(Some(Duration::from_millis(100)))
        .health_check_timeout(Duration::from_secs(1))
        .cleanup_interval(Duration::from_millis(200))
        .build();
    let mut events = registry.subscribe();
    registry.watch_service("svc").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        registry.check_health("svc", "t").await.unwrap(),
        InstanceStatus::Healthy
    );

    healthy.store(false, Ordering::SeqCst);
    let ev = next_matching(&mut events, |e| {
        matches!(e, RegistryEvent::StatusChanged { .. })
    })
    .await;
    assert!(matches!(
        ev,
        RegistryEvent::StatusChanged {
            new: InstanceStatus::Unhealthy,
            ..
        }
    ));
    assert!(registry.discover("svc").await.unwrap().healthy().is_empty());

    healthy.store(true, Ordering::SeqCst);
    let ev = next_matching(&mut events, |e| {
        matches!(e, RegistryEvent::StatusChanged { .. })
    })
    .await;
    assert!(matches!(
        ev,
        RegistryEvent::StatusChanged {
            new: InstanceStatus::Healthy,
            ..
        }
    ));
    assert!(!stub.recorded().is_empty());
    assert!(stub.recorded().iter().all(|r| r.target == "/health"));
}

#[cfg(feature = "etcd")]
#[tokio::test]
async fn unreachable_backend_fails_registration_clearly() {
    let registry = Registry::builder(
        marketprism_discovery::backend_from_url("etcd://127.0.0.1:1")
            .await
            .unwrap(),
    )
    .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(5)))
    .build();
    let err = registry.register(inst("svc", "a", 1, 1)).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("discovery backend `etcd` unavailable"),
        "{err}"
    );
}
