//! Every configuration key of every service is documented: the key paths of each service's
//! default configuration (plus the items of its lists) must appear in docs/configuration.md
//! (gateway policy keys may instead be in docs/gateway.md, without their `gateway.` prefix).

use marketprism_bins::{
    broker::BrokerConfig, collector::CollectorConfig, gateway_service::GatewayServiceConfig,
    monitoring::MonitoringConfig, scheduler::SchedulerConfig, storage_service::StorageConfig,
};
use serde_json::Value;

/// Dotted paths of every leaf (and of every table that is a map of user-chosen names).
fn paths(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                paths(&path, v, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

fn keys_of<T: serde::Serialize>(config: &T) -> Vec<String> {
    let mut out = Vec::new();
    paths("", &serde_json::to_value(config).expect("json"), &mut out);
    out
}

/// Items of list-valued keys, which defaults leave empty (or hold one example of).
const LIST_ITEMS: &[&str] = &[
    "exchanges.venue",
    "exchanges.channels",
    "exchanges.symbols",
    "exchanges.markets",
    "exchanges.ws_url",
    "exchanges.rest_url",
    "streams.name",
    "streams.subjects",
    "streams.max_age_secs",
    "streams.max_bytes",
    "streams.duplicate_window_secs",
    "streams.replicas",
    "consumers.stream",
    "consumers.durable",
    "consumers.filter_subject",
    "consumers.ack_wait_secs",
    "consumers.max_deliver",
];

#[test]
fn every_key_is_in_the_configuration_reference() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/");
    let reference = std::fs::read_to_string(format!("{root}configuration.md")).expect("doc");
    let gateway_doc = std::fs::read_to_string(format!("{root}gateway.md")).expect("doc");
    let services: [(&str, Vec<String>); 6] = [
        (
            "market-data-collector",
            keys_of(&CollectorConfig::default()),
        ),
        ("data-storage-service", keys_of(&StorageConfig::default())),
        ("api-gateway", keys_of(&GatewayServiceConfig::default())),
        ("monitoring-service", keys_of(&MonitoringConfig::default())),
        ("scheduler-service", keys_of(&SchedulerConfig::default())),
        ("message-broker-service", keys_of(&BrokerConfig::default())),
    ];
    let mut missing = Vec::new();
    for (service, keys) in &services {
        assert!(keys.len() > 5, "{service}: {keys:?}");
        for key in keys
            .iter()
            .map(String::as_str)
            .chain(LIST_ITEMS.iter().copied())
        {
            // List items belong to the service that has the list.
            let list = key.split('.').next().unwrap_or_default();
            if LIST_ITEMS.contains(&key) && !keys.iter().any(|k| k.split('.').next() == Some(list))
            {
                continue;
            }
            // Gateway routes and upstream maps are keyed by user-chosen names.
            let key = key
                .split('.')
                .take_while(|seg| !seg.starts_with('/'))
                .collect::<Vec<_>>()
                .join(".");
            let documented = reference.contains(&format!("`{key}`"))
                || key.strip_prefix("gateway.").is_some_and(|k| {
                    gateway_doc.contains(&format!("`{k}`")) || reference.contains(&format!("`{k}`"))
                });
            if !documented {
                missing.push(format!("{service}: {key}"));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "undocumented keys (add them to docs/configuration.md):\n{}",
        missing.join("\n")
    );
}
