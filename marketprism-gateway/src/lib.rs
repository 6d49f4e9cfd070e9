//! # marketprism-gateway
//!
//! The platform's single entry point, as tower layers around an axum (hyper) service:
//!
//! - **routing** — `/api/v1/{service}/…` by a configurable prefix table ([`config`]) to an
//!   instance found through an [`Upstreams`] resolver (discovery, or [`StaticUpstreams`]),
//!   by smooth weighted round-robin ([`marketprism_core::balance`]) over healthy instances whose circuit
//!   [`breaker`] admits the request; timeouts and retries on another instance for idempotent
//!   methods ([`proxy`]);
//! - **auth** — API keys (stored hashed) and JWT (HS256, RS256) with `read`/`admin` roles
//!   ([`auth`]);
//! - **limits** — per-IP and per-key token buckets → 429 with `Retry-After` ([`ratelimit`]),
//!   request body limit → 413, CORS, `X-Request-Id` generated or kept and propagated, an
//!   access log without secrets;
//! - **live data** — `GET /ws/v1/stream?subjects=…` streams normalized events from an
//!   [`EventSource`] (the in-process bus or NATS) with a bounded buffer per client ([`ws`]);
//! - **status** — `/_gateway/status`, `/_gateway/services`, `/_gateway/openapi.json` ([`status`]); `/health` and
//!   `/metrics` come from the core service runtime when served with [`serve`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use marketprism_core::bus::Bus;
//! use marketprism_gateway::{config::GatewayConfig, BusEventSource, Role, StaticUpstreams};
//!
//! # #[tokio::main] async fn main() -> Result<(), marketprism_gateway::GatewayError> {
//! let config = GatewayConfig::default()
//!     .upstream("data-storage-service", "storage-1", "http://127.0.0.1:8082", 1)
//!     .api_key("grafana", "read-only-key", &[Role::Read]);
//! let upstreams = Arc::new(StaticUpstreams::from_config(&config));
//! let events = Arc::new(BusEventSource::new(Bus::new()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! marketprism_gateway::serve(listener, config, upstreams, events, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod access_log;
pub mod auth;
pub mod breaker;
pub mod config;
mod error;
pub mod events;
mod future;
mod lenient;
pub mod proxy;
pub mod ratelimit;
mod request_id;
pub mod status;
mod upstream;
pub mod ws;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderName, HeaderValue, Method, Request, Response},
    routing::get,
};
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
};

pub use auth::Role;
pub use error::GatewayError;
#[cfg(feature = "nats")]
pub use events::NatsEventSource;
pub use events::{BusEventSource, EventSource, EventStream};
pub use upstream::{StaticUpstreams, Upstream, Upstreams};

use marketprism_core::balance::Balancer;

use crate::{
    access_log::AccessLogLayer,
    auth::{AuthLayer, Authenticator},
    breaker::BreakerRegistry,
    config::{CorsConfig, GatewayConfig},
    ratelimit::RateLimitLayer,
    request_id::MakeRandomUuid,
};

/// Counters shown on `/_gateway/status`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) ws_clients: AtomicUsize,
    pub(crate) ws_events_sent: AtomicU64,
    pub(crate) ws_slow_disconnects: AtomicU64,
}

/// Everything the handlers share.
pub(crate) struct GatewayState {
    pub(crate) config: GatewayConfig,
    pub(crate) upstreams: Arc<dyn Upstreams>,
    pub(crate) events: Arc<dyn EventSource>,
    pub(crate) balancer: Balancer,
    pub(crate) breakers: BreakerRegistry,
    /// Per-instance breaker and metric handles, resolved once.
    pub(crate) instances: proxy::Instances,
    pub(crate) client: proxy::UpstreamClient,
    /// `proxy.service_token` as a (sensitive) header value.
    pub(crate) service_token: Option<HeaderValue>,
    /// Whose `X-Forwarded-For` names the client (`limits.trusted_proxies`).
    pub(crate) trusted_proxies: ratelimit::TrustedProxies,
    /// Live WebSocket connections per client IP (`ws.max_connections_per_ip`).
    pub(crate) ws_per_ip: ws::PerIp,
    pub(crate) started: Instant,
    pub(crate) stats: Stats,
    /// Set to true when the server shuts down: live clients are closed with 1001.
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
}

/// The gateway's router: `/_gateway/status`, `/_gateway/services`, `/ws/v1/stream` and the
/// proxy for every other path, behind request ids, access log, CORS, per-IP limit, auth,
/// per-key limit and body limit (in that order, outermost first).
///
/// `/health` and `/metrics` are not included: [`serve`] merges this router into the core
/// service runtime, which provides them. Fails on invalid config (a bad key, origin, ...).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use axum::{body::Body, http::{Request, StatusCode}};
/// use tower::ServiceExt;
/// use marketprism_gateway::{config::GatewayConfig, BusEventSource, StaticUpstreams};
/// let app = marketprism_gateway::router(
///     GatewayConfig::default(),
///     Arc::new(StaticUpstreams::new()),
///     Arc::new(BusEventSource::default()),
/// )?;
/// let response = app
///     .oneshot(Request::get("/api/v1/storage/status").body(Body::empty())?)
///     .await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(()) }
/// ```
pub fn router(
    config: GatewayConfig,
    upstreams: Arc<dyn Upstreams>,
    events: Arc<dyn EventSource>,
) -> Result<Router, GatewayError> {
    build(config, upstreams, events).map(|(router, _)| router)
}

