//! 429 with Retry-After (per key, per IP), 413 for large bodies, CORS preflight.

mod common;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::connect_info::MockConnectInfo,
    http::{Request, StatusCode},
};
use common::{TestGateway, TestUpstream, http, open_config};
use marketprism_gateway::{
    BusEventSource, Role, StaticUpstreams, Upstream,
    config::{GatewayConfig, RateConfig},
};
use tower::ServiceExt;

async fn upstreams() -> (StaticUpstreams, TestUpstream) {
    let up = TestUpstream::start("s").await;
    let ups = StaticUpstreams::new().with("data-storage-service", Upstream::new("s", &up.url));
    (ups, up)
}

fn app(config: GatewayConfig, ups: StaticUpstreams) -> Router {
    marketprism_gateway::router(config, Arc::new(ups), Arc::new(BusEventSource::default()))
        .expect("router")
}

async fn get(app: &Router, key: Option<&str>, ip: [u8; 4]) -> axum::response::Response {
    let mut req = Request::get("/api/v1/storage/status");
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    app.clone()
        .layer(MockConnectInfo(SocketAddr::from((ip, 40_000))))
        .oneshot(req.body(Body::empty()).expect("req"))
        .await
        .expect("infallible")
}

#[tokio::test]
async fn per_key_limit_answers_429_with_retry_after() {
    let (ups, up) = upstreams().await;
    let mut config =
        open_config()
            .api_key("bot-a", "ka", &[Role::Read])
            .api_key("bot-b", "kb", &[Role::Read]);
    config.auth.enabled = true;
    config.limits.per_key = Some(RateConfig {
        per_second: 1,
        burst: 3,
    });
    let app = app(config, ups);
    for _ in 0..3 {
        assert_eq!(get(&app, Some("ka"), [10, 0, 0, 1]).await.status(), 200);
    }
    let limited = get(&app, Some("ka"), [10, 0, 0, 2]).await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "same key from another IP"
    );
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Another key has its own bucket.
    assert_eq!(get(&app, Some("kb"), [10, 0, 0, 1]).await.status(), 200);
    assert_eq!(up.hits(), 4, "limited requests never reach the upstream");
}

#[tokio::test]
async fn per_ip_limit_applies_before_auth() {
    let (ups, _up) = upstreams().await;
    let mut config = open_config().api_key("bot", "k", &[Role::Read]);
    config.auth.enabled = true;
    config.limits.per_ip = Some(RateConfig {
        per_second: 1,
        burst: 2,
    });
    let app = app(config, ups);
    let ip = [192, 168, 1, 7];
    assert_eq!(get(&app, None, ip).await.status(), 401);
    assert_eq!(get(&app, Some("k"), ip).await.status(), 200);
    let limited = get(&app, Some("k"), ip).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Failed logins are limited too.
    assert_eq!(get(&app, None, ip).await.status(), 429);
    // Another IP is unaffected.
    assert_eq!(get(&app, Some("k"), [192, 168, 1, 8]).await.status(), 200);
}

#[tokio::test]
async fn per_ip_limit_over_a_real_socket() {
    let (ups, _up) = upstreams().await;
    let mut config = open_config();
    config.limits.per_ip = Some(RateConfig {
        per_second: 1,
        burst: 5,
    });
    let gw = TestGateway::start(config, Arc::new(ups), Arc::new(BusEventSource::default())).await;
    let client = http();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = client
            .get(format!("{}/api/v1/storage/status", gw.url))
            .send()
            .await
            .expect("send");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn large_bodies_get_413() {
    let (ups, up) = upstreams().await;
    let mut config = open_config();
    config.limits.body_bytes = 1024;
    let gw = TestGateway::start(config, Arc::new(ups), Arc::new(BusEventSource::default())).await;
    let client = http();
    let url = format!("{}/api/v1/storage/write", gw.url);

    let ok = client
        .post(&url)
        .body(vec![b'x'; 1024])
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    // Declared length over the limit.
    let big = client
        .post(&url)
        .body(vec![b'x'; 1025])
        .send()
        .await
        .expect("send");
    assert_eq!(big.status(), 413);
    // Chunked body (no Content-Length) that grows over the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b'y'; 512])).collect();
    let streamed = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("send");
    assert_eq!(streamed.status(), 413);
    assert_eq!(up.hits(), 1, "oversized bodies never reach the upstream");
}

#[tokio::test]
async fn cors_preflight_is_answered_without_credentials() {
    let (ups, _up) = upstreams().await;
    let mut config = open_config().api_key("bot", "k", &[Role::Read]);
    config.auth.enabled = true;
    config.cors.allowed_origins = vec!["https://dash.example".to_owned()];
    let app = app(config, ups);
    let response = app
        .clone()
        .oneshot(
            Request::options("/api/v1/storage/status")
                .header("origin", "https://dash.example")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "x-api-key")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    let other = app
        .oneshot(
            Request::get("/api/v1/storage/status")
                .header("origin", "https://evil.example")
                .header("x-api-key", "k")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}
