//! Dependency health checks and the `/health` report.

use std::{sync::Arc, time::Duration};

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
#[derive(Debug, Clone, Serialize)]
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
