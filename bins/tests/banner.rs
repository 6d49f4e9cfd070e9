//! Issue 16 item 3: every URL `marketprism demo` / `run` prints works as printed — it parses
//! as a strict HTTP request target (a raw `>` used to be refused by the HTTP parser with an
//! empty 400).

use marketprism_bins::{
    broker::BrokerConfig, collector::CollectorConfig, gateway_service::GatewayServiceConfig,
    monitoring::MonitoringConfig, platform::PlatformConfigs, scheduler::SchedulerConfig,
    storage_service::StorageConfig,
};

#[test]
fn banner_urls_are_valid_as_printed() {
    let configs = PlatformConfigs {
        gateway: GatewayServiceConfig::default(),
        collector: CollectorConfig::default(),
        storage: StorageConfig::default(),
        monitoring: MonitoringConfig::default(),
        scheduler: SchedulerConfig::default(),
        broker: BrokerConfig::default(),
    };
    let banner = marketprism_bins::platform::banner(&configs);
    let urls: Vec<&str> = banner
        .split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("ws://"))
        .collect();
    assert!(
        urls.iter()
            .any(|u| u.contains("/ws/v1/stream?subjects=trade.%3E")),
        "{banner}"
    );
    for url in urls {
        let uri: axum::http::Uri = url
            .parse()
            .unwrap_or_else(|e| panic!("`{url}` as printed is not a valid URI: {e}"));
        assert!(uri.host().is_some(), "{url}");
    }
}
