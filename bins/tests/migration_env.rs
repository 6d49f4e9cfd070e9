//! The original system's environment (seeds 002 and 003) through the services' config
//! loading path (`common::load_config`, as every binary loads): variable names, the native
//! ClickHouse port, and the Consul URL. See docs/migration.md.

use std::collections::HashMap;

use marketprism_bins::{
    collector::CollectorConfig, common::load_config, gateway_service::GatewayServiceConfig,
    scheduler::SchedulerConfig, storage_service::StorageConfig,
};
use marketprism_storage::factory::{StoreUrl, clickhouse_native_port_notice};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn clickhouse_http(config: &StorageConfig) -> String {
    let url = config.clickhouse.effective_url().expect("a ClickHouse URL");
    match StoreUrl::parse(&url).expect("parses") {
        StoreUrl::ClickHouse { url, .. } => url,
        other => panic!("not ClickHouse: {other:?}"),
    }
}

#[test]
fn the_original_clickhouse_url_with_the_native_port_means_the_http_interface() {
    // Seed 002: CLICKHOUSE_URL=clickhouse://data-storage:9000
    let c: StorageConfig = load_config(
        &StorageConfig::default(),
        None,
        &env(&[("CLICKHOUSE_URL", "clickhouse://data-storage:9000")]),
        &[],
    )
    .expect("loads");
    assert_eq!(clickhouse_http(&c), "http://data-storage:8123");
    let url = c.clickhouse.effective_url().expect("url");
    let notice = clickhouse_native_port_notice(&url).expect("a notice is logged");
    assert!(notice.contains("native TCP port 9000") && notice.contains("http://data-storage:8123"));

    // Seed 002: CLICKHOUSE_HOST=clickhouse + CLICKHOUSE_PORT=9000.
    let c: StorageConfig = load_config(
        &StorageConfig::default(),
        None,
        &env(&[
            ("CLICKHOUSE_HOST", "clickhouse"),
            ("CLICKHOUSE_PORT", "9000"),
        ]),
        &[],
    )
    .expect("loads");
    assert_eq!(clickhouse_http(&c), "http://clickhouse:8123");

    // The HTTP forms are kept as written, with no notice.
    for (given, want) in [
        ("clickhouse://ch:8123/md", "http://ch:8123"),
        ("http://ch:9000", "http://ch:9000"),
        ("clickhouse://ch:9440", "https://ch:8443"),
    ] {
        let c: StorageConfig = load_config(
            &StorageConfig::default(),
            None,
            &env(&[("CLICKHOUSE_URL", given)]),
            &[],
        )
        .expect("loads");
        assert_eq!(clickhouse_http(&c), want, "{given}");
    }
    assert!(clickhouse_native_port_notice("clickhouse://ch:8123/md").is_none());
}

#[test]
fn consul_url_and_datacenter_choose_the_discovery_backend() {
    // Seed 003: url: "${CONSUL_URL:-http://consul:8500}", datacenter: "${CONSUL_DATACENTER:-dc1}"
    let vars = env(&[
        ("CONSUL_URL", "http://consul:8500"),
        ("CONSUL_DATACENTER", "dc1"),
    ]);
    let c: StorageConfig = load_config(&StorageConfig::default(), None, &vars, &[]).expect("loads");
    assert_eq!(c.discovery.url, "consul://consul:8500?dc=dc1");
    let c: GatewayServiceConfig =
        load_config(&GatewayServiceConfig::default(), None, &vars, &[]).expect("loads");
    assert_eq!(c.discovery.url, "consul://consul:8500?dc=dc1");

    let https = env(&[("CONSUL_URL", "https://consul:8501")]);
    let c: SchedulerConfig =
        load_config(&SchedulerConfig::default(), None, &https, &[]).expect("loads");
    assert_eq!(c.discovery.url, "consul+https://consul:8501");

    // Our own names win: DISCOVERY_URL over CONSUL_URL, MARKETPRISM_DISCOVERY__URL over both.
    let both = env(&[
        ("CONSUL_URL", "http://consul:8500"),
        ("DISCOVERY_URL", "etcd://e:2379"),
    ]);
    let c: CollectorConfig =
        load_config(&CollectorConfig::default(), None, &both, &[]).expect("loads");
    assert_eq!(c.discovery.url, "etcd://e:2379");
    let all = env(&[
        ("CONSUL_URL", "http://consul:8500"),
        ("DISCOVERY_URL", "etcd://e:2379"),
        ("MARKETPRISM_DISCOVERY__URL", "nats://n:4222"),
    ]);
    let c: CollectorConfig =
        load_config(&CollectorConfig::default(), None, &all, &[]).expect("loads");
    assert_eq!(c.discovery.url, "nats://n:4222");

    // A bad value is refused naming the variable it came from.
    let bad = env(&[("CONSUL_URL", "zk://z:2181")]);
    let err = load_config(&StorageConfig::default(), None, &bad, &[]).expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("discovery.url") && msg.contains("CONSUL_URL"),
        "{msg}"
    );
}

#[test]
fn the_seeds_other_variables_are_honoured() {
    let vars = env(&[
        ("SERVICE_NAME", "data-storage-service-2"),
        ("NATS_URL", "nats://message-broker:4222"),
        ("REDIS_URL", "redis://cache:6379"),
    ]);
    let c: StorageConfig = load_config(&StorageConfig::default(), None, &vars, &[]).expect("loads");
    assert_eq!(c.service.name, "data-storage-service-2");
    assert_eq!(c.nats.url.as_deref(), Some("nats://message-broker:4222"));
    assert_eq!(c.redis.url.as_deref(), Some("redis://cache:6379"));
    // GRAFANA_PORT / PROMETHEUS_PORT belonged to the original's Grafana and Prometheus
    // containers: no equivalent here, ignored (docs/migration.md).
    let c: StorageConfig = load_config(
        &StorageConfig::default(),
        None,
        &env(&[("GRAFANA_PORT", "3000"), ("PROMETHEUS_PORT", "9090")]),
        &[],
    )
    .expect("loads");
    assert_eq!(c, StorageConfig::default());
}
