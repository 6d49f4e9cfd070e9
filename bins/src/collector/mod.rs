//! market-data-collector (port 8081): exchanges → JetStream (or the in-process bus).
//!
//! Routes: `/api/v1/collector/status`, `/api/v1/collector/exchanges`, plus `/health`,
//! `/metrics`. Instruments are split across instances statically with `shard.index` /
//! `shard.count`, or dynamically with leases in discovery (`[assignment]`, failover and
//! redundant collection; see docs/scaling.md).

pub mod assignment;
mod config;
mod groups;
mod membership;
mod pump;
mod stats;

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use axum::{Json, Router, extract::State, routing::get};
use marketprism_core::{bus::Bus, model::MarketType, runtime::Service, sink::Sink};
use marketprism_exchanges::{
    Exchange, MarketStream, builtin_exchanges, fetch_instruments, find_exchange,
};
use marketprism_storage::nats::publisher::{JetStreamPublisher, PublisherConfig};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use assignment::AssignmentConfig;
pub use config::{CollectorConfig, ExchangeConfig, ShardConfig};
pub use groups::{AssignmentView, SharedView};
pub use stats::{MarketStats, Stats, StatusReport};

use crate::common::{self, Result};

/// Runs the collector until `shutdown` (standalone: no in-process bus to share), with the
/// built-in exchanges.
pub async fn run(
    config: CollectorConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    Collector::new(config).run(listener, shutdown).await
}

/// Runs the collector with the built-in exchanges; without NATS it publishes on `bus`.
pub async fn run_with_bus(
    config: CollectorConfig,
    listener: TcpListener,
    bus: Bus,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    Collector::new(config)
        .bus(bus)
        .run(listener, shutdown)
        .await
}

/// Runs the collector with `extra` exchanges besides the built-ins (an extra one replaces
/// a built-in of the same name); without NATS it publishes on `bus`.
pub async fn run_with_exchanges(
    config: CollectorConfig,
    listener: TcpListener,
    bus: Bus,
    extra: impl IntoIterator<Item = Arc<dyn Exchange>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    extra
        .into_iter()
        .fold(Collector::new(config).bus(bus), Collector::exchange)
        .run(listener, shutdown)
        .await
}

/// The collector with its exchanges: the registration hook for venues implemented outside
/// MarketPrism. The configuration names venues (`venue = "bybit"`); each name is resolved
/// against the built-ins and the exchanges added here.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use marketprism_bins::collector::{Collector, CollectorConfig};
/// # async fn demo(my_exchange: Arc<dyn marketprism_exchanges::Exchange>) -> marketprism_bins::common::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
/// Collector::new(CollectorConfig::default())
///     .exchange(my_exchange)
///     .run(listener, async { let _ = tokio::signal::ctrl_c().await; })
///     .await
/// # }
/// ```
pub struct Collector {
    config: CollectorConfig,
    exchanges: Vec<Arc<dyn Exchange>>,
    bus: Option<Bus>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.exchanges.iter().map(|e| e.name()).collect();
        f.debug_struct("Collector")
            .field("config", &self.config)
            .field("exchanges", &names)
            .finish_non_exhaustive()
    }
}

/// The exchange of each `[[exchanges]]` entry, in order.
pub(crate) type Resolved = Vec<Arc<dyn Exchange>>;

impl Collector {
    /// A collector for `config` knowing the built-in exchanges.
    pub fn new(config: CollectorConfig) -> Self {
        Collector {
            config,
            exchanges: builtin_exchanges(),
            bus: None,
        }
    }

    /// Adds an exchange the configuration may name; it replaces one of the same name.
    pub fn exchange(mut self, exchange: Arc<dyn Exchange>) -> Self {
        self.exchanges.retain(|e| e.name() != exchange.name());
        self.exchanges.push(exchange);
        self
    }

