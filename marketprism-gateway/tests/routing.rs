//! Routing, weighted round-robin, failover and retry rules against real upstreams.

mod common;

use std::sync::Arc;

use common::{TestGateway, TestUpstream, dead_url, http, open_config};
use marketprism_gateway::{BusEventSource, Role, StaticUpstreams, Upstream};

fn bus() -> Arc<BusEventSource> {
    Arc::new(BusEventSource::default())
}

#[tokio::test]
async fn routes_by_prefix_and_forwards_path_query_and_request_id() {
    let storage = TestUpstream::start("storage-1").await;
    let scheduler = TestUpstream::start("scheduler-1").await;
    let ups = StaticUpstreams::new()
        .with(
            "data-storage-service",
            Upstream::new("storage-1", &storage.url),
        )
        .with(
            "scheduler-service",
            Upstream::new("scheduler-1", &scheduler.url),
        );
    let config = open_config();
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let client = http();

    let r = client
        .get(format!(
            "{}/api/v1/storage/hot/trades?symbol=BTC-USDT&limit=5",
            gw.url
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let generated_id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(!generated_id.is_empty(), "a request id is generated");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["instance"], "storage-1");
    let seen = storage.seen();
    assert_eq!(
        seen[0].path_and_query,
        "/api/v1/storage/hot/trades?symbol=BTC-USDT&limit=5"
    );
    assert_eq!(
        seen[0].headers["x-request-id"],
        generated_id.as_str(),
        "id propagated upstream"
    );

    // A client-provided id is kept, end to end.
    let r = client
        .post(format!("{}/api/v1/scheduler/tasks", gw.url))
        .header("x-request-id", "client-id-42")
        .body(r#"{"name":"t"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "client-id-42");
    let seen = scheduler.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path_and_query, "/api/v1/scheduler/tasks");
    assert_eq!(seen[0].headers["x-request-id"], "client-id-42");
    assert_eq!(
        storage.hits(),
        1,
        "scheduler traffic does not reach storage"
    );

    // Unknown prefix → 404; known service without instances → 503.
    let r = client
        .get(format!("{}/api/v2/nothing", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    let r = client
        .get(format!("{}/api/v1/alerts", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn credentials_are_not_forwarded_and_principal_is() {
    let up = TestUpstream::start("s").await;
    let ups = StaticUpstreams::new().with("data-storage-service", Upstream::new("s", &up.url));
    let config = open_config().api_key("grafana", "k-read", &[Role::Read]);
    let mut config = config;
    config.auth.enabled = true;
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let r = http()
        .get(format!("{}/api/v1/storage/status", gw.url))
        .header("x-api-key", "k-read")
        .header("x-marketprism-principal", "spoofed-admin")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "1")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let h = &up.seen()[0].headers;
    assert!(!h.contains_key("x-api-key"));
    assert!(!h.contains_key("authorization"));
    assert!(!h.contains_key("x-hop"));
    assert_eq!(h["x-marketprism-principal"], "grafana");
    assert_eq!(h["x-marketprism-roles"], "read");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
}

#[tokio::test]
async fn smooth_weighted_round_robin_over_healthy_instances() {
    let a = TestUpstream::start("a").await;
    let b = TestUpstream::start("b").await;
    let c = TestUpstream::start("c").await;
    let ups = StaticUpstreams::new()
        .with("monitoring-service", Upstream::new("a", &a.url).weight(3))
        .with("monitoring-service", Upstream::new("b", &b.url).weight(1))
        .with(
            "monitoring-service",
            Upstream::new("c", &c.url).healthy(false),
        );
    let gw = TestGateway::start(open_config(), Arc::new(ups), bus()).await;
    let client = http();
    let mut order = String::new();
    for _ in 0..8 {
        let r = client
            .get(format!("{}/api/v1/overview", gw.url))
            .send()
            .await
            .expect("send");
        let body: serde_json::Value = r.json().await.expect("json");
        order.push_str(body["instance"].as_str().expect("instance"));
    }
    assert_eq!(order, "aabaaaba", "smooth WRR 3:1");
    assert_eq!(
        (a.hits(), b.hits(), c.hits()),
        (6, 2, 0),
        "unhealthy instance gets nothing"
    );
}

#[tokio::test]
async fn fails_over_when_an_instance_refuses_connections() {
    let live = TestUpstream::start("live").await;
    let ups = StaticUpstreams::new()
        .with(
            "data-storage-service",
            Upstream::new("dead", dead_url().await),
        )
        .with("data-storage-service", Upstream::new("live", &live.url));
    let mut config = open_config();
    config.breaker.failure_threshold = 1000; // isolate retries from the breaker
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let client = http();
    for i in 0..6 {
        let r = client
            .get(format!("{}/api/v1/storage/status", gw.url))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "GET {i} fails over to the live instance");
    }
    // A POST that could not even connect never left the gateway: safe to send elsewhere.
    for i in 0..4 {
        let r = client
            .post(format!("{}/api/v1/storage/write", gw.url))
            .body("{}")
            .send()
            .await
            .expect("send");
        assert_eq!(
            r.status(),
            200,
            "POST {i} after connection refused goes elsewhere"
        );
    }
    assert_eq!(live.hits(), 10);
}

#[tokio::test]
async fn retries_idempotent_requests_on_5xx_but_never_posts() {
    let bad = TestUpstream::start("bad").await;
    bad.set_status(500);
    let good = TestUpstream::start("good").await;
    let ups = StaticUpstreams::new()
        .with("scheduler-service", Upstream::new("bad", &bad.url))
        .with("scheduler-service", Upstream::new("good", &good.url));
    let mut config = open_config();
    config.breaker.failure_threshold = 1000;
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let client = http();

    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        for _ in 0..4 {
            let r = client
                .request(
                    method.clone(),
                    format!("{}/api/v1/scheduler/tasks/1", gw.url),
                )
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200, "{method} is retried on the other instance");
        }
    }
    // 12 idempotent requests: all answered by `good`; `bad` was tried first for half of them.
    assert_eq!(good.hits(), 12);
    assert_eq!(bad.hits(), 6);

    let (bad_before, good_before) = (bad.hits(), good.hits());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = client
            .post(format!("{}/api/v1/scheduler/tasks/1/run", gw.url))
            .send()
            .await
            .expect("send");
        statuses.push(r.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 500, 500],
        "a POST that hit a 5xx is not retried"
    );
    assert_eq!(bad.hits() - bad_before, 2);
    assert_eq!(
        good.hits() - good_before,
        2,
        "each POST reached exactly one upstream"
    );
}

#[tokio::test]
async fn retries_are_bounded_and_go_to_other_instances() {
    let ups: Vec<TestUpstream> =
        futures::future::join_all(["x", "y", "z"].map(TestUpstream::start)).await;
    let mut s = StaticUpstreams::new();
    for u in &ups {
        u.set_status(503);
        s = s.with("message-broker-service", Upstream::new(&u.name, &u.url));
    }
    let mut config = open_config();
    config.proxy.max_retries = 1;
    config.breaker.failure_threshold = 1000;
    let gw = TestGateway::start(config, Arc::new(s), bus()).await;
    let r = http()
        .get(format!("{}/api/v1/broker/streams", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        503,
        "the last upstream answer is passed through"
    );
    let hits: Vec<usize> = ups.iter().map(TestUpstream::hits).collect();
    assert_eq!(hits.iter().sum::<usize>(), 2, "1 try + 1 retry");
    assert!(
        hits.iter().all(|h| *h <= 1),
        "never the same instance twice: {hits:?}"
    );
}

#[tokio::test]
async fn slow_upstream_times_out_with_504() {
    let slow = TestUpstream::start("slow").await;
    slow.set_delay(1_000);
    let ups =
        StaticUpstreams::new().with("market-data-collector", Upstream::new("slow", &slow.url));
    let mut config = open_config();
    config.proxy.timeout_ms = 150;
    config.proxy.max_retries = 0;
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let started = std::time::Instant::now();
    let r = http()
        .get(format!("{}/api/v1/collector/status", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
}

#[tokio::test]
async fn the_timeout_also_covers_a_slow_body() {
    use axum::{Router, body::Body};
    use bytes::Bytes;
    use futures::StreamExt;
    use std::time::{Duration, Instant};

    // The head and a first chunk at once, the rest long after the timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().fallback(|| async {
        let first = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"first,"))]);
        let late = futures::stream::once(async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok(Bytes::from_static(b"late"))
        });
        Body::from_stream(first.chain(late))
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let ups = StaticUpstreams::new().with(
        "market-data-collector",
        Upstream::new("slow-body", format!("http://{addr}")),
    );
    let mut config = open_config();
    config.proxy.timeout_ms = 300;
    config.proxy.max_retries = 0;
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let started = Instant::now();
    let r = http()
        .get(format!("{}/api/v1/collector/status", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "the head arrived within the timeout");
    assert!(r.bytes().await.is_err(), "the body is cut at the deadline");
    assert!(started.elapsed() < Duration::from_millis(2_000));
}

