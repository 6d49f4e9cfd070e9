//! The one conformance suite every [`Backend`] must pass (quickwit style): `tests/conformance.rs`
//! runs [`run_all`] against memory, etcd, NATS and Redis. Public (hidden) so out-of-tree
//! backends can run it too.
//!
//! Each case uses its own random service names, so cases run concurrently on one backend and
//! the suite can run again and again against the same server.

use std::{future::Future, sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt};
use tokio::time::{Instant, sleep, timeout};

use crate::{
    backend::{Backend, RemovalReason, WatchEvent, WatchStream},
    error::DiscoveryError,
    instance::{InstanceStatus, ServiceInstance},
};

/// The TTL the suite registers with (etcd refuses leases much shorter than 2 s).
pub const TTL: Duration = Duration::from_secs(2);
/// How long after its TTL a record may linger (Redis/NATS expire lazily-ish; etcd checks
/// leases every 500 ms).
pub const EXPIRY_SLACK: Duration = Duration::from_secs(5);
/// How long to wait for one watch event.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

type CaseResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

/// Outcome of one case.
#[derive(Debug)]
pub struct CaseOutcome {
    /// Case name.
    pub name: &'static str,
    /// `Err(why)` when it failed.
    pub result: Result<(), String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// Outcomes of every case.
#[derive(Debug)]
pub struct Report {
    /// Backend name.
    pub backend: &'static str,
    /// One outcome per case.
    pub cases: Vec<CaseOutcome>,
}

impl Report {
    /// Panics listing every failed case (use in tests).
    #[allow(clippy::print_stdout)]
    pub fn assert_all_passed(&self) {
        for c in &self.cases {
            let verdict = match &c.result {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("FAILED: {e}"),
            };
            println!(
                "conformance[{}] {:<24} {:>6} ms  {verdict}",
                self.backend,
                c.name,
                c.elapsed.as_millis()
            );
        }
        let failed: Vec<_> = self
            .cases
            .iter()
            .filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name)))
            .collect();
        assert!(
            failed.is_empty(),
            "{} conformance failures:\n{}",
            self.backend,
            failed.join("\n")
        );
    }
}

/// Runs every case concurrently; `make` returns a new client of the backend under test (the
/// same store each time — two calls are two "processes" for the concurrent-clients case).
pub async fn run_all<F, Fut>(make: F) -> Report
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Backend>>,
{
    let a = make().await;
    let b = make().await;
    let backend = a.name();
    let cases: Vec<(
        &'static str,
        futures::future::BoxFuture<'static, CaseResult>,
    )> = vec![
        ("register_and_list", register_and_list(a.clone()).boxed()),
        ("ttl_expiry", ttl_expiry(a.clone()).boxed()),
        ("renew_keeps_alive", renew_keeps_alive(a.clone()).boxed()),
        ("deregister", deregister(a.clone()).boxed()),
        ("watch_events", watch_events(a.clone()).boxed()),
        ("weights_and_status", weights_and_status(a.clone()).boxed()),
        ("metadata_values", metadata_values(a.clone()).boxed()),
        (
            "concurrent_clients",
            concurrent_clients(a.clone(), b.clone()).boxed(),
        ),
        ("services_listing", services_listing(a.clone()).boxed()),
        ("invalid_input", invalid_input(a.clone()).boxed()),
    ];
    let runs = cases.into_iter().map(|(name, case)| async move {
        let start = Instant::now();
        let result = match timeout(Duration::from_secs(60), case).await {
            Ok(r) => r,
            Err(_) => Err("timed out after 60 s".to_owned()),
        };
        CaseOutcome {
            name,
            result,
            elapsed: start.elapsed(),
        }
    });
    Report {
        backend,
        cases: futures::future::join_all(runs).await,
    }
}

/// A random service name for one case.
pub fn service_name(case: &str) -> String {
    format!("conf-{case}-{:08x}", rand::random::<u32>())
}

fn instance(service: &str, id: &str, port: u16) -> Result<ServiceInstance, String> {
    ServiceInstance::builder(service, "127.0.0.1", port)
        .id(id)
        .tag("conformance")
        .metadata("version", "1.0.0")
        .metadata("unicode", "价格 ✓")
        .health_check_url(format!("http://127.0.0.1:{port}/health"))
        .weight(3)
        .build()
        .map_err(|e| e.to_string())
}

