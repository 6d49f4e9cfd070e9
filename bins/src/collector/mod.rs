//! market-data-collector (port 8081): exchanges → JetStream (or the in-process bus).
//!
//! Routes: `/api/v1/collector/status`, `/api/v1/collector/exchanges`, plus `/health`,
//! `/metrics`. Instruments are sharded across instances with `shard.index` / `shard.count`.

mod pump;
mod stats;

use std::{collections::HashSet, sync::Arc};

use axum::{Json, Router, extract::State, routing::get};
use marketprism_core::{bus::Bus, model::MarketType, runtime::Service, sink::Sink};
use marketprism_exchanges::{Channel, MarketStream, Venue, fetch_instruments};
use marketprism_storage::nats::publisher::{JetStreamPublisher, PublisherConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use stats::{MarketStats, Stats, StatusReport};

use crate::common::{self, DiscoverySection, NatsSection, Result, ServiceSection};

/// Collector configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend.
    pub discovery: DiscoverySection,
    /// JetStream (none: in-process bus).
    pub nats: NatsSection,
    /// What to collect.
    pub exchanges: Vec<ExchangeConfig>,
    /// Instrument sharding across collector instances.
    pub shard: ShardConfig,
    /// Keep books to this many levels per side.
    pub book_depth: Option<usize>,
    /// Most events per published batch (a batch is whatever is waiting when the previous
    /// publish completes, up to this).
    pub batch_size: usize,
    /// 0 (default): publish at once, batching only what is already waiting. Above 0: hold a
    /// partial batch up to this many ms (fewer, larger publishes; more latency).
    pub batch_ms: u64,
}

/// One venue to collect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// `binance-spot`, `binance-usdm`, `binance-coinm`, `okx`, `deribit`.
    pub venue: Venue,
    /// Channels (`trades`, `book`, `bbo`, `ticker`, `funding`, ...).
    pub channels: Vec<Channel>,
    /// Symbols (normalized or native), or `["all"]` for every listed instrument.
    pub symbols: Vec<String>,
    /// With `symbols = ["all"]`: only these markets (`spot`, `perpetual`, `future`, `option`).
    #[serde(default)]
    pub markets: Vec<MarketType>,
    /// WebSocket base URL override (a simulator, a proxy).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// REST base URL override.
    #[serde(default)]
    pub rest_url: Option<String>,
}

/// This instance takes the instruments whose hash modulo `count` equals `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardConfig {
    /// This instance's shard, `0..count`.
    pub index: u32,
    /// Number of collector instances sharing the instruments.
    pub count: u32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig { index: 0, count: 1 }
    }
}

impl ShardConfig {
    /// True when `symbol` of `venue` belongs to this shard (FNV-1a, stable across builds).
    pub fn owns(&self, venue: Venue, symbol: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in venue.as_str().bytes().chain([b':']).chain(symbol.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h % u64::from(self.count) == u64::from(self.index)
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            service: ServiceSection::new("market-data-collector", 8081),
            discovery: DiscoverySection::default(),
            nats: NatsSection::default(),
            exchanges: vec![ExchangeConfig {
                venue: Venue::BinanceSpot,
                channels: vec![Channel::Trades, Channel::Book],
                symbols: vec!["BTC-USDT".into(), "ETH-USDT".into()],
                markets: Vec::new(),
                ws_url: None,
                rest_url: None,
            }],
            shard: ShardConfig::default(),
            book_depth: Some(100),
            batch_size: 2000,
            batch_ms: 0,
        }
    }
}

/// Runs the collector until `shutdown` (standalone: no in-process bus to share).
pub async fn run(
    config: CollectorConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_with_bus(config, listener, Bus::new(), shutdown).await
}

