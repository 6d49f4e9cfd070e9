//! Dependency health checks and the `/health` report.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::Serialize;

use crate::sink::{Health, Sink};

/// Something a service depends on (a database, a broker, another service).
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Dependency name as shown on `/health`.
    fn name(&self) -> &str;
    /// Current health. Should answer within a second or two; the runtime times out at 5 s.
    async fn check(&self) -> Health;
}

/// Every sink is a dependency of the service that writes to it.
#[async_trait]
impl<S: Sink + ?Sized> HealthCheck for S {
    fn name(&self) -> &str {
        Sink::name(self)
    }
    async fn check(&self) -> Health {
        self.health().await
    }
}

/// Overall status: the worst of the dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    /// All dependencies healthy.
    Healthy,
    /// Some dependency degraded.
    Degraded,
    /// Some dependency unhealthy.
    Unhealthy,
}

/// The `/health` body.
///
/// Serialized as the original system's consumers read it: a `timestamp` (RFC 3339 UTC, when
/// the report is written) and `dependencies` as a map keyed by name
/// (`{"clickhouse": {"status": "healthy"}}`, with `reason` when not healthy).
///
/// ```
/// use marketprism_core::{runtime::{DependencyHealth, HealthReport, OverallStatus}, sink::Health};
/// let report = HealthReport {
///     service: "data-storage-service".into(),
///     status: OverallStatus::Healthy,
///     version: "1.0.0".into(),
///     uptime_seconds: 5,
///     dependencies: vec![DependencyHealth { name: "clickhouse".into(), health: Health::Healthy }],
/// };
/// let v = serde_json::to_value(&report).unwrap();
/// assert_eq!(v["dependencies"]["clickhouse"]["status"], "healthy");
/// assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
/// ```
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// Service name.
    pub service: String,
    /// Overall status.
    pub status: OverallStatus,
    /// Service version.
    pub version: String,
    /// Seconds since the runtime started.
    pub uptime_seconds: u64,
    /// Each dependency's health.
    pub dependencies: Vec<DependencyHealth>,
}

impl Serialize for HealthReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            service: &'a str,
            status: OverallStatus,
            version: &'a str,
            timestamp: String,
            uptime_seconds: u64,
            dependencies: BTreeMap<&'a str, &'a Health>,
        }
        Wire {
            service: &self.service,
            status: self.status,
            version: &self.version,
            timestamp: rfc3339_utc(crate::model::now_ns()),
            uptime_seconds: self.uptime_seconds,
            dependencies: self
                .dependencies
                .iter()
                .map(|d| (d.name.as_str(), &d.health))
                .collect(),
        }
        .serialize(serializer)
    }
}

/// `2026-01-30T10:00:00.123Z` (RFC 3339, UTC, milliseconds) of a nanosecond timestamp.
pub(crate) fn rfc3339_utc(ts_ns: i64) -> String {
    let (y, m, d) = crate::model::utc_date(ts_ns);
    let ms_of_day = ts_ns.rem_euclid(86_400_000_000_000) / 1_000_000;
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (sec, ms) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}.{ms:03}Z")
}

/// One dependency's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyHealth {
    /// Dependency name.
    pub name: String,
    /// Its health.
    #[serde(flatten)]
    pub health: Health,
}

/// Checks all dependencies concurrently, each bounded by `timeout`.
pub(crate) async fn check_all(
    checks: &[Arc<dyn HealthCheck>],
    timeout: Duration,
) -> (OverallStatus, Vec<DependencyHealth>) {
    let results = futures::future::join_all(checks.iter().map(|c| async move {
        let health = match tokio::time::timeout(timeout, c.check()).await {
            Ok(h) => h,
            Err(_) => Health::Unhealthy {
                reason: format!("health check timed out after {timeout:?}"),
            },
        };
        DependencyHealth {
            name: c.name().to_owned(),
            health,
        }
    }))
    .await;
    let status = results
        .iter()
        .fold(OverallStatus::Healthy, |acc, d| match (&d.health, acc) {
            (Health::Unhealthy { .. }, _) | (_, OverallStatus::Unhealthy) => {
                OverallStatus::Unhealthy
            }
            (Health::Degraded { .. }, _) | (_, OverallStatus::Degraded) => OverallStatus::Degraded,
            _ => OverallStatus::Healthy,
        });
    (status, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_utc(1_738_231_200_123_000_000),
            "2025-01-30T10:00:00.123Z"
        );
    }
}
