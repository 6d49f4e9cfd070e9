//! [`RateLimitLayer`] and [`RateLimitService`].

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};
use tower::{Layer, Service};

use super::{KeyedLimiter, LimitKey, Scope, TrustedProxies, client_ip};
use crate::{
    GatewayError,
    auth::{AuthMethod, Principal},
    config::RateConfig,
    future::ResponseFuture,
};

/// Rejects requests over a per-IP or per-key token bucket with 429 and `Retry-After`.
///
/// ```
/// use marketprism_gateway::{config::RateConfig, ratelimit::{RateLimitLayer, TrustedProxies}};
/// use axum::{Router, routing::get};
/// let app: Router = Router::new()
///     .route("/x", get(|| async { "ok" }))
///     .layer(RateLimitLayer::per_ip(RateConfig { per_second: 10, burst: 20 }, TrustedProxies::default()));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Arc<KeyedLimiter>,
    scope: Scope,
    trusted: TrustedProxies,
}

impl RateLimitLayer {
    /// Limits per client IP ([`client_ip`]: `X-Forwarded-For` only from `trusted` peers).
    pub fn per_ip(rate: RateConfig, trusted: TrustedProxies) -> Self {
        RateLimitLayer {
            limiter: Arc::new(KeyedLimiter::new(rate)),
            scope: Scope::Ip,
            trusted,
        }
    }

    /// Limits per authenticated principal; must run after [`AuthLayer`](crate::auth::AuthLayer).
    ///
    /// ```
    /// use marketprism_gateway::{config::RateConfig, ratelimit::RateLimitLayer};
    /// let layer = RateLimitLayer::per_key(RateConfig { per_second: 5, burst: 5 });
    /// # let _ = layer;
    /// ```
    pub fn per_key(rate: RateConfig) -> Self {
        RateLimitLayer {
            limiter: Arc::new(KeyedLimiter::new(rate)),
            scope: Scope::Key,
            trusted: TrustedProxies::default(),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> Service<Request> for RateLimitService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let key = match self.layer.scope {
            // Requests without a peer address (in-process tests) share one bucket.
            Scope::Ip => Some(LimitKey::Ip(
                client_ip(&req, &self.layer.trusted).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            )),
            Scope::Key => req
                .extensions()
                .get::<Principal>()
                .filter(|p| p.method != AuthMethod::Anonymous)
                .map(|p| LimitKey::Principal(Arc::clone(&p.name))),
        };
        if let Some(key) = key
            && let Err(retry_after) = self.layer.limiter.check(&key)
        {
            metrics::counter!("marketprism_gateway_rate_limited_total", "scope" => self.layer.scope.as_str())
                    .increment(1);
            return ResponseFuture::rejected(
                GatewayError::RateLimited {
                    scope: self.layer.scope.as_str(),
                    retry_after,
                }
                .into_response(),
            );
        }
        ResponseFuture::inner(self.inner.call(req))
    }
}