    /// Publishes on this in-process bus when no NATS is configured (default: a private one).
    pub fn bus(mut self, bus: Bus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The exchange of each configured entry; an unknown venue name is an error naming the
    /// known ones.
    pub fn resolve(&self) -> Result<Vec<Arc<dyn Exchange>>> {
        self.config
            .exchanges
            .iter()
            .enumerate()
            .map(|(i, ex)| {
                find_exchange(&self.exchanges, &ex.venue)
                    .cloned()
                    .ok_or_else(|| {
                        let known: Vec<&str> = self.exchanges.iter().map(|e| e.name()).collect();
                        format!(
                            "exchanges[{i}].venue: unknown venue `{}` (known: {})",
                            ex.venue,
                            known.join(", ")
                        )
                        .into()
                    })
            })
            .collect()
    }

    /// Runs the collector until `shutdown`.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let venues = self.resolve()?;
        let config = self.config;
        let stop = common::shutdown_token(shutdown);
        let stats = Stats::default();
        // The output is just a sink: the JetStream publisher, or the in-process bus.
        let output: (Arc<dyn Sink>, usize) = match config.nats.storage_config() {
            Some(nats) => {
                let publisher =
                    PublisherConfig::default().max_events_per_message(config.events_per_message());
                let publisher = JetStreamPublisher::connect(nats, publisher).await?;
                (Arc::new(publisher), config.batches_in_flight)
            }
            None => (Arc::new(self.bus.unwrap_or_default()), 1),
        };
        let addr = listener.local_addr()?;
        let registry = common::registry(&config.discovery).await?;
        let view = SharedView::default();
        let service = Service::builder(config.service.name.clone())
            .version(env!("CARGO_PKG_VERSION"))
            .service_tokens(config.service.tokens.accepted())
            .routes(routes(stats.clone(), config.clone(), view.clone()))
            .build();
        let http_stop = CancellationToken::new();
        let http = common::spawn_http(service, listener, http_stop.clone());
        let me = common::register(&registry, &config.service, addr).await?;

        let mode = if config.assignment.enabled {
            // The same backend as the service's registration, with the group's own records.
            pump::Mode::Leases(Arc::clone(registry.backend()), (me.host, me.port), view)
        } else {
            if let Ok(mut v) = view.lock() {
                v.mode = "static";
                v.redundancy = 1;
            }
            pump::Mode::Static
        };
        pump::collect(&config, &venues, mode, output, &stats, &stop).await;

        common::deregister(&registry).await;
        stats.set_state("stopped", None);
        common::finish(http_stop, http).await
    }
}

fn routes(stats: Stats, config: CollectorConfig, view: SharedView) -> Router {
    let s2 = stats.clone();
    Router::new()
        .route(
            "/api/v1/collector/status",
            get(move || {
                let stats = stats.clone();
                let shard = config.shard.clone();
                let venues: Vec<String> =
                    config.exchanges.iter().map(|e| e.venue.clone()).collect();
                let assignment = view
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                async move {
                    Json(json!({
                        "status": stats.report(), "shard": shard, "venues": venues,
                        "assignment": assignment,
                    }))
                }
            }),
        )
        .route("/api/v1/collector/exchanges", get(exchanges).with_state(s2))
}

async fn exchanges(State(stats): State<Stats>) -> Json<serde_json::Value> {
    Json(json!({ "exchanges": stats.markets() }))
}

/// Exchange entry → symbols this collector subscribes.
pub(crate) type PlanMap = BTreeMap<usize, Vec<String>>;

/// The static shard's symbols of every entry.
pub(crate) async fn static_plan(
    config: &CollectorConfig,
    venues: &Resolved,
) -> std::result::Result<PlanMap, String> {
    let mut plan = PlanMap::new();
    for (i, (ex, venue)) in config.exchanges.iter().zip(venues).enumerate() {
        let symbols = resolve_symbols(ex, venue, &config.shard).await?;
        if symbols.is_empty() {
            tracing::info!(venue = %venue.name(), "no instruments in this shard");
            continue;
        }
        plan.insert(i, symbols);
    }
    Ok(plan)
}

/// Starts one stream over `plan`.
pub(crate) async fn build_plan(
    config: &CollectorConfig,
    venues: &Resolved,
    plan: &PlanMap,
) -> std::result::Result<MarketStream, String> {
    let mut builder = MarketStream::builder();
    if let Some(d) = config.book_depth {
        builder = builder.book_depth(d);
    }
    let every = std::time::Duration::from_millis(config.book_image_ms);
    builder = builder.book_images(every, config.book_image_depth);
    for (i, symbols) in plan {
        let (Some(ex), Some(venue)) = (config.exchanges.get(*i), venues.get(*i)) else {
            continue;
        };
        tracing::info!(venue = %venue.name(), instruments = symbols.len(), "subscribing");
        builder = builder.subscribe(
            Arc::clone(venue),
            ex.channels.iter().copied(),
            symbols.iter().cloned(),
        );
        if let Some(u) = &ex.ws_url {
            builder = builder.ws_url(Arc::clone(venue), u.as_str());
        }
        if let Some(u) = &ex.rest_url {
            builder = builder.rest_url(Arc::clone(venue), u.as_str());
        }
    }
    builder.start().await.map_err(|e| e.to_string())
}

