//! The four metrics of the original discovery module, through the `metrics` facade (exported
//! by whatever recorder the service installs, e.g. core's Prometheus `/metrics`).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `service_discovery_registrations_total` | counter | `service`, `backend` |
//! | `service_discovery_discoveries_total` | counter | `service`, `result` (`ok`, `stale`, `error`) |
//! | `service_discovery_health_checks_total` | counter | `service`, `result` (`healthy`, `unhealthy`) |
//! | `service_discovery_instances_active` | gauge | `service` (routable instances last seen) |

/// Registrations (first registrations and re-registrations after a lost lease).
pub const REGISTRATIONS_TOTAL: &str = "service_discovery_registrations_total";
/// Discovery lookups.
pub const DISCOVERIES_TOTAL: &str = "service_discovery_discoveries_total";
/// Active HTTP health checks.
pub const HEALTH_CHECKS_TOTAL: &str = "service_discovery_health_checks_total";
/// Routable instances per service.
pub const INSTANCES_ACTIVE: &str = "service_discovery_instances_active";

/// Describes the metrics to the installed recorder (idempotent).
pub fn describe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(REGISTRATIONS_TOTAL, "Service registrations");
        metrics::describe_counter!(DISCOVERIES_TOTAL, "Service discovery lookups");
        metrics::describe_counter!(HEALTH_CHECKS_TOTAL, "Active HTTP health checks");
        metrics::describe_gauge!(INSTANCES_ACTIVE, "Routable instances per service");
    });
}

pub(crate) fn registration(service: &str, backend: &'static str) {
    metrics::counter!(REGISTRATIONS_TOTAL, "service" => service.to_owned(), "backend" => backend)
        .increment(1);
}

pub(crate) fn discovery(service: &str, result: &'static str) {
    metrics::counter!(DISCOVERIES_TOTAL, "service" => service.to_owned(), "result" => result)
        .increment(1);
}

pub(crate) fn health_check(service: &str, healthy: bool) {
    let result = if healthy { "healthy" } else { "unhealthy" };
    metrics::counter!(HEALTH_CHECKS_TOTAL, "service" => service.to_owned(), "result" => result)
        .increment(1);
}

pub(crate) fn instances_active(service: &str, n: usize) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(INSTANCES_ACTIVE, "service" => service.to_owned()).set(n as f64);
}
