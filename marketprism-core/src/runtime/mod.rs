//! The service runtime: an HTTP server on a listener it is given, with `/health`, `/metrics`,
//! request tracing and metrics, the caller's own routes, and graceful shutdown on a future it
//! is given (mini-redis style: the binary passes `ctrl_c()`, tests pass a oneshot).
//!
//! ```no_run
//! use marketprism_core::runtime::Service;
//! use axum::{Router, routing::get};
//!
//! # #[tokio::main] async fn main() -> Result<(), marketprism_core::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
//! Service::builder("data-storage-service")
//!     .version(env!("CARGO_PKG_VERSION"))
//!     .routes(Router::new().route("/api/v1/storage/status", get(|| async { "ok" })))
//!     .build()
//!     .serve(listener, async { let _ = tokio::signal::ctrl_c().await; })
//!     .await
//! # }
//! ```

mod auth;
mod health;
mod layer;
mod metrics;

use std::{future::Future, sync::Arc, time::Duration, time::Instant};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use tower_http::trace::TraceLayer;

pub use auth::{PUBLIC_PATHS, SERVICE_TOKEN_HEADER, ServiceTokens};
pub use health::{DependencyHealth, HealthCheck, HealthReport, OverallStatus};
pub use metrics::{method_label, prometheus};

use crate::Error;

/// A configured service, ready to [`serve`](Service::serve).
pub struct Service {
    name: String,
    version: String,
    checks: Vec<Arc<dyn HealthCheck>>,
    routes: Router,
    health_timeout: Duration,
    tokens: ServiceTokens,
}

/// Builder for [`Service`].
pub struct ServiceBuilder {
    inner: Service,
}

#[derive(Clone)]
struct AppState {
    name: Arc<str>,
    version: Arc<str>,
    started: Instant,
    checks: Arc<[Arc<dyn HealthCheck>]>,
    health_timeout: Duration,
}

impl Service {
    /// Starts building a service called `name`.
    ///
    /// ```
    /// let service = marketprism_core::runtime::Service::builder("monitoring-service").build();
    /// assert_eq!(service.name(), "monitoring-service");
    /// ```
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder {
            inner: Service {
                name: name.into(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                checks: Vec::new(),
                routes: Router::new(),
                health_timeout: Duration::from_secs(5),
                tokens: ServiceTokens::default(),
            },
        }
    }

    /// Service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The complete router (own routes + `/health` + `/metrics` + tracing), for serving
    /// elsewhere or testing without a socket (`tower::ServiceExt::oneshot`).
    pub fn router(self) -> Router {
        let state = AppState {
            name: self.name.into(),
            version: self.version.into(),
            started: Instant::now(),
            checks: self.checks.into(),
            health_timeout: self.health_timeout,
        };
        // Install the recorder before the first request records anything.
        let _ = prometheus();
        let service_name = Arc::clone(&state.name);
        let tokens = self.tokens;
        Router::new()
            .route("/health", get(health_handler))
            .route("/metrics", get(metrics_handler))
            .with_state(state)
            .merge(self.routes)
            // One `layer` call: each adds a boxed level that the router clones per request.
            .layer(
                tower::ServiceBuilder::new()
                    .layer(TraceLayer::new_for_http())
                    .layer(layer::RuntimeLayer::new(service_name, tokens)),
            )
    }

    /// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
    pub async fn serve<F>(self, listener: tokio::net::TcpListener, shutdown: F) -> Result<(), Error>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let name = self.name.clone();
        let addr = listener.local_addr()?;
        tracing::info!(service = %name, %addr, "serving");
        let up = ::metrics::gauge!("marketprism_service_up", "service" => name.clone());
        up.set(1.0);
        // Nagle off: a response written in parts must not wait for the client's delayed ACK.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        up.set(0.0);
        tracing::info!(service = %name, "stopped");
        result.map_err(Error::Io)
    }
}

impl ServiceBuilder {
    /// Sets the version shown on `/health` (defaults to this crate's version).
    ///
    /// ```
    /// let s = marketprism_core::runtime::Service::builder("x").version("1.2.3").build();
    /// # let _ = s;
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.inner.version = version.into();
        self
    }

    /// Adds a dependency whose health `/health` reports.
    ///
    /// ```
    /// # use marketprism_core::{runtime::{Service, HealthCheck}, sink::Health};
    /// struct Db;
    /// #[async_trait::async_trait]
    /// impl HealthCheck for Db {
    ///     fn name(&self) -> &str { "clickhouse" }
    ///     async fn check(&self) -> Health { Health::Healthy }
    /// }
    /// let s = Service::builder("x").dependency(std::sync::Arc::new(Db)).build();
    /// # let _ = s;
    /// ```
    pub fn dependency(mut self, check: Arc<dyn HealthCheck>) -> Self {
        self.inner.checks.push(check);
        self
    }

    /// Adds the service's own routes.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let s = marketprism_core::runtime::Service::builder("x")
    ///     .routes(Router::new().route("/api/v1/x/status", get(|| async { "ok" })))
    ///     .build();
    /// # let _ = s;
    /// ```
    pub fn routes(mut self, routes: Router) -> Self {
        self.inner.routes = self.inner.routes.merge(routes);
        self
    }

    /// Bounds each dependency check (default 5 s).
    ///
    /// ```
    /// let s = marketprism_core::runtime::Service::builder("x")
    ///     .health_timeout(std::time::Duration::from_secs(1))
    ///     .build();
    /// # let _ = s;
    /// ```
    pub fn health_timeout(mut self, timeout: Duration) -> Self {
        self.inner.health_timeout = timeout;
        self
    }

    /// Requires one of `tokens` in [`SERVICE_TOKEN_HEADER`] on every route but
    /// [`PUBLIC_PATHS`] (401 otherwise). Without tokens every caller is accepted.
    ///
    /// ```
    /// use marketprism_core::runtime::{Service, ServiceTokens};
    /// let s = Service::builder("x").service_tokens(ServiceTokens::new(["s3cret"])).build();
    /// # let _ = s;
    /// ```
    pub fn service_tokens(mut self, tokens: ServiceTokens) -> Self {
        self.inner.tokens = tokens;
        self
    }

    /// Finishes the builder.
    pub fn build(self) -> Service {
        self.inner
    }
}

async fn health_handler(State(state): State<AppState>) -> impl IntoResponse {
    let (status, dependencies) = health::check_all(&state.checks, state.health_timeout).await;
    let report = HealthReport {
        service: state.name.to_string(),
        status,
        version: state.version.to_string(),
        uptime_seconds: state.started.elapsed().as_secs(),
        dependencies,
    };
    let code = if status == OverallStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(report))
}

async fn metrics_handler() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus().render(),
    )
}
