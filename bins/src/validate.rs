//! Every service config checked whole before anything binds or connects: a value that parses
//! but cannot work (a URL that is not one, a cron that never fires, a shard beyond the count)
//! is an error naming the key and where it was set (see
//! [`ConfigLoader::load_validated`](marketprism_core::config::ConfigLoader::load_validated)).

use marketprism_core::config::{Problems, Validate};

use crate::{
    broker::BrokerConfig,
    collector::CollectorConfig,
    common::{DiscoverySection, NatsSection, ServiceSection},
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
        if let Some(n) = self.max_events_per_message {
            positive(p, "max_events_per_message", n as u64);
        }
        if !(1..=64).contains(&self.batches_in_flight) {
            p.push(
                "batches_in_flight",
                format!("{} is not within 1 to 64", self.batches_in_flight),
            );
        }
        if self.book_image_ms > 0 {
            positive(p, "book_image_depth", self.book_image_depth as u64);
            if let Some(d) = self.book_depth.filter(|d| self.book_image_depth > *d) {
                p.push(
                    "book_image_depth",
                    format!("{} is more than book_depth ({d})", self.book_image_depth),
                );
            }
        }
        if self.shard.count == 0 || self.shard.index >= self.shard.count {
            p.push(
                "shard",
                format!(
                    "index {} must be below count {} (count at least 1)",
                    self.shard.index, self.shard.count
                ),
            );
        }
        if self.assignment.enabled {
            for (key, problem) in self.assignment.problems() {
                p.push(key, problem);
            }
            if self.shard.count > 1 {
                p.push(
                    "assignment.enabled",
                    "leases replace `shard`: leave shard.count at 1 with assignment enabled",
                );
            }
            if self.nats.stream_layout.is_bulk() {
                p.push(
                    "nats.stream_layout",
                    "the bulk layouts store many events per message, so JetStream cannot drop the \
                     second copy of each event that overlapping collectors publish: use \
                     `per_symbol` with assignment enabled",
                );
            }
            if let Some(n) = self.max_events_per_message.filter(|n| *n > 1) {
                p.push(
                    "max_events_per_message",
                    format!(
                        "{n}: with assignment enabled collectors overlap and each event must \
                         be its own message (1, the default there) so JetStream drops the \
                         second copy"
                    ),
                );
            }
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
        if self.nats.url.is_some() && !self.nats.stream_layout.has_symbol_subjects() {
            p.push(
                "nats.stream_layout",
                "`bulk_only` publishes nothing on the per-symbol subjects the gateway's \
                 WebSocket subscribes to: use `bulk` (the default `per_symbol` works too)",
            );
        }
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
        let key = if self.clickhouse.url.is_some() {
            "clickhouse.url"
        } else {
            "clickhouse.host"
        };
        let urls = self.clickhouse.urls();
        for (i, url) in urls.iter().enumerate() {
            // Failover servers are plain http(s) base URLs; the first may be clickhouse://.
            let schemes: &[&str] = if i == 0 {
                &["http", "https", "clickhouse"]
            } else {
                &HTTP
            };
            p.check(key, check_url(url, schemes));
        }
        if urls.len() > 1 && urls[0].starts_with("clickhouse://") {
            p.push(key, "with several servers, use http(s):// URLs");
        }
        if let Some(url) = self.clickhouse.effective_url() {
            p.check(
                key,
                marketprism_storage::factory::StoreUrl::parse(&url).map(|_| ()),
            );
        }
        if let Some(r) = &self.clickhouse.replicated {
            let plain = |s: &str| !s.contains(['\'', '\\', '&', '?', ',']);
            if !r.zookeeper_path.starts_with('/') || !plain(&r.zookeeper_path) {
                p.push(
                    "clickhouse.replicated.zookeeper_path",
                    format!(
                        "`{}` must be an absolute ZooKeeper path (starting with `/`, without \
                         quotes, `&`, `?` or `,`)",
                        r.zookeeper_path
                    ),
                );
            }
            if r.replica.trim().is_empty() || !plain(&r.replica) {
                p.push(
                    "clickhouse.replicated.replica",
                    format!(
                        "`{}` must be a replica name or macro such as `{{replica}}`",
                        r.replica
                    ),
                );
            }
            if urls.is_empty() {
                p.push(
                    "clickhouse.replicated",
                    "needs clickhouse.url (or clickhouse.host)",
                );
            }
        }
        if let Some(u) = &self.redis.url {
            p.check("redis.url", check_url(u, &["redis", "rediss"]));
        }
    }
}

