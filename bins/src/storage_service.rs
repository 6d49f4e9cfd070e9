//! data-storage-service (port 8082): JetStream (or the in-process bus) → ClickHouse + Redis
//! (or the embedded store), and the storage HTTP API of the seeds (`/api/v1/storage/...`).

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use marketprism_core::{bus::Bus, model::MarketEvent, runtime::Service, sink::Sink};
use marketprism_storage::{
    api::{ApiState, routes},
    driver::{DriverConfig, NoAck, SinkDriver},
    factory::open_stores,
    nats::consumer::ConsumerConfig,
    pipeline::{PipelineConfig, PipelineStatus, run_with_status},
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::common::{self, DiscoverySection, NatsSection, Result, ServiceSection};

/// Storage service configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend.
    pub discovery: DiscoverySection,
    /// JetStream (none: consume the in-process bus).
    pub nats: NatsSection,
    /// The durable consumer.
    pub consumer: ConsumerSection,
    /// History store (none: the embedded store).
    pub clickhouse: ClickHouseSection,
    /// Hot store (none: the embedded store).
    pub redis: RedisSection,
    /// The embedded store, used for whatever ClickHouse/Redis do not cover.
    pub embedded: EmbeddedSection,
}

/// `[consumer]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerSection {
    /// Durable consumer name, shared by every storage instance (they split the work).
    pub durable: String,
    /// Messages per batch: most events per ClickHouse insert of one table.
    pub batch_size: usize,
    /// Longest wait for a full batch (ms): with `batch_size`, bounds how long an event waits
    /// before its insert.
    pub batch_timeout_ms: u64,
    /// Redelivery after this long without an ack (ms).
    pub ack_wait_ms: u64,
}

impl Default for ConsumerSection {
    fn default() -> Self {
        ConsumerSection {
            durable: "storage".into(),
            batch_size: 10_000,
            batch_timeout_ms: 500,
            ack_wait_ms: 30_000,
        }
    }
}

/// `[clickhouse]`. Env `CLICKHOUSE_URL`, or `CLICKHOUSE_HOST` + `CLICKHOUSE_PORT`. The
/// native port the original system used (`clickhouse://host:9000`, `CLICKHOUSE_PORT=9000`) is
/// taken as the HTTP interface on 8123 (9440 as HTTPS on 8443), with a notice at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    /// `http://host:8123/?database=db` or `clickhouse://host:8123/db`; several replicas of
    /// the same tables comma-separated (`http://a:8123/?database=db,http://b:8123`): the
    /// first is used, the next ones on failure; the database is the first URL's.
    pub url: Option<String>,
    /// Host (when `url` is unset).
    pub host: Option<String>,
    /// Port with `host` (default 8123; 9000, the native port, means 8123).
    pub port: Option<u16>,
    /// `[clickhouse.replicated]`: replicated tables (none: plain `ReplacingMergeTree`).
    pub replicated: Option<ReplicatedSection>,
}

/// `[clickhouse.replicated]`: every table a `ReplicatedReplacingMergeTree` registered in
/// ZooKeeper under `{zookeeper_path}/{database}/{table}`; the servers need a `<zookeeper>`
/// section and, by default, a `{replica}` macro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicatedSection {
    /// ZooKeeper path of the tables, e.g. `/clickhouse/marketprism`.
    pub zookeeper_path: String,
    /// Replica name (default `{replica}`, the macro each server defines).
    #[serde(default = "default_replica")]
    pub replica: String,
}

fn default_replica() -> String {
    "{replica}".into()
}

/// The HTTP base (`http://host:8123`, native ports mapped as the store factory does) of one
/// configured server URL, and its database when it names one.
fn http_base(url: &str) -> (String, Option<String>) {
    match marketprism_storage::factory::StoreUrl::parse(url) {
        Ok(marketprism_storage::factory::StoreUrl::ClickHouse { url, database, .. }) => {
            (url, Some(database))
        }
        _ => {
            let base = url.split_once('?').map_or(url, |(b, _)| b);
            (base.trim_end_matches('/').to_owned(), None)
        }
    }
}

impl ClickHouseSection {
    /// The servers named by `url` (or `host`/`port`), in order.
    pub fn urls(&self) -> Vec<String> {
        match (&self.url, &self.host) {
            (Some(url), _) => url
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
            (None, Some(h)) => vec![format!("clickhouse://{h}:{}", self.port.unwrap_or(8123))],
            (None, None) => Vec::new(),
        }
    }

