//! Two scheduler instances sharing a store (Redis, or NATS JetStream KV) fire every
//! (task, time) exactly once.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, routing::post};
use marketprism_bins::scheduler::{self, NatsKvStore, SchedulerConfig, StoreBackend};
use marketprism_core::testing::{TestServer, require_server};
use marketprism_discovery::{Registry, ServiceInstance};

/// The shared store both schedulers use.
#[derive(Clone, Copy)]
enum StoreKind {
    Redis,
    Nats,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_sharing_redis_fire_each_time_once() {
    two_schedulers_fire_each_time_once(StoreKind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_sharing_nats_kv_fire_each_time_once() {
    two_schedulers_fire_each_time_once(StoreKind::Nats).await;
}

async fn two_schedulers_fire_each_time_once(kind: StoreKind) {
    let server = match kind {
        StoreKind::Redis => TestServer::Redis,
        StoreKind::Nats => TestServer::Nats,
    };
    let Some(url) = require_server(server) else {
        return;
    };
    let ns = format!("sched{:x}", std::process::id() as u64 * 7919 + rand_ns());
    let discovery = format!("memory://{ns}");
    let prefix = format!("mp:test:{ns}");

    // A target service that counts calls, registered in (in-process) discovery.
    let hits: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = Arc::clone(&hits);
    let app = Router::new().route(
        "/api/v1/tick",
        post(move |body: String| {
            let h = Arc::clone(&h);
            async move {
                h.lock().expect("lock").push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let reg = Registry::from_url(&discovery).await.expect("registry");
    reg.register(
        ServiceInstance::builder("tick-target", "127.0.0.1", port)
            .build()
            .expect("instance"),
    )
    .await
    .expect("register");

    let mut stops = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..2 {
        let mut c = SchedulerConfig::default();
        c.discovery.url = discovery.clone();
        match kind {
            StoreKind::Redis => c.redis.url = Some(url.clone()),
            StoreKind::Nats => {
                c.nats.url = Some(url.clone());
                c.store.backend = StoreBackend::Nats;
            }
        }
        c.store.prefix = prefix.clone();
        c.builtin.enabled = false;
        c.scheduler.tick_ms = 100;
        // This test fires every second to see many firings quickly (default minimum: 10 s).
        c.scheduler.min_interval_secs = 1;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        ports.push(l.local_addr().expect("addr").port());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push((
            tx,
            tokio::spawn(scheduler::run(c, l, async move {
                let _ = rx.await;
            })),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    marketprism_bins::common::install_crypto();
    let client = reqwest::Client::new();
    let r = client
        .post(format!(
            "http://127.0.0.1:{}/api/v1/scheduler/tasks",
            ports[0]
        ))
        .json(&serde_json::json!({
            "id": "every-second", "cron_expression": "* * * * * *",
            "target_service": "tick-target", "target_endpoint": "/api/v1/tick",
            "payload": {"n": 1}
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let status: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{}/api/v1/scheduler/status",
            ports[1]
        ))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    let expected = match kind {
        StoreKind::Redis => "redis",
        StoreKind::Nats => "nats",
    };
    assert_eq!(status["store"], expected, "{status}");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    // Stop firing, let in-flight runs finish.
    for p in &ports {
        client
            .post(format!("http://127.0.0.1:{p}/api/v1/scheduler/stop"))
            .send()
            .await
            .expect("stop");
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    let runs: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{}/api/v1/scheduler/tasks/every-second/runs?limit=1000",
            ports[1]
        ))
        .send()
        .await
        .expect("runs")
        .json()
        .await
        .expect("json");
    let runs = runs["runs"].as_array().expect("array").clone();
    let mut times: Vec<i64> = runs
        .iter()
        .filter_map(|r| r["scheduled_for_ms"].as_i64())
        .collect();
    let total = times.len();
    times.sort_unstable();
    times.dedup();
    assert!(total >= 4, "expected about 5 firings, got {total}");
    assert_eq!(times.len(), total, "a fire time ran twice: {runs:#?}");
    assert!(runs.iter().all(|r| r["status"] == "success"), "{runs:#?}");
    let instances: std::collections::HashSet<&str> =
        runs.iter().filter_map(|r| r["instance"].as_str()).collect();
    assert_eq!(
        hits.lock().expect("lock").len(),
        total,
        "target calls = firings"
    );
    eprintln!("{total} firings, by {} instance(s)", instances.len());
    for (tx, task) in stops {
        let _ = tx.send(());
        let _ = task.await;
    }
    match kind {
        StoreKind::Nats => NatsKvStore::connect(&url, &prefix, Duration::from_secs(60))
            .await
            .expect("connect")
            .delete_buckets()
            .await
            .expect("delete buckets"),
        StoreKind::Redis => {
            let client = redis::Client::open(url.as_str()).expect("client");
            let mut c = client
                .get_multiplexed_async_connection()
                .await
                .expect("conn");
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}:*"))
                .query_async(&mut c)
                .await
                .expect("keys");
            if !keys.is_empty() {
                let () = redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut c)
                    .await
                    .expect("del");
            }
        }
    }
}

fn rand_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0)
}
