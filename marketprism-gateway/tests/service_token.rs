//! The gateway sends the service credential the services behind it require: an upstream
//! built with `Service::builder(..).service_tokens(..)` answers through the gateway, a
//! client-sent token is replaced, and without `proxy.service_token` the upstream answers 401
//! (a client cannot supply the token itself). The gateway's own routes never ask for it.

mod common;

use std::sync::{Arc, Mutex};

use axum::{Json, Router, http::HeaderMap, routing::get};
use common::{TestGateway, http, open_config};
use marketprism_core::runtime::{SERVICE_TOKEN_HEADER, Service, ServiceTokens};
use marketprism_gateway::{
    BusEventSource, Role, StaticUpstreams, Upstream,
    config::{GatewayConfig, Secret},
};
use tokio::net::TcpListener;

const TOKEN: &str = "svc-token-0123456789abcdef";

/// A service on the core runtime that requires `TOKEN`; records the tokens it was sent.
async fn protected_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&seen);
    let routes = Router::new().route(
        "/api/v1/storage/status",
        get(move |headers: HeaderMap| {
            let record = Arc::clone(&record);
            async move {
                let token = headers
                    .get(SERVICE_TOKEN_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                record.lock().expect("lock").push(token);
                Json(serde_json::json!({ "ok": true }))
            }
        }),
    );
    let app = Service::builder("data-storage-service")
        .routes(routes)
        .service_tokens(ServiceTokens::new([TOKEN, "old-token-0123456789abcdef"]))
        .build()
        .router();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

async fn gateway(config: GatewayConfig, upstream: &str) -> TestGateway {
    let ups = StaticUpstreams::new().with("data-storage-service", Upstream::new("s", upstream));
    TestGateway::start(config, Arc::new(ups), Arc::new(BusEventSource::default())).await
}

#[tokio::test]
async fn the_configured_token_reaches_the_upstream_and_replaces_the_clients() {
    let (url, seen) = protected_upstream().await;
    let client = http();
    // Directly, without the token: refused (the premise).
    let direct = client
        .get(format!("{url}/api/v1/storage/status"))
        .send()
        .await
        .expect("send");
    assert_eq!(direct.status(), 401);

    let mut config = open_config();
    config.proxy.service_token = Some(Secret::new(TOKEN));
    let gw = gateway(config, &url).await;
    let through = client
        .get(format!("{}/api/v1/storage/status", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(through.status(), 200);
    // A client's own value never reaches the upstream: the configured one replaces it.
    let spoofed = client
        .get(format!("{}/api/v1/storage/status", gw.url))
        .header(SERVICE_TOKEN_HEADER, "client-guess-0123456789abcdef")
        .send()
        .await
        .expect("send");
    assert_eq!(spoofed.status(), 200);
    assert_eq!(*seen.lock().expect("lock"), [TOKEN, TOKEN]);
}

#[tokio::test]
async fn without_the_config_the_upstream_refuses_even_a_client_sent_token() {
    let (url, seen) = protected_upstream().await;
    let gw = gateway(open_config(), &url).await;
    let client = http();
    for token in [None, Some(TOKEN)] {
        let mut req = client.get(format!("{}/api/v1/storage/status", gw.url));
        if let Some(t) = token {
            req = req.header(SERVICE_TOKEN_HEADER, t);
        }
        let r = req.send().await.expect("send");
        assert_eq!(r.status(), 401, "client token {token:?}");
        let body = r.text().await.expect("body");
        assert!(body.contains("x-marketprism-service-token"), "{body}");
    }
    assert!(seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn the_gateways_own_routes_need_no_service_token() {
    let (url, _) = protected_upstream().await;
    let mut config =
        GatewayConfig::default()
            .without_rate_limits()
            .api_key("bot", "user-key", &[Role::Read]);
    config.proxy.service_token = Some(Secret::new(TOKEN));
    let gw = gateway(config, &url).await;
    let client = http();
    for path in ["/health", "/metrics"] {
        let r = client
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{path}");
    }
    for path in ["/_gateway/status", "/api/v1/storage/status"] {
        let r = client
            .get(format!("{}{path}", gw.url))
            .header("x-api-key", "user-key")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{path} with a user API key only");
    }
}

#[test]
fn the_token_is_validated_and_never_printed() {
    let mut config = GatewayConfig::default();
    config.proxy.service_token = Some(Secret::new("bad\ntoken-0123456789"));
    let e = config.validate().expect_err("not a header value");
    assert!(e.to_string().contains("proxy.service_token"), "{e}");
    assert!(!e.to_string().contains("token-0123456789"), "{e}");
    config.proxy.service_token = Some(Secret::new(TOKEN));
    assert!(config.validate().is_ok());
    assert!(!format!("{config:?}").contains(TOKEN));
}