    /// The store URL: the first server, with the others as `failover` and the replication
    /// settings as query parameters ([`marketprism_storage::factory::StoreUrl`]).
    pub fn effective_url(&self) -> Option<String> {
        let urls = self.urls();
        let (first, rest) = urls.split_first()?;
        let mut params: Vec<String> = rest
            .iter()
            .map(|u| format!("failover={}", http_base(u).0))
            .collect();
        if let Some(r) = &self.replicated {
            params.push(format!("zookeeper_path={}", r.zookeeper_path));
            params.push(format!("replica={}", r.replica));
        }
        if params.is_empty() {
            return Some(first.clone());
        }
        // `clickhouse://host/db` in its http form (native ports mapped), which takes query
        // parameters.
        let first = match (first.starts_with("clickhouse://"), http_base(first)) {
            (true, (base, Some(db))) => format!("{base}/?database={db}"),
            _ => first.clone(),
        };
        let params = params.join("&");
        Some(if first.contains('?') {
            format!("{first}&{params}")
        } else {
            format!("{}/?{params}", first.trim_end_matches('/'))
        })
    }
}

/// `[redis]`. Env `REDIS_URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://host:6379`.
    pub url: Option<String>,
    /// Prefix of every key and pub/sub channel (default `mp`), so platforms can share a Redis.
    pub key_prefix: Option<String>,
}

impl RedisSection {
    /// The store URL (with `key_prefix` as its query parameter).
    pub fn store_url(&self) -> Option<String> {
        let url = self.url.as_ref()?;
        Some(match &self.key_prefix {
            Some(p) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}key_prefix={p}")
            }
            None => url.clone(),
        })
    }
}

/// `[embedded]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedSection {
    /// redb file.
    pub path: PathBuf,
}

impl Default for EmbeddedSection {
    fn default() -> Self {
        EmbeddedSection {
            path: PathBuf::from("marketprism-data/store.redb"),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            service: ServiceSection::new("data-storage-service", 8082),
            discovery: DiscoverySection::default(),
            nats: NatsSection::default(),
            consumer: ConsumerSection::default(),
            clickhouse: ClickHouseSection::default(),
            redis: RedisSection::default(),
            embedded: EmbeddedSection::default(),
        }
    }
}

/// Runs the storage service (standalone).
pub async fn run(
    config: StorageConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_with_bus(config, listener, Bus::new(), shutdown).await
}

