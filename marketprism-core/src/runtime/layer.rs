//! The runtime's per-request layer: the service credential check and the request metrics, in
//! one tower service with a named future.
//!
//! Two `axum::middleware::from_fn` layers did this before. Each boxed its future and cloned
//! the whole inner service stack on every request (and, applied with separate `layer` calls,
//! each added a boxed level that axum's router clones per request too); the metric handles
//! were looked up in the registry with five freshly allocated label strings. Here the handles
//! are resolved once per (route, method, status) and a request costs one uncontended read-lock,
//! a map lookup by the route template and two atomic updates.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{Arc, PoisonError, RwLock},
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use metrics::{Counter, Histogram};
use pin_project_lite::pin_project;

use super::{ServiceTokens, auth, metrics::method_label};

/// The route label of requests no route matched (a 404, or a fallback).
const UNMATCHED: &str = "unmatched";

/// Adds [`RuntimeService`] around every route.
#[derive(Clone)]
pub(crate) struct RuntimeLayer {
    shared: Arc<Shared>,
}

struct Shared {
    tokens: ServiceTokens,
    metrics: RequestMetrics,
}

impl RuntimeLayer {
    pub(crate) fn new(service: Arc<str>, tokens: ServiceTokens) -> Self {
        RuntimeLayer {
            shared: Arc::new(Shared {
                tokens,
                metrics: RequestMetrics {
                    service,
                    routes: RwLock::default(),
                },
            }),
        }
    }
}

impl<S> tower::Layer<S> for RuntimeLayer {
    type Service = RuntimeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RuntimeService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// 401 without an accepted service credential (except on the public paths); counts and times
/// every request, the refused ones included.
#[derive(Clone)]
pub(crate) struct RuntimeService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> tower::Service<Request> for RuntimeService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RuntimeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        // The matched route template, not the raw path, keeps label cardinality bounded.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = method_label(req.method());
        let state = match auth::refusal(&self.shared.tokens, &req) {
            Some(refused) => State::Refused {
                response: Some(refused),
            },
            None => State::Inner {
                future: self.inner.call(req),
            },
        };
        RuntimeFuture {
            state,
            start,
            route,
            method,
            shared: Arc::clone(&self.shared),
        }
    }
}

pin_project! {
    /// The response future of [`RuntimeService`].
    pub(crate) struct RuntimeFuture<F> {
        #[pin]
        state: State<F>,
        start: Instant,
        route: Option<MatchedPath>,
        method: &'static str,
        shared: Arc<Shared>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
    }
}

impl<F> Future for RuntimeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            StateProj::Inner { future } => match future.poll(cx) {
                Poll::Ready(Ok(response)) => response,
                Poll::Ready(Err(never)) => match never {},
                Poll::Pending => return Poll::Pending,
            },
            StateProj::Refused { response } => response.take().unwrap_or_default(),
        };
        let route = this.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        this.shared.metrics.record(
            route,
            this.method,
            response.status().as_u16(),
            this.start.elapsed().as_secs_f64(),
        );
        Poll::Ready(Ok(response))
    }
}

/// `marketprism_http_requests_total` and `marketprism_http_request_duration_seconds` handles,
/// created on first use. The label set is bounded as before: routes are the router's
/// templates (or `unmatched`), methods the nine standard ones (or `other`).
struct RequestMetrics {
    service: Arc<str>,
    routes: RwLock<HashMap<Box<str>, RouteMetrics>>,
}

struct RouteMetrics {
    duration: Histogram,
    /// By (method, status): a handful per route, scanned linearly.
    counters: Vec<(&'static str, u16, Counter)>,
}

impl RequestMetrics {
    fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if routes
                .get(route)
                .is_some_and(|m| m.record(method, status, seconds))
            {
                return;
            }
        }
        // First request of this route, method or status: create the handles.
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let metrics = routes.entry(route.into()).or_insert_with(|| RouteMetrics {
            duration: ::metrics::histogram!("marketprism_http_request_duration_seconds",
                "service" => self.service.to_string(), "route" => route.to_owned()),
            counters: Vec::new(),
        });
        if !metrics.record(method, status, seconds) {
            let counter = ::metrics::counter!("marketprism_http_requests_total",
                "service" => self.service.to_string(), "method" => method,
                "route" => route.to_owned(), "status" => status.to_string());
            counter.increment(1);
            metrics.duration.record(seconds);
            metrics.counters.push((method, status, counter));
        }
    }
}

impl RouteMetrics {
    /// Records the request if its counter exists already.
    fn record(&self, method: &'static str, status: u16, seconds: f64) -> bool {
        let Some((_, _, counter)) = self
            .counters
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
        else {
            return false;
        };
        counter.increment(1);
        self.duration.record(seconds);
        true
    }
}
