//! The collector's configuration: what to collect, how instruments are split across
//! instances, and how events are batched.

use marketprism_core::model::MarketType;
use marketprism_exchanges::{Channel, Venue};
use serde::{Deserialize, Serialize};

use super::AssignmentConfig;
use crate::common::{DiscoverySection, NatsSection, ServiceSection};

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
    /// Static instrument sharding across collector instances.
    pub shard: ShardConfig,
    /// Dynamic assignment through discovery leases (failover, redundancy).
    pub assignment: AssignmentConfig,
    /// Keep books to this many levels per side.
    pub book_depth: Option<usize>,
    /// Every this many ms, publish a top-`book_image_depth` image of each book that changed
    /// (0: none). Keeps the hot book of several storage services correct (docs/scaling.md).
    pub book_image_ms: u64,
    /// Levels per side of those images (at least the storage's hot book depth, 20).
    pub book_image_depth: usize,
    /// Most events per published batch (a batch is whatever is waiting when the previous
    /// publish completes, up to this).
    pub batch_size: usize,
    /// 0 (default): publish at once, batching only what is already waiting. Above 0: hold a
    /// partial batch up to this many ms (fewer, larger publishes; more latency).
    pub batch_ms: u64,
    /// Most events of one subject per NATS message (the events of a subject that waited
    /// together in a batch travel as one message; see docs/storage.md, "On the bus").
    /// Default: 256 with static sharding; 1 with `[assignment]`, where collectors overlap
    /// (hand-over, redundancy) and JetStream must drop each event's second copy by its own
    /// identity — so more than 1 is refused there.
    pub max_events_per_message: Option<usize>,
    /// Batches published at once to JetStream (default 4): a batch goes out as soon as it
    /// forms, without waiting for the previous one's acks, so one slow ack does not delay
    /// the events behind it; when all are busy, the next batch grows. 1: one at a time.
    /// (The in-process bus takes one batch at a time.)
    pub batches_in_flight: usize,
}

impl CollectorConfig {
    /// The effective [`max_events_per_message`](Self::max_events_per_message).
    ///
    /// ```
    /// use marketprism_bins::collector::CollectorConfig;
    /// let mut c = CollectorConfig::default();
    /// assert_eq!(c.events_per_message(), 256);
    /// c.assignment.enabled = true;
    /// assert_eq!(c.events_per_message(), 1);
    /// ```
    pub fn events_per_message(&self) -> usize {
        match self.max_events_per_message {
            Some(n) => n.max(1),
            None if self.assignment.enabled => 1,
            None => 256,
        }
    }
}

/// One venue to collect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// Venue name: a built-in (`binance-spot`, `binance-usdm`, `binance-coinm`, `okx`,
    /// `deribit`) or the [`name`](marketprism_exchanges::Exchange::name) of an exchange added with
    /// [`Collector::exchange`](super::Collector::exchange).
    pub venue: String,
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
    pub fn owns(&self, venue: &str, symbol: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in venue.bytes().chain([b':']).chain(symbol.bytes()) {
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
                venue: Venue::BinanceSpot.as_str().into(),
                channels: vec![Channel::Trades, Channel::Book],
                symbols: vec!["BTC-USDT".into(), "ETH-USDT".into()],
                markets: Vec::new(),
                ws_url: None,
                rest_url: None,
            }],
            shard: ShardConfig::default(),
            assignment: AssignmentConfig::default(),
            book_depth: Some(100),
            book_image_ms: 1000,
            book_image_depth: 20,
            batch_size: 2000,
            batch_ms: 0,
            max_events_per_message: None,
            batches_in_flight: 4,
        }
    }
}
