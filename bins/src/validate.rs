//! Every service config checked whole before anything binds or connects: a value that parses
//! but cannot work (a URL that is not one, a cron that never fires, a shard beyond the count)
//! is an error naming the key and where it was set (see
//! [`ConfigLoader::load_validated`](marketprism_core::config::ConfigLoader::load_validated)).

use marketprism_core::config::{Problems, Validate};

use crate::{
    broker::BrokerConfig,
    collector::CollectorConfig,
    common::check_url,
    gateway_service::GatewayServiceConfig,
    monitoring::MonitoringConfig,
    scheduler::{SchedulerConfig, check_cron},
    storage_service::StorageConfig,
};

const HTTP: [&str; 2] = ["http", "https"];

/// The sections every service has.
fn common(p: &mut Problems, c: &impl crate::common::ServiceConfig) {
    p.nested("service", c.service());
    p.nested("discovery", c.discovery());
}

fn positive(p: &mut Problems, key: &str, value: u64) {
    if value == 0 {
        p.push(key, "must be at least 1");
    }
}

impl Validate for BrokerConfig {
    fn validate(&self, p: &mut Problems) {
        common(p, self);
        p.nested("nats", &self.nats);
        positive(p, "poll_ms", self.poll_ms);
        for (i, s) in self.streams.iter().enumerate() {
            if s.name.is_empty() || s.subjects.is_empty() {
                p.push(
                    format!("streams[{i}]"),
                    "needs a name and at least one subject",
                );
            }
        }
        for (i, c) in self.consumers.iter().enumerate() {
            if c.durable.is_empty() || c.stream.is_empty() {
                p.push(
                    format!("consumers[{i}]"),
                    "needs a stream and a durable name",
                );
            }
        }
    }
}

impl Validate for CollectorConfig {
    fn validate(&self, p: &mut Problems) {
        common(p, self);
        p.nested("nats", &self.nats);
        positive(p, "batch_size", self.batch_size as u64);
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            p.push(
                "shard",
                format!(
                    "index {} must be below count {} (count at least 1)",
                    self.shard.index, self.shard.count
                ),
            );
        }
        for (i, e) in self.exchanges.iter().enumerate() {
            if e.venue.trim().is_empty() {
                p.push(format!("exchanges[{i}].venue"), "a venue name is required");
            }
            if let Some(u) = &e.ws_url {
                p.check(
                    &format!("exchanges[{i}].ws_url"),
                    check_url(u, &["ws", "wss"]),
                );
            }
            if let Some(u) = &e.rest_url {
                p.check(&format!("exchanges[{i}].rest_url"), check_url(u, &HTTP));
            }
        }
    }
}

impl Validate for GatewayServiceConfig {
    fn validate(&self, p: &mut Problems) {
        common(p, self);
        p.nested("nats", &self.nats);
        for (key, url) in [
            ("services.collector_url", &self.services.collector_url),
            ("services.storage_url", &self.services.storage_url),
        ] {
            if let Some(u) = url {
                p.check(key, check_url(u, &HTTP));
            }
        }
        p.check("gateway", self.gateway.validate());
    }
}

impl Validate for MonitoringConfig {
    fn validate(&self, p: &mut Problems) {
        common(p, self);
        positive(p, "scrape_interval_ms", self.scrape_interval_ms);
        positive(p, "scrape_timeout_ms", self.scrape_timeout_ms);
        for (key, url) in [
            ("webhook_url", &self.webhook_url),
            ("gateway_url", &self.gateway_url),
        ] {
            if let Some(u) = url {
                p.check(key, check_url(u, &HTTP));
            }
        }
    }
}

impl Validate for SchedulerConfig {
    fn validate(&self, p: &mut Problems) {
        common(p, self);
        p.nested("nats", &self.nats);
        if let Some(u) = &self.redis.url {
            p.check("redis.url", check_url(u, &["redis", "rediss"]));
        }
        positive(p, "scheduler.tick_ms", self.scheduler.tick_ms);
        positive(p, "scheduler.lease_ttl_secs", self.scheduler.lease_ttl_secs);
        let min = self.scheduler.min_interval_secs;
        for (key, cron) in [
            ("builtin.retention_cron", &self.builtin.retention_cron),
            ("builtin.archive_cron", &self.builtin.archive_cron),
        ] {
            p.check(key, check_cron(cron, min));
        }
        let max = marketprism_storage::query::MAX_DAYS_BACK;
        if self.builtin.retention_days == 0 || self.builtin.retention_days > max {
            p.push(
                "builtin.retention_days",
                format!("must be within 1..={max}"),
            );
        }
    }
}

impl Validate for StorageConfig {
    fn validate(&self, p: &mut Problems) {
        common(p, self);
        p.nested("nats", &self.nats);
        positive(p, "consumer.batch_size", self.consumer.batch_size as u64);
        positive(p, "consumer.ack_wait_ms", self.consumer.ack_wait_ms);
        if let Some(url) = self.clickhouse.effective_url() {
            let key = if self.clickhouse.url.is_some() {
                "clickhouse.url"
            } else {
                "clickhouse.host"
            };
            p.check(key, check_url(&url, &["http", "https", "clickhouse"]));
            p.check(
                key,
                marketprism_storage::factory::StoreUrl::parse(&url).map(|_| ()),
            );
        }
        if let Some(u) = &self.redis.url {
            p.check("redis.url", check_url(u, &["redis", "rediss"]));
        }
    }
}
