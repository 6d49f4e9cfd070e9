//! scheduler-service (port 8084).
use serde::{Deserialize, Serialize};
use crate::common::{DiscoverySection, Result, ServiceSection};
/// Scheduler configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend.
    pub discovery: DiscoverySection,
}
impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { service: ServiceSection::new("scheduler-service", 8084), discovery: DiscoverySection::default() }
    }
}
/// Runs.
pub async fn run(_c: SchedulerConfig, _l: tokio::net::TcpListener, s: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> { s.await; Ok(()) }