async fn ids(b: &dyn Backend, service: &str) -> Result<Vec<String>, String> {
    let mut ids: Vec<_> = b
        .list(service)
        .await
        .map_err(|e| format!("list: {e}"))?
        .into_iter()
        .map(|i| i.id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// Polls until `service` no longer lists `id`; returns how long after `since` that was.
async fn wait_gone(
    b: &dyn Backend,
    service: &str,
    id: &str,
    since: Instant,
    deadline: Duration,
) -> Result<Duration, String> {
    loop {
        if !ids(b, service).await?.iter().any(|i| i == id) {
            return Ok(since.elapsed());
        }
        ensure!(
            since.elapsed() < deadline,
            "`{id}` still listed {:?} after registration (TTL {TTL:?})",
            since.elapsed()
        );
        sleep(Duration::from_millis(100)).await;
    }
}

async fn register_and_list(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("list");
    let x = instance(&s, "x", 1001)?;
    let y = instance(&s, "y", 1002)?.with_weight(1);
    b.register(&x, TTL * 10).await.map_err(|e| e.to_string())?;
    b.register(&y, TTL * 10).await.map_err(|e| e.to_string())?;
    let mut listed = b.list(&s).await.map_err(|e| e.to_string())?;
    listed.sort_by(|p, q| p.id.cmp(&q.id));
    ensure!(
        listed == vec![x.clone(), y.clone()],
        "round trip differs: {listed:?}"
    );
    // Registering again is an upsert, not a duplicate.
    b.register(&x, TTL * 10).await.map_err(|e| e.to_string())?;
    ensure!(ids(&*b, &s).await? == ["x", "y"], "re-register duplicated");
    let other = b
        .list(&service_name("empty"))
        .await
        .map_err(|e| e.to_string())?;
    ensure!(other.is_empty(), "unknown service lists {other:?}");
    b.deregister(&s, "x").await.map_err(|e| e.to_string())?;
    b.deregister(&s, "y").await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn ttl_expiry(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("ttl");
    let x = instance(&s, "x", 1003)?;
    let start = Instant::now();
    let lease = b.register(&x, TTL).await.map_err(|e| e.to_string())?;
    sleep(TTL / 2).await;
    ensure!(ids(&*b, &s).await? == ["x"], "gone before half its TTL");
    let gone_after = wait_gone(&*b, &s, "x", start, TTL + EXPIRY_SLACK).await?;
    ensure!(gone_after >= TTL / 2, "expired too early ({gone_after:?})");
    match b.renew(&lease).await {
        Err(DiscoveryError::NotFound { .. }) => {}
        other => return Err(format!("renew after expiry: want NotFound, got {other:?}")),
    }
    match b.update(&lease, &x).await {
        Err(DiscoveryError::NotFound { .. }) => {}
        other => return Err(format!("update after expiry: want NotFound, got {other:?}")),
    }
    Ok(())
}

async fn renew_keeps_alive(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("renew");
    let x = instance(&s, "x", 1004)?;
    let lease = b.register(&x, TTL).await.map_err(|e| e.to_string())?;
    let start = Instant::now();
    while start.elapsed() < TTL * 2 + Duration::from_secs(1) {
        sleep(TTL / 4).await;
        b.renew(&lease).await.map_err(|e| format!("renew: {e}"))?;
        ensure!(
            ids(&*b, &s).await? == ["x"],
            "vanished while renewed ({:?})",
            start.elapsed()
        );
    }
    let stop = Instant::now();
    wait_gone(&*b, &s, "x", stop, TTL + EXPIRY_SLACK).await?;
    Ok(())
}

async fn deregister(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("dereg");
    let lx = b
        .register(&instance(&s, "x", 1005)?, TTL * 10)
        .await
        .map_err(|e| e.to_string())?;
    b.register(&instance(&s, "y", 1006)?, TTL * 10)
        .await
        .map_err(|e| e.to_string())?;
    b.deregister(&s, "x").await.map_err(|e| e.to_string())?;
    ensure!(
        ids(&*b, &s).await? == ["y"],
        "x still listed after deregister"
    );
    b.deregister(&s, "x")
        .await
        .map_err(|e| format!("second deregister must succeed: {e}"))?;
    match b.renew(&lx).await {
        Err(DiscoveryError::NotFound { .. }) => {}
        other => {
            return Err(format!(
                "renew after deregister: want NotFound, got {other:?}"
            ));
        }
    }
    b.deregister(&s, "y").await.map_err(|e| e.to_string())?;
    ensure!(ids(&*b, &s).await?.is_empty(), "y still listed");
    Ok(())
}

/// Next event about service `s` matching `want`; events of other services are an error.
async fn next_event(
    w: &mut WatchStream,
    s: &str,
    what: &str,
    want: impl Fn(&WatchEvent) -> bool,
) -> CaseResult {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = match timeout(left, w.next()).await {
            Err(_) => return Err(format!("no {what} event within {EVENT_WAIT:?}")),
            Ok(None) => return Err(format!("watch ended waiting for {what}")),
            Ok(Some(Err(e))) => return Err(format!("watch error waiting for {what}: {e}")),
            Ok(Some(Ok(ev))) => ev,
        };
        let service = match &ev {
            WatchEvent::Put(i) => &i.service,
            WatchEvent::Removed { service, .. } => service,
        };
        ensure!(service == s, "event of another service leaked: {ev:?}");
        if want(&ev) {
            return Ok(());
        }
    }
}

async fn watch_events(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("watch");
    let noise = service_name("noise");
    let mut w = b.watch(&s).await.map_err(|e| format!("watch: {e}"))?;
    b.register(&instance(&noise, "n", 1)?, TTL * 10)
        .await
        .map_err(|e| e.to_string())?;
    let x = instance(&s, "x", 1007)?;
    let lease = b.register(&x, TTL * 10).await.map_err(|e| e.to_string())?;
    next_event(&mut w, &s, "register", |e| *e == WatchEvent::Put(x.clone())).await?;
    let xm = x.with_status(InstanceStatus::Maintenance);
    b.update(&lease, &xm).await.map_err(|e| e.to_string())?;
    next_event(&mut w, &s, "status change", |e| {
        *e == WatchEvent::Put(xm.clone())
    })
    .await?;
    b.deregister(&s, "x").await.map_err(|e| e.to_string())?;
    next_event(&mut w, &s, "deregister", |e| {
        matches!(e, WatchEvent::Removed { id, reason: RemovalReason::Deregistered, .. } if id == "x")
    })
    .await?;
    let y = instance(&s, "y", 1008)?;
    b.register(&y, TTL).await.map_err(|e| e.to_string())?;
    next_event(&mut w, &s, "register y", |e| {
        *e == WatchEvent::Put(y.clone())
    })
    .await?;
    next_event(&mut w, &s, "expiry", |e| {
        matches!(e, WatchEvent::Removed { id, reason: RemovalReason::Expired, .. } if id == "y")
    })
    .await?;
    b.deregister(&noise, "n").await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn weights_and_status(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("weights");
    let x = instance(&s, "x", 1009)?.with_weight(5);
    let lease = b.register(&x, TTL * 10).await.map_err(|e| e.to_string())?;
    for (status, weight) in [
        (InstanceStatus::Unhealthy, 2),
        (InstanceStatus::Maintenance, 7),
        (InstanceStatus::Healthy, 1),
    ] {
        let next = x.with_status(status).with_weight(weight);
        b.update(&lease, &next).await.map_err(|e| e.to_string())?;
        let listed = b.list(&s).await.map_err(|e| e.to_string())?;
        ensure!(
            listed == vec![next.clone()],
            "after update to {status}/{weight}: {listed:?}"
        );
    }
    let mut wrong = x.clone();
    wrong.id = "other".to_owned();
    ensure!(
        matches!(
            b.update(&lease, &wrong).await,
            Err(DiscoveryError::InvalidInstance { .. })
        ),
        "update with another instance's lease accepted"
    );
    b.deregister(&s, "x").await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Metadata of every JSON type (the original system passed booleans, numbers and lists)
/// comes back with its type, through `list`, `watch` and `update`.
async fn metadata_values(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("meta");
    let mut w = b.watch(&s).await.map_err(|e| format!("watch: {e}"))?;
    let mut x = instance(&s, "x", 1010)?;
    let seed = serde_json::json!({"ssl": true, "weight": 3, "tags": ["a", "b"],
        "ratio": 0.5, "nested": {"k": null}, "text": "true"});
    if let serde_json::Value::Object(m) = seed {
        x.metadata.extend(m);
    }
    let lease = b.register(&x, TTL * 10).await.map_err(|e| e.to_string())?;
    let listed = b.list(&s).await.map_err(|e| e.to_string())?;
    ensure!(listed == vec![x.clone()], "metadata round trip: {listed:?}");
    next_event(&mut w, &s, "register", |e| *e == WatchEvent::Put(x.clone())).await?;
    x.metadata
        .insert("ssl".to_owned(), serde_json::Value::Bool(false));
    x.metadata.remove("tags");
    b.update(&lease, &x).await.map_err(|e| e.to_string())?;
    let listed = b.list(&s).await.map_err(|e| e.to_string())?;
    ensure!(
        listed == vec![x.clone()],
        "metadata after update: {listed:?}"
    );
    b.deregister(&s, "x").await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn concurrent_clients(a: Arc<dyn Backend>, b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("concurrent");
    let regs = (0..20u16).map(|n| {
        let client = if n % 2 == 0 { a.clone() } else { b.clone() };
        let s = s.clone();
        async move {
            let i = instance(&s, &format!("i{n:02}"), 2000 + n)?;
            client
                .register(&i, TTL * 10)
                .await
                .map_err(|e| format!("register i{n:02}: {e}"))
        }
    });
    for r in futures::future::join_all(regs).await {
        r?;
    }
    let from_a = ids(&*a, &s).await?;
    let from_b = ids(&*b, &s).await?;
    ensure!(from_a.len() == 20, "client a sees {} of 20", from_a.len());
    ensure!(
        from_a == from_b,
        "clients disagree: {from_a:?} vs {from_b:?}"
    );
    let deregs = (0..20u16).map(|n| {
        let client = if n % 2 == 0 { b.clone() } else { a.clone() };
        let s = s.clone();
        async move { client.deregister(&s, &format!("i{n:02}")).await }
    });
    for r in futures::future::join_all(deregs).await {
        r.map_err(|e| e.to_string())?;
    }
    ensure!(
        ids(&*a, &s).await?.is_empty(),
        "instances left after deregistering all"
    );
    Ok(())
}

async fn services_listing(b: Arc<dyn Backend>) -> CaseResult {
    let s1 = service_name("svc1");
    let s2 = service_name("svc2");
    b.register(&instance(&s1, "x", 1)?, TTL * 10)
        .await
        .map_err(|e| e.to_string())?;
    b.register(&instance(&s2, "x", 2)?, TTL * 10)
        .await
        .map_err(|e| e.to_string())?;
    let names = b.services().await.map_err(|e| e.to_string())?;
    ensure!(
        names.contains(&s1) && names.contains(&s2),
        "services() lacks {s1} or {s2}: {names:?}"
    );
    b.deregister(&s1, "x").await.map_err(|e| e.to_string())?;
    b.deregister(&s2, "x").await.map_err(|e| e.to_string())?;
    let names = b.services().await.map_err(|e| e.to_string())?;
    ensure!(
        !names.contains(&s1),
        "deregistered service still named: {s1}"
    );
    Ok(())
}

async fn invalid_input(b: Arc<dyn Backend>) -> CaseResult {
    let s = service_name("invalid");
    let mut bad = instance(&s, "x", 1)?;
    bad.id = "has.dot".to_owned();
    ensure!(
        matches!(
            b.register(&bad, TTL).await,
            Err(DiscoveryError::InvalidInstance { .. })
        ),
        "an id with a dot was accepted"
    );
    let mut bad = instance(&s, "x", 1)?;
    bad.weight = 0;
    ensure!(
        matches!(
            b.register(&bad, TTL).await,
            Err(DiscoveryError::InvalidInstance { .. })
        ),
        "weight 0 was accepted"
    );
    Ok(())
}