/// Runs the collector; without NATS it publishes on `bus`.
pub async fn run_with_bus(
    config: CollectorConfig,
    listener: TcpListener,
    bus: Bus,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let stop = common::shutdown_token(shutdown);
    let stats = Stats::default();
    // The output is just a sink: the JetStream publisher, or the in-process bus.
    let output: Arc<dyn Sink> = match config.nats.storage_config() {
        Some(nats) => {
            Arc::new(JetStreamPublisher::connect(nats, PublisherConfig::default()).await?)
        }
        None => Arc::new(bus),
    };
    let addr = listener.local_addr()?;
    let registry = common::registry(&config.discovery).await?;
    let service = Service::builder(config.service.name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .service_tokens(config.service.tokens.accepted())
        .routes(routes(stats.clone(), config.clone()))
        .build();
    let http_stop = CancellationToken::new();
    let http = common::spawn_http(service, listener, http_stop.clone());
    common::register(&registry, &config.service, addr).await?;

    pump::collect(&config, output, &stats, &stop).await;

    common::deregister(&registry).await;
    stats.set_state("stopped", None);
    common::finish(http_stop, http).await
}

fn routes(stats: Stats, config: CollectorConfig) -> Router {
    let s2 = stats.clone();
    Router::new()
        .route(
            "/api/v1/collector/status",
            get(move || {
                let stats = stats.clone();
                let shard = config.shard.clone();
                let venues: Vec<_> = config.exchanges.iter().map(|e| e.venue.as_str()).collect();
                async move {
                    Json(json!({ "status": stats.report(), "shard": shard, "venues": venues }))
                }
            }),
        )
        .route("/api/v1/collector/exchanges", get(exchanges).with_state(s2))
}

async fn exchanges(State(stats): State<Stats>) -> Json<serde_json::Value> {
    Json(json!({ "exchanges": stats.markets() }))
}

pub(crate) async fn build_stream(
    config: &CollectorConfig,
) -> std::result::Result<MarketStream, String> {
    let mut builder = MarketStream::builder();
    if let Some(d) = config.book_depth {
        builder = builder.book_depth(d);
    }
    for ex in &config.exchanges {
        let symbols = resolve_symbols(ex, &config.shard).await?;
        if symbols.is_empty() {
            tracing::info!(venue = %ex.venue.as_str(), "no instruments in this shard");
            continue;
        }
        tracing::info!(venue = %ex.venue.as_str(), instruments = symbols.len(), "subscribing");
        builder = builder.subscribe(ex.venue, ex.channels.iter().copied(), symbols);
        if let Some(u) = &ex.ws_url {
            builder = builder.ws_url(ex.venue, u.as_str());
        }
        if let Some(u) = &ex.rest_url {
            builder = builder.rest_url(ex.venue, u.as_str());
        }
    }
    builder.start().await.map_err(|e| e.to_string())
}

async fn resolve_symbols(
    ex: &ExchangeConfig,
    shard: &ShardConfig,
) -> std::result::Result<Vec<String>, String> {
    let all = ex.symbols.iter().any(|s| s == "all" || s == "*");
    let symbols: Vec<String> = if all {
        let map = fetch_instruments(ex.venue, ex.rest_url.as_deref())
            .await
            .map_err(|e| format!("{}: listing instruments: {e}", ex.venue.as_str()))?;
        let markets: HashSet<MarketType> = ex.markets.iter().copied().collect();
        let mut v: Vec<String> = map
            .iter()
            .filter(|i| markets.is_empty() || markets.contains(&i.market))
            .map(|i| i.symbol.as_str().to_owned())
            .collect();
        v.sort();
        v
    } else {
        ex.symbols.clone()
    };
    Ok(symbols
        .into_iter()
        .filter(|s| shard.owns(ex.venue, s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_instruments() {
        let shards: Vec<ShardConfig> = (0..3)
            .map(|index| ShardConfig { index, count: 3 })
            .collect();
        for sym in ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT"] {
            let owners = shards.iter().filter(|s| s.owns(Venue::Okx, sym)).count();
            assert_eq!(owners, 1, "{sym}");
        }
    }
}
