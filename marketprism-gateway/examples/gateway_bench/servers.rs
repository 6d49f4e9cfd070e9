//! The three servers of the bench: the upstream, the gateway in front of it, and a bare
//! proxy — the same server and client stack as the gateway (axum on hyper, hyper-util's
//! pooled client) forwarding with no auth, limits, breaker, request ids, logs or metrics —
//! which shows what proxying alone costs on this machine.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Body,
    extract::Request,
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use marketprism_gateway::{BusEventSource, Role, StaticUpstreams, Upstream, config::GatewayConfig};
use tokio::net::TcpListener;

use super::{API_KEY, BoxError, FAST, SLOW};

/// The bench upstream: the instant and the sleeping route.
pub(crate) async fn start_upstream(addr: &str, service: Duration) -> Result<SocketAddr, BoxError> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let body = || Json(serde_json::json!({"status": "ok", "service": "data-storage-service"}));
    let app = Router::new()
        .route(FAST, get(move || async move { body() }))
        .route(
            SLOW,
            get(move || async move {
                // A blocking-pool thread sleeps with the kernel's µs precision. tokio's timer
                // has 1 ms ticks: sleeping requests would all wake on tick edges together, and
                // the bursts queue on the shared cores, turning any added latency into whole
                // ticks — an artifact of the simulation, not of the service time.
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(service)).await;
                body()
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(local)
}

/// A gateway (API-key auth on, rate limits off) in front of `upstream`, served like the real
/// one ([`marketprism_gateway::serve`]: core runtime with metrics and trace layers).
pub(crate) async fn start_gateway(addr: &str, upstream: &str) -> Result<SocketAddr, BoxError> {
    let config =
        GatewayConfig::default()
            .without_rate_limits()
            .api_key("bench", API_KEY, &[Role::Read]);
    let upstreams =
        StaticUpstreams::new().with("data-storage-service", Upstream::new("s1", upstream));
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(marketprism_gateway::serve(
        listener,
        config,
        Arc::new(upstreams),
        Arc::new(BusEventSource::default()),
        std::future::pending(),
    ));
    Ok(local)
}

/// The bare proxy in front of `upstream` (`http://host:port`).
pub(crate) async fn start_bare_proxy(addr: &str, upstream: &str) -> Result<SocketAddr, BoxError> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Body> =
        Client::builder(TokioExecutor::new()).build(connector);
    let base: Arc<str> = upstream.trim_end_matches('/').into();
    let app = Router::new().fallback(move |req: Request| {
        let (client, base) = (client.clone(), Arc::clone(&base));
        async move { forward(&client, &base, req).await }
    });
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(local)
}

async fn forward(client: &Client<HttpConnector, Body>, base: &str, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match Uri::try_from(format!("{base}{path}")) {
        Ok(uri) => uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    parts.headers.remove(axum::http::header::HOST);
    match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(Body::new),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