#[tokio::test]
async fn https_upstreams_are_called_over_tls() {
    use tokio::io::AsyncReadExt;

    // Not a TLS server: it only reads what the gateway sends first, then hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (first_bytes, seen) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 2];
        let _ = socket.read_exact(&mut buf).await;
        let _ = first_bytes.send(buf);
    });
    let ups = StaticUpstreams::new().with(
        "market-data-collector",
        Upstream::new("tls", format!("https://{addr}")),
    );
    let mut config = open_config();
    config.proxy.max_retries = 0;
    let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
    let r = http()
        .get(format!("{}/api/v1/collector/status", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        502,
        "the handshake fails against a plain socket"
    );
    // A TLS record of type handshake (0x16), version 3.x: a ClientHello.
    assert_eq!(seen.await.expect("first bytes"), [0x16, 0x03]);
}

/// `proxy.balance = least_connections`: a slow instance, still busy with its requests, gets
/// few new ones; weighted round-robin gives it half regardless.
#[tokio::test]
async fn least_connections_sends_less_to_a_slow_instance() {
    use marketprism_core::balance::Strategy;
    let mut slow_hits = Vec::new();
    for strategy in [Strategy::WeightedRoundRobin, Strategy::LeastConnections] {
        let fast = TestUpstream::start("fast").await;
        let slow = TestUpstream::start("slow").await;
        slow.set_delay(400);
        let ups = StaticUpstreams::new()
            .with("monitoring-service", Upstream::new("fast", &fast.url))
            .with("monitoring-service", Upstream::new("slow", &slow.url));
        let mut config = open_config();
        config.proxy.balance = strategy;
        let gw = TestGateway::start(config, Arc::new(ups), bus()).await;
        let client = http();
        let mut running = Vec::new();
        for _ in 0..20 {
            let (client, url) = (client.clone(), format!("{}/api/v1/overview", gw.url));
            running.push(tokio::spawn(async move {
                client.get(url).send().await.expect("send").status()
            }));
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
        }
        for r in running {
            assert_eq!(r.await.expect("join"), 200);
        }
        assert_eq!(fast.hits() + slow.hits(), 20);
        slow_hits.push(slow.hits());
    }
    assert_eq!(slow_hits[0], 10, "round-robin: {slow_hits:?}");
    assert!(slow_hits[1] <= 3, "least connections: {slow_hits:?}");
}
