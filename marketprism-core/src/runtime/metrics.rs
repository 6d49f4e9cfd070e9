//! Process-wide Prometheus recorder (`metrics` + `metrics-exporter-prometheus`).

use std::sync::OnceLock;

use axum::http::Method;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the global recorder on first use.
///
/// Every service in a process shares it (the all-in-one binary renders one exposition, with a
/// `service` label where it matters). If another recorder was installed first, a detached
/// recorder is returned, whose exposition is empty.
///
/// ```
/// let handle = marketprism_core::runtime::prometheus();
/// metrics::counter!("doc_example_total").increment(1);
/// assert!(handle.render().contains("doc_example_total"));
/// ```
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            describe();
        }
        handle
    })
}

/// The `method` label of a request: one of the nine standard methods, or `other`.
///
/// The method is chosen by the client (`curl -X ANYTHING`), so it must never become a label
/// value as sent: every distinct value would create new series, without bound.
///
/// ```
/// use axum::http::Method;
/// use marketprism_core::runtime::method_label;
/// assert_eq!(method_label(&Method::GET), "GET");
/// assert_eq!(method_label(&Method::from_bytes(b"MXYZ").unwrap()), "other");
/// ```
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

fn describe() {
    metrics::describe_counter!(
        "marketprism_http_requests_total",
        "HTTP requests served, by service, method, route and status"
    );
    metrics::describe_histogram!(
        "marketprism_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency, by service and route"
    );
    metrics::describe_gauge!(
        "marketprism_service_up",
        "1 while the service's HTTP runtime is serving"
    );
    metrics::describe_counter!(
        "marketprism_bus_published_total",
        "Events published on the in-process bus"
    );
    metrics::describe_counter!(
        "marketprism_bus_full_total",
        "Deliveries refused because a subscriber's buffer was full (try_publish)"
    );
    metrics::describe_gauge!(
        "marketprism_bus_subscriptions",
        "Live subscriptions on the in-process bus"
    );
}