impl Validate for ServiceSection {
    fn validate(&self, p: &mut Problems) {
        if self.name.trim().is_empty() {
            p.push("name", "must not be empty");
        }
        p.check("listen", check_host_port(&self.listen));
        if self.weight == 0 {
            p.push("weight", "must be at least 1");
        }
        for t in &self.tokens.0 {
            // Sent as a header value: printable ASCII only; long enough not to be guessed.
            if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) {
                p.push(
                    "tokens",
                    format!(
                        "a token of {} characters: each must be at least 16 printable ASCII characters without spaces",
                        t.len()
                    ),
                );
            }
        }
    }
}

impl Validate for DiscoverySection {
    fn validate(&self, p: &mut Problems) {
        const SCHEMES: [&str; 6] = ["memory", "etcd", "nats", "redis", "consul", "consul+https"];
        match reqwest::Url::parse(&self.url) {
            Ok(u) if SCHEMES.contains(&u.scheme()) => {}
            Ok(u) => p.push(
                "url",
                format!(
                    "scheme `{}` is not one of {}",
                    u.scheme(),
                    SCHEMES.join(", ")
                ),
            ),
            Err(e) => p.push(
                "url",
                format!(
                    "`{}` is not a URL: {e}",
                    marketprism_core::redact::url(&self.url)
                ),
            ),
        }
        if self.ttl_secs == 0 {
            p.push("ttl_secs", "must be at least 1");
        }
    }
}

impl Validate for NatsSection {
    fn validate(&self, p: &mut Problems) {
        if !(1..=5).contains(&self.replicas) {
            p.push(
                "replicas",
                format!("{} is not within 1..=5 (JetStream's limit)", self.replicas),
            );
        }
        if let Some(urls) = &self.url {
            for url in urls.split(',').map(str::trim) {
                p.check("url", check_url(url, &["nats", "tls", "ws", "wss"]));
            }
        }
        if self.stream.is_empty()
            || !self
                .stream
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            p.push(
                "stream",
                format!(
                    "`{}` is not a stream name (letters, digits, `_`, `-`)",
                    self.stream
                ),
            );
        }
        if let Some(prefix) = &self.subject_prefix {
            let bad = prefix.is_empty()
                || prefix.split('.').any(|t| t.is_empty())
                || prefix
                    .bytes()
                    .any(|b| matches!(b, b'*' | b'>' | b' ' | b'\t' | b'\r' | b'\n'));
            if bad {
                p.push("subject_prefix", format!("`{prefix}` is not a subject prefix (dot-separated tokens without wildcards or spaces)"));
            }
        }
    }
}

/// `host:port` with a numeric port (the host may be a name, an IPv4 or a bracketed IPv6).
pub fn check_host_port(addr: &str) -> std::result::Result<(), String> {
    let port = addr
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(()),
        _ => Err(format!("`{addr}` is not HOST:PORT")),
    }
}

/// `url` parses and has one of `schemes` and a host.
pub fn check_url(url: &str, schemes: &[&str]) -> std::result::Result<(), String> {
    let shown = marketprism_core::redact::url(url);
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{shown}` is not a URL: {e}"))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(format!(
            "`{shown}`: scheme `{}` is not one of {}",
            parsed.scheme(),
            schemes.join(", ")
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{shown}` has no host"));
    }
    Ok(())
}