/// Runs the storage service; without NATS it consumes `bus`.
pub async fn run_with_bus(
    config: StorageConfig,
    listener: TcpListener,
    bus: Bus,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let stop = common::shutdown_token(shutdown);
    let ch = config.clickhouse.effective_url();
    if let Some(notice) = ch
        .as_deref()
        .and_then(marketprism_storage::factory::clickhouse_native_port_notice)
    {
        tracing::warn!("{notice}");
    }
    let mut urls: Vec<String> = ch.iter().cloned().chain(config.redis.store_url()).collect();
    if ch.is_none() || config.redis.url.is_none() {
        if let Some(dir) = config
            .embedded
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
        urls.push(format!("embedded://{}", config.embedded.path.display()));
    }
    let stores = open_stores(&urls).await?;
    let (Some(history), Some(hot)) = (stores.history.clone(), stores.hot.clone()) else {
        return Err("no history or hot store configured".into());
    };
    tracing::info!(?stores, "stores open");
    let sinks = stores.sinks.clone();
    let cold_sink = pick_sink(&sinks, ch.is_some(), "clickhouse");
    let hot_sink = pick_sink(&sinks, config.redis.url.is_some(), "redis");
    let status = Arc::new(PipelineStatus::default());
    let st = Arc::clone(&status);
    let mode = if config.nats.url.is_some() {
        "jetstream"
    } else {
        "in-process-bus"
    };
    let api = ApiState::new(history, hot, hot_sink, cold_sink).with_status(Arc::new(
        move || serde_json::json!({ "source": mode, "pipeline": st.snapshot() }),
    ));
    let mut builder = Service::builder(config.service.name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .service_tokens(config.service.tokens.accepted())
        .routes(routes(api));
    for s in &sinks {
        builder = builder.dependency(Arc::new(SinkCheck(Arc::clone(s))));
    }
    // Subscribe before registering, so nothing published after we are discoverable is missed.
    let sub = match config.nats.url {
        None => Some(bus.subscribe(">", 4096)?),
        Some(_) => None,
    };
    let addr = listener.local_addr()?;
    let registry = common::registry(&config.discovery).await?;
    let http_stop = CancellationToken::new();
    let http = common::spawn_http(builder.build(), listener, http_stop.clone());
    common::register(&registry, &config.service, addr).await?;

    let pipeline_stop = CancellationToken::new();
    let pipeline = {
        let sinks = sinks.clone();
        let ps = pipeline_stop.clone();
        match (config.nats.storage_config(), sub) {
            (Some(nats), _) => {
                let c = &config.consumer;
                let pc = PipelineConfig::new(nats).consumer(
                    ConsumerConfig::default()
                        .durable_name(c.durable.as_str())
                        .batch_size(c.batch_size)
                        .batch_timeout(Duration::from_millis(c.batch_timeout_ms))
                        .ack_wait(Duration::from_millis(c.ack_wait_ms)),
                );
                tokio::spawn(async move {
                    run_with_status(pc, sinks, status, ps.cancelled_owned())
                        .await
                        .map_err(|e| e.to_string())
                })
            }
            (None, Some(sub)) => {
                // The no-NATS pipeline: the bus subscription through the same sink driver (the
                // bus meanwhile applies backpressure to the collector; at shutdown what the
                // subscription holds is written first).
                let driver = SinkDriver::new(
                    sinks,
                    DriverConfig::default().batch_size(config.consumer.batch_size),
                )
                .with_status(status);
                let events = futures::stream::unfold(sub, |mut sub| async move {
                    sub.recv().await.map(|e| (MarketEvent::clone(&e), sub))
                });
                tokio::spawn(async move {
                    driver
                        .run(events, &NoAck, ps.cancelled_owned())
                        .await
                        .map_err(|e| e.to_string())
                })
            }
            (None, None) => return Err("internal: no event source".into()),
        }
    };
    tokio::pin!(pipeline);
    let outcome = tokio::select! {
        () = stop.cancelled() => None,
        r = &mut pipeline => Some(r),
    };
    // Graceful: deregister, let the batch in hand finish (drain); the driver flushes the sinks.
    common::deregister(&registry).await;
    pipeline_stop.cancel();
    let result = match outcome {
        Some(r) => r,
        None => pipeline.await,
    };
    let served = common::finish(http_stop, http).await;
    match result {
        Ok(Ok(())) => served,
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(Box::new(e)),
    }
}

fn pick_sink(sinks: &[Arc<dyn Sink>], configured: bool, name: &str) -> Arc<dyn Sink> {
    let wanted = if configured { name } else { "embedded" };
    sinks
        .iter()
        .find(|s| s.name().contains(wanted))
        .or_else(|| sinks.first())
        .map(Arc::clone)
        .unwrap_or_else(|| Arc::new(NullSink))
}

struct SinkCheck(Arc<dyn Sink>);

#[async_trait::async_trait]
impl marketprism_core::runtime::HealthCheck for SinkCheck {
    fn name(&self) -> &str {
        self.0.name()
    }
    async fn check(&self) -> marketprism_core::sink::Health {
        self.0.health().await
    }
}

struct NullSink;

#[async_trait::async_trait]
impl Sink for NullSink {
    fn name(&self) -> &str {
        "none"
    }
    async fn write_batch(
        &self,
        _: &[MarketEvent],
    ) -> std::result::Result<(), marketprism_core::Error> {
        Ok(())
    }
    async fn flush(&self) -> std::result::Result<(), marketprism_core::Error> {
        Ok(())
    }
    async fn health(&self) -> marketprism_core::sink::Health {
        marketprism_core::sink::Health::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clickhouse_store_url_carries_failover_and_replication() {
        let mut c = ClickHouseSection {
            url: Some("http://a:8123/?database=md, http://b:8123/".into()),
            ..Default::default()
        };
        assert_eq!(
            c.effective_url().as_deref(),
            Some("http://a:8123/?database=md&failover=http://b:8123")
        );
        c.url = Some("clickhouse://a:8123/md".into());
        c.replicated = Some(ReplicatedSection {
            zookeeper_path: "/clickhouse/mp".into(),
            replica: default_replica(),
        });
        assert_eq!(
            c.effective_url().as_deref(),
            Some("http://a:8123/?database=md&zookeeper_path=/clickhouse/mp&replica={replica}")
        );
        c.url = Some("http://a:8123".into());
        c.replicated = None;
        assert_eq!(c.effective_url().as_deref(), Some("http://a:8123"));
    }
}