impl GatewayConfig {
    /// Checks everything [`serve`] would build from this config (API-key hashes, JWT keys,
    /// CORS origins, trusted-proxy CIDRs, the service token, the upstream client), so a bad
    /// value fails before anything listens.
    ///
    /// ```
    /// let mut c = marketprism_gateway::config::GatewayConfig::default();
    /// assert!(c.validate().is_ok());
    /// c.cors.allowed_origins = vec!["bad\norigin".into()];
    /// assert!(c.validate().unwrap_err().to_string().contains("cors origin"));
    /// ```
    pub fn validate(&self) -> Result<(), GatewayError> {
        Authenticator::new(&self.auth)?;
        cors_layer(&self.cors)?;
        proxy::UpstreamClient::new(&self.proxy)?;
        proxy::service_token(&self.proxy)?;
        ratelimit::TrustedProxies::from_config(&self.limits)?;
        Ok(())
    }
}

fn build(
    config: GatewayConfig,
    upstreams: Arc<dyn Upstreams>,
    events: Arc<dyn EventSource>,
) -> Result<(Router, Arc<GatewayState>), GatewayError> {
    let auth = Authenticator::new(&config.auth)?;
    let cors = cors_layer(&config.cors)?;
    let client = proxy::UpstreamClient::new(&config.proxy)?;
    let service_token = proxy::service_token(&config.proxy)?;
    let trusted_proxies = ratelimit::TrustedProxies::from_config(&config.limits)?;
    let per_ip = config
        .limits
        .per_ip
        .map(|r| RateLimitLayer::per_ip(r, trusted_proxies.clone()));
    let per_key = config.limits.per_key.map(RateLimitLayer::per_key);
    let body_limit = config.limits.body_bytes;
    let balancer = Balancer::with_strategy(config.proxy.balance);
    let state = Arc::new(GatewayState {
        breakers: BreakerRegistry::new(config.breaker),
        instances: proxy::Instances::default(),
        config,
        upstreams,
        events,
        balancer,
        client,
        service_token,
        trusted_proxies,
        ws_per_ip: ws::PerIp::default(),
        started: Instant::now(),
        stats: Stats::default(),
        shutdown: tokio::sync::watch::Sender::new(false),
    });
    let x_request_id = HeaderName::from_static("x-request-id");
    let router = Router::new()
        .route("/_gateway/status", get(status::status))
        .route("/_gateway/services", get(status::services))
        .route("/_gateway/openapi.json", get(status::openapi))
        .route("/ws/v1/stream", get(ws::handler).fallback(ws::wrong_method))
        .fallback(proxy::handler)
        .with_state(Arc::clone(&state))
        // One `layer` call: each one boxes the service and its future once more per request.
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRandomUuid))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(AccessLogLayer::new(Arc::clone(&state)))
                .option_layer(cors)
                .option_layer(per_ip)
                .layer(AuthLayer::new(auth))
                .option_layer(per_key)
                // Innermost; it changes the body types, mapped back to `Body` around it.
                .map_response(|r: Response<tower_http::limit::ResponseBody<Body>>| r.map(Body::new))
                .layer(RequestBodyLimitLayer::new(body_limit))
                .map_request(|r: Request<tower_http::body::Limited<Body>>| r.map(Body::new)),
        );
    Ok((router, state))
}

/// Serves the gateway on `listener` inside the core service runtime (which adds `/health`
/// and `/metrics`) until `shutdown` completes, then drains in-flight requests and closes
/// live WebSocket clients with code 1001.
///
/// Client addresses are taken from the TCP peer (for the per-IP limit and the access log).
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    config: GatewayConfig,
    upstreams: Arc<dyn Upstreams>,
    events: Arc<dyn EventSource>,
    shutdown: F,
) -> Result<(), GatewayError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let name = config.name.clone();
    let (routes, state) = build(config, upstreams, events)?;
    let app = marketprism_core::runtime::Service::builder(name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .routes(routes)
        .build()
        .router();
    let addr = listener.local_addr()?;
    tracing::info!(service = %name, %addr, "gateway serving");
    let up = metrics::gauge!("marketprism_service_up", "service" => name.clone());
    up.set(1.0);
    // The peer address reaches the limits and the access log as `ConnectInfo<PeerAddr>`
    // ([`ratelimit::peer_ip`]), as axum inserts it: not copied into a second extension.
    let result = axum::serve(
        lenient::LenientListener(listener),
        app.into_make_service_with_connect_info::<lenient::PeerAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        // Upgraded (WebSocket) connections are not drained by the server: tell them.
        state.shutdown.send_replace(true);
    })
    .await;
    up.set(0.0);
    tracing::info!(service = %name, "gateway stopped");
    result.map_err(GatewayError::Io)
}

fn cors_layer(config: &CorsConfig) -> Result<Option<CorsLayer>, GatewayError> {
    if config.allowed_origins.is_empty() {
        return Ok(None);
    }
    let origin = if config.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = config
            .allowed_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|e| GatewayError::config_with(format!("cors origin `{o}`"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    let methods = config
        .allowed_methods
        .iter()
        .map(|m| {
            Method::from_bytes(m.as_bytes())
                .map_err(|e| GatewayError::config_with(format!("cors method `{m}`"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let headers = config
        .allowed_headers
        .iter()
        .map(|h| {
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|e| GatewayError::config_with(format!("cors header `{h}`"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods(methods)
            .allow_headers(headers)
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("retry-after"),
            ])
            .max_age(Duration::from_secs(config.max_age_secs)),
    ))
}
