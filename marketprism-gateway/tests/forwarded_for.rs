//! `X-Forwarded-For` only counts from a trusted proxy, and then its right-most untrusted entry:
//! a client behind the load balancer cannot escape the per-IP limit by writing addresses into
//! the header, and a client connecting directly cannot choose its identity at all.

mod common;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, body::Body, extract::connect_info::MockConnectInfo, http::Request};
use common::{TestUpstream, open_config};
use marketprism_gateway::{
    BusEventSource, StaticUpstreams, Upstream,
    config::{GatewayConfig, RateConfig},
};
use tower::ServiceExt;

async fn app() -> (Router, TestUpstream) {
    let up = TestUpstream::start("s").await;
    let ups = StaticUpstreams::new().with("data-storage-service", Upstream::new("s", &up.url));
    let mut config = open_config();
    config.limits.per_ip = Some(RateConfig {
        per_second: 1,
        burst: 2,
    });
    config.limits.trust_forwarded_for = true;
    config.limits.trusted_proxies = vec!["10.0.0.0/8".to_owned()];
    let app =
        marketprism_gateway::router(config, Arc::new(ups), Arc::new(BusEventSource::default()))
            .expect("router");
    (app, up)
}

async fn status(app: &Router, peer: [u8; 4], forwarded_for: &str) -> u16 {
    app.clone()
        .layer(MockConnectInfo(SocketAddr::from((peer, 40_000))))
        .oneshot(
            Request::get("/api/v1/storage/status")
                .header("x-forwarded-for", forwarded_for)
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible")
        .status()
        .as_u16()
}

#[tokio::test]
async fn spoofed_leftmost_entries_do_not_change_the_limited_identity() {
    let (app, up) = app().await;
    let lb = [10, 0, 0, 2];
    // The same client (203.0.113.9, appended by the load balancer) writes a new address on
    // the left of each request.
    let mut statuses = Vec::new();
    for i in 1..=4 {
        statuses.push(status(&app, lb, &format!("198.51.100.{i}, 203.0.113.9")).await);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    // Another client behind the same load balancer has its own bucket.
    assert_eq!(status(&app, lb, "198.51.100.1, 203.0.113.10").await, 200);
    // Pretending to be a trusted proxy on the left does not help either.
    assert_eq!(status(&app, lb, "10.1.1.1, 203.0.113.9").await, 429);
    // Behind two trusted hops the client is still found.
    assert_eq!(status(&app, lb, "203.0.113.9, 10.0.0.7").await, 429);
    // The upstream sees the chain with the gateway's peer appended.
    let seen = up.seen();
    assert_eq!(
        seen[0].headers["x-forwarded-for"],
        "198.51.100.1, 203.0.113.9, 10.0.0.2"
    );
}

#[tokio::test]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let (app, _) = app().await;
    let direct = [192, 0, 2, 1];
    let mut statuses = Vec::new();
    for i in 1..=3 {
        statuses.push(status(&app, direct, &format!("203.0.113.{i}")).await);
    }
    assert_eq!(statuses, [200, 200, 429], "limited by its own address");
}

#[test]
fn trusted_proxies_are_validated() {
    let mut config = GatewayConfig::default();
    assert!(config.validate().is_ok(), "the defaults parse");
    config.limits.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.0/33".into()];
    let e = config.validate().expect_err("bad prefix");
    assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
    config.limits.trusted_proxies = vec!["lb.internal".into()];
    assert!(config.validate().is_err());
}
