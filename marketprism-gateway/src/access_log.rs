//! The access log as a tower layer: one line per request, without query strings or
//! credentials — method, path, status, latency, request id, principal name, client IP.
//!
//! A hand-written layer rather than `axum::middleware::from_fn`: that one boxes a future and
//! clones the whole inner service stack on every request. What the line needs is gathered
//! only when the line will be written (the target is enabled at `info`).

use std::{
    future::Future,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::Request,
    http::{HeaderValue, Method, Uri},
    response::Response,
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::{GatewayState, auth::PrincipalSlot, ratelimit::client_ip};

/// Counts requests for `/_gateway/status` and writes the access log.
#[derive(Clone)]
pub(crate) struct AccessLogLayer {
    state: Arc<GatewayState>,
}

impl AccessLogLayer {
    pub(crate) fn new(state: Arc<GatewayState>) -> Self {
        AccessLogLayer { state }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessLog {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Clone)]
pub(crate) struct AccessLog<S> {
    inner: S,
    state: Arc<GatewayState>,
}

/// What one line needs from the request (cheap clones: method and URI share their bytes).
struct Entry {
    start: Instant,
    method: Method,
    uri: Uri,
    request_id: Option<HeaderValue>,
    client_ip: Option<IpAddr>,
    principal: PrincipalSlot,
}

impl<S> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        self.state.stats.requests.fetch_add(1, Ordering::Relaxed);
        let entry = tracing::enabled!(target: "marketprism_gateway::access", tracing::Level::INFO)
            .then(|| {
                // Filled by the auth layer further in.
                let principal = PrincipalSlot::default();
                req.extensions_mut().insert(principal.clone());
                Entry {
                    start: Instant::now(),
                    method: req.method().clone(),
                    uri: req.uri().clone(),
                    request_id: req.headers().get("x-request-id").cloned(),
                    client_ip: client_ip(&req, &self.state.trusted_proxies),
                    principal,
                }
            });
        AccessLogFuture {
            inner: self.inner.call(req),
            entry,
        }
    }
}

pin_project! {
    /// Future of [`AccessLog`]: the inner response, logged when it is ready.
    pub(crate) struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        entry: Option<Entry>,
    }
}

impl<F, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Some(e), Ok(response)) = (this.entry.take(), &result) {
            tracing::info!(
                target: "marketprism_gateway::access",
                method = %e.method,
                path = e.uri.path(),
                status = response.status().as_u16(),
                latency_us = e.start.elapsed().as_micros() as u64,
                request_id = e.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
                principal = e.principal.get().unwrap_or("-"),
                client_ip = e.client_ip.map(|i| i.to_string()).unwrap_or_default(),
                "request"
            );
        }
        Poll::Ready(result)
    }
}
