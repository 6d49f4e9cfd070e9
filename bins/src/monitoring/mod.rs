//! monitoring-service (port 8083).
use serde::{Deserialize, Serialize};
use crate::common::{DiscoverySection, Result, ServiceSection};
/// Monitoring configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend.
    pub discovery: DiscoverySection,
}
impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig { service: ServiceSection::new("monitoring-service", 8083), discovery: DiscoverySection::default() }
    }
}
/// Runs.
pub async fn run(_c: MonitoringConfig, _l: tokio::net::TcpListener, s: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> { s.await; Ok(()) }
