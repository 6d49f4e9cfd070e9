//! Process-wide Prometheus recorder (`metrics` + `metrics-exporter-prometheus`).

use std::sync::OnceLock;

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