async fn resolve_symbols(
    ex: &ExchangeConfig,
    venue: &Arc<dyn Exchange>,
    shard: &ShardConfig,
) -> std::result::Result<Vec<String>, String> {
    let all = ex.symbols.iter().any(|s| s == "all" || s == "*");
    let symbols: Vec<String> = if all {
        let map = fetch_instruments(Arc::clone(venue), ex.rest_url.as_deref())
            .await
            .map_err(|e| format!("{}: listing instruments: {e}", venue.name()))?;
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
        .filter(|s| shard.owns(venue.name(), s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketprism_exchanges::{Channel, Venue};

    #[test]
    fn shards_partition_instruments() {
        let shards: Vec<ShardConfig> = (0..3)
            .map(|index| ShardConfig { index, count: 3 })
            .collect();
        for sym in ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "DOGE-USDT"] {
            let owners = shards
                .iter()
                .filter(|s| s.owns(Venue::Okx.as_str(), sym))
                .count();
            assert_eq!(owners, 1, "{sym}");
        }
    }

    #[test]
    fn venue_names_resolve_against_builtins_and_added_exchanges() {
        let config: CollectorConfig = serde_json::from_value(json!({
            "exchanges": [
                { "venue": "binance-spot", "channels": ["trades"], "symbols": ["BTC-USDT"] },
                { "venue": "OKX", "channels": ["book"], "symbols": ["BTC-USDT"] },
                { "venue": "lab", "channels": ["trades"], "symbols": ["BTC-USDT"] },
            ]
        }))
        .expect("config");
        let err = Collector::new(config.clone())
            .resolve()
            .expect_err("lab is unknown");
        assert!(
            err.to_string()
                .contains("exchanges[2].venue: unknown venue `lab`"),
            "{err}"
        );
        assert!(
            err.to_string().contains("binance-spot, binance-usdm"),
            "{err}"
        );

        /// Binance spot under the name `lab`.
        struct Lab(Arc<dyn Exchange>);
        impl Exchange for Lab {
            fn name(&self) -> &str {
                "lab"
            }
            fn exchange_id(&self) -> marketprism_core::model::ExchangeId {
                self.0.exchange_id()
            }
            fn ws_base_url(&self) -> &str {
                self.0.ws_base_url()
            }
            fn rest_base_url(&self) -> &str {
                self.0.rest_base_url()
            }
            fn max_streams_per_connection(&self) -> usize {
                1
            }
            fn max_subscribe_messages_per_sec(&self) -> u32 {
                1
            }
            fn subscribe_frames(
                &self,
                subs: &[marketprism_exchanges::Subscription],
                id: u64,
            ) -> Vec<String> {
                self.0.subscribe_frames(subs, id)
            }
            fn source(
                &self,
                channel: Channel,
                instrument: &marketprism_core::model::Instrument,
            ) -> marketprism_exchanges::Source {
                self.0.source(channel, instrument)
            }
            fn instruments_requests(&self) -> Vec<marketprism_exchanges::RestRequest> {
                self.0.instruments_requests()
            }
            fn parse_instruments(
                &self,
                body: &str,
            ) -> std::result::Result<
                Vec<marketprism_core::model::Instrument>,
                marketprism_exchanges::ExchangeError,
            > {
                self.0.parse_instruments(body)
            }
            fn normalizer(
                &self,
                instruments: marketprism_exchanges::InstrumentMap,
                depth: Option<usize>,
            ) -> Box<dyn marketprism_exchanges::Normalizer> {
                self.0.normalizer(instruments, depth)
            }
        }
        let resolved = Collector::new(config)
            .exchange(Arc::new(Lab(Venue::BinanceSpot.into())))
            .resolve()
            .expect("all known");
        let names: Vec<&str> = resolved.iter().map(|e| e.name()).collect();
        assert_eq!(names, ["binance-spot", "okx", "lab"]);
    }
}
