//! The service runtime on a real socket: /health, /metrics (checked by promtool when present),
//! the caller's routes, request metrics, graceful shutdown.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::{Router, routing::get};
use marketprism_core::{
    runtime::{HealthCheck, Service},
    sink::Health,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

struct Fixed(&'static str, Health);

#[async_trait]
impl HealthCheck for Fixed {
    fn name(&self) -> &str {
        self.0
    }
    async fn check(&self) -> Health {
        self.1.clone()
    }
}

struct Hangs;

#[async_trait]
impl HealthCheck for Hangs {
    fn name(&self) -> &str {
        "hangs"
    }
    async fn check(&self) -> Health {
        std::future::pending().await
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, None).await
}

async fn start(
    service: Service,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        service
            .serve(listener, async move {
                let _ = rx.await;
            })
            .await
            .expect("serve");
    });
    (addr, tx, task)
}

#[tokio::test]
async fn health_routes_metrics_and_shutdown() {
    let service = Service::builder("test-service")
        .version("9.9.9")
        .dependency(Arc::new(Fixed("clickhouse", Health::Healthy)))
        .dependency(Arc::new(Fixed(
            "redis",
            Health::Degraded {
                reason: "slow".into(),
            },
        )))
        .routes(Router::new().route("/api/v1/test/status", get(|| async { "running" })))
        .build();
    let (addr, stop, task) = start(service).await;

    let (code, body) = http_get(addr, "/health").await;
    assert_eq!(code, 200);
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["service"], "test-service");
    assert_eq!(health["version"], "9.9.9");
    assert_eq!(health["status"], "degraded");
    assert!(health["uptime_seconds"].is_u64());
    // Issue 16 item 5: the original's `timestamp`, and its map of dependencies by name.
    let ts = health["timestamp"].as_str().expect("timestamp");
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {ts}"
    );
    assert_eq!(health["dependencies"]["clickhouse"]["status"], "healthy");
    assert_eq!(health["dependencies"]["redis"]["status"], "degraded");
    assert_eq!(health["dependencies"]["redis"]["reason"], "slow");

    assert_eq!(
        http_get(addr, "/api/v1/test/status").await,
        (200, "running".to_owned())
    );
    assert_eq!(http_get(addr, "/nope").await.0, 404);

    let (code, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains(r#"marketprism_http_requests_total{service="test-service",method="GET",route="/api/v1/test/status",status="200"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP marketprism_http_requests_total"),
        "{metrics}"
    );
    marketprism_core::testing::promtool_check_metrics(&metrics);

    stop.send(()).expect("signal");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("graceful shutdown completes")
        .expect("join");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

#[tokio::test]
async fn unhealthy_or_hanging_dependency_gives_503() {
    let service = Service::builder("sick")
        .dependency(Arc::new(Fixed(
            "nats",
            Health::Unhealthy {
                reason: "down".into(),
            },
        )))
        .dependency(Arc::new(Hangs))
        .health_timeout(Duration::from_millis(100))
        .build();
    let (addr, stop, _task) = start(service).await;
    let (code, body) = http_get(addr, "/health").await;
    assert_eq!(code, 503);
    let health: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["status"], "unhealthy");
    assert!(
        health["dependencies"]["hangs"]["reason"]
            .as_str()
            .expect("reason")
            .contains("timed out")
    );
    let _ = stop.send(());
}

/// Issue 13 finding 1: client-chosen methods must not become label values (each would be a
/// new series, without bound, on a public route).
#[tokio::test]
async fn random_methods_do_not_grow_the_metric_label_set() {
    let service = Service::builder("method-label-service").build();
    let (addr, stop, task) = start(service).await;
    for i in 0..200 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("MXYZ{i} /health HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.expect("read");
        assert!(
            resp.starts_with("HTTP/1.0 405") || resp.starts_with("HTTP/1.1 405"),
            "{resp}"
        );
    }
    let (_, metrics) = http_get(addr, "/metrics").await;
    let ours: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("marketprism_http_requests_total{service=\"method-label-service\"")
        })
        .collect();
    assert!(!metrics.contains("MXYZ"), "raw method leaked into labels");
    assert!(
        ours.iter().any(
            |l| l.contains(r#"method="other",route="/health",status="405""#) && l.ends_with(" 200")
        ),
        "{ours:?}"
    );
    stop.send(()).expect("signal");
    task.await.expect("join");
}

async fn http_get_with(
    addr: std::net::SocketAddr,
    path: &str,
    header: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let extra = header.map_or(String::new(), |h| format!("{h}\r\n"));
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n{extra}\r\n").as_bytes())
        .await
        .expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("code");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (code, body.unwrap_or_default())
}

/// Issue 13 finding 3: with service tokens configured, every route but /health and /metrics
/// needs one of them; a rotated-out token is refused, the old and new ones both work during
/// the rotation.
#[tokio::test]
async fn service_token_guards_every_route_but_health_and_metrics() {
    use marketprism_core::runtime::ServiceTokens;
    let service = Service::builder("token-service")
        .service_tokens(ServiceTokens::new(["new-secret", "old-secret"]))
        .routes(
            Router::new()
                .route(
                    "/api/v1/x/stop",
                    axum::routing::post(|| async { "stopped" }),
                )
                .route("/api/v1/x/status", get(|| async { "running" })),
        )
        .build();
    let (addr, stop, task) = start(service).await;
    assert_eq!(http_get_with(addr, "/health", None).await.0, 200);
    assert_eq!(http_get_with(addr, "/metrics", None).await.0, 200);
    let (code, body) = http_get_with(addr, "/api/v1/x/status", None).await;
    assert_eq!(code, 401, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["field"], "x-marketprism-service-token");
    for bad in ["wrong", "new-secre", "new-secret2", ""] {
        let h = format!("x-marketprism-service-token: {bad}");
        assert_eq!(
            http_get_with(addr, "/api/v1/x/status", Some(&h)).await.0,
            401,
            "{bad}"
        );
    }
    for good in ["new-secret", "old-secret"] {
        let h = format!("x-marketprism-service-token: {good}");
        assert_eq!(
            http_get_with(addr, "/api/v1/x/status", Some(&h)).await,
            (200, "running".to_owned())
        );
    }
    // Unknown paths and admin routes alike: nothing is learnt without the token.
    assert_eq!(http_get_with(addr, "/nope", None).await.0, 401);
    stop.send(()).expect("signal");
    task.await.expect("join");
}
