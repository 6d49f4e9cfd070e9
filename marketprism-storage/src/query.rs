//! The query side shared by every store: [`HistoryStore`] (ClickHouse, embedded) for time
//! ranges of stored events, and [`HotStore`] (Redis, embedded) for the latest state.
//!
//! Both traits are object-safe and used as `Arc<dyn HistoryStore>` / `Arc<dyn HotStore>`; the
//! HTTP API ([`crate::api`]) and the conformance tests only see these traits, so the embedded
//! store answers exactly like ClickHouse + Redis.

use async_trait::async_trait;
use marketprism_core::{
    model::{BookSnapshot, ExchangeId, MarketEvent, MarketType, Symbol, TimestampNs, Trade},
    sink::Health,
};
use serde::Serialize;

use crate::{EventKind, Result, StorageError};

/// Largest `limit` a query may ask for.
pub const MAX_LIMIT: usize = 100_000;

/// Sort order of query results, by `exchange_ts` (then identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first (default).
    #[default]
    OldestFirst,
    /// Newest first.
    NewestFirst,
}

/// A history query: one event kind, optional instrument filters, a time range, a limit.
///
/// ```
/// use marketprism_storage::{EventKind, query::{EventQuery, Order}};
/// use marketprism_core::model::{ExchangeId, Symbol};
/// let q = EventQuery::new(EventKind::Trade)
///     .exchange(ExchangeId::BINANCE)
///     .symbol(Symbol::new("BTC-USDT"))
///     .range(Some(1_000), Some(2_000))
///     .limit(50)
///     .order(Order::NewestFirst);
/// assert_eq!(q.limit, 50);
/// assert!(q.matches_ts(1_000) && !q.matches_ts(2_000));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// Event kind (one table).
    pub kind: EventKind,
    /// Only this exchange.
    pub exchange: Option<ExchangeId>,
    /// Only this market type.
    pub market: Option<MarketType>,
    /// Only this normalized symbol.
    pub symbol: Option<Symbol>,
    /// `exchange_ts >= from_ns` (inclusive).
    pub from_ns: Option<TimestampNs>,
    /// `exchange_ts < to_ns` (exclusive).
    pub to_ns: Option<TimestampNs>,
    /// At most this many events (default 1000).
    pub limit: usize,
    /// Sort order.
    pub order: Order,
}

impl EventQuery {
    /// All events of `kind`, oldest first, at most 1000.
    pub fn new(kind: EventKind) -> Self {
        EventQuery {
            kind,
            exchange: None,
            market: None,
            symbol: None,
            from_ns: None,
            to_ns: None,
            limit: 1000,
            order: Order::OldestFirst,
        }
    }
    /// Filters by exchange.
    pub fn exchange(mut self, exchange: ExchangeId) -> Self {
        self.exchange = Some(exchange);
        self
    }
    /// Filters by market type.
    pub fn market(mut self, market: MarketType) -> Self {
        self.market = Some(market);
        self
    }
    /// Filters by normalized symbol.
    pub fn symbol(mut self, symbol: Symbol) -> Self {
        self.symbol = Some(symbol);
        self
    }
    /// Restricts `exchange_ts` to `[from, to)`.
    pub fn range(mut self, from: Option<TimestampNs>, to: Option<TimestampNs>) -> Self {
        self.from_ns = from;
        self.to_ns = to;
        self
    }
    /// Sets the limit.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    /// Sets the order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
    /// Whether `ts` lies in the query's time range.
    pub fn matches_ts(&self, ts: TimestampNs) -> bool {
        self.from_ns.is_none_or(|f| ts >= f) && self.to_ns.is_none_or(|t| ts < t)
    }
    /// Whether `event` passes every filter except the limit.
    pub fn matches(&self, event: &MarketEvent) -> bool {
        EventKind::of(event) == self.kind
            && self.exchange.is_none_or(|e| e == event.exchange())
            && self.market.is_none_or(|m| m == event.market())
            && self
                .symbol
                .as_ref()
                .is_none_or(|s| event.symbol() == Some(s))
            && self.matches_ts(event.exchange_ts())
    }
    /// Checks the limit and the range; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(StorageError::InvalidInput {
                field: "limit",
                message: format!("must be between 1 and {MAX_LIMIT}"),
            });
        }
        if let (Some(f), Some(t)) = (self.from_ns, self.to_ns)
            && f > t
        {
            return Err(StorageError::InvalidInput {
                field: "start_time",
                message: "must not be after end_time".into(),
            });
        }
        Ok(())
    }
}

/// Stored rows of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindStats {
    /// Event kind.
    pub kind: &'static str,
    /// Deduplicated events stored.
    pub events: u64,
}

/// What a retention run removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RetentionReport {
    /// Partitions (ClickHouse: days per table) dropped.
    pub partitions_dropped: u64,
    /// Events deleted (embedded store; unknown for ClickHouse partition drops: 0).
    pub events_deleted: u64,
}

/// What a daily archive run did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ArchiveReport {
    /// The UTC day archived, `YYYYMMDD`.
    pub day: u32,
    /// Partitions (ClickHouse: one per table) merged into their final, deduplicated form.
    pub partitions_finalized: u64,
}

/// Time-range queries over stored events, deduplicated by event identity.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Store name (`clickhouse`, `embedded`).
    fn name(&self) -> &str;
    /// Events matching `query`, deduplicated, in the query's order, at most `query.limit`.
    async fn query(&self, query: &EventQuery) -> Result<Vec<MarketEvent>>;
    /// How many deduplicated events match `query` (the limit is ignored).
    async fn count(&self, query: &EventQuery) -> Result<u64>;
    /// Deduplicated event counts per kind (kinds with none are included with 0).
    async fn stats(&self) -> Result<Vec<KindStats>>;
    /// Deletes events whose `exchange_ts` day is more than `days` days before today (UTC).
    /// `days` above [`MAX_DAYS_BACK`] is refused with [`StorageError::InvalidInput`].
    async fn drop_older_than(&self, days: u32) -> Result<RetentionReport>;
    /// Seals the UTC day `days_ago` days before today: a store that deduplicates lazily
    /// (ClickHouse `ReplacingMergeTree`) merges that day's parts into their final form, so the
    /// day is stored once, compactly, and reads no longer pay for merging it. Stores that
    /// deduplicate on write (embedded) have nothing to do.
    async fn finalize_day(&self, days_ago: u32) -> Result<ArchiveReport> {
        Ok(ArchiveReport {
            day: utc_day(days_ago, "days_ago")?,
            partitions_finalized: 0,
        })
    }
    /// Current health.
    async fn health(&self) -> Health;
}

/// The most days back that retention and archiving accept (about 100 years): a day count
/// from a request must never wrap the clock (`999999` days once deleted every event).
pub const MAX_DAYS_BACK: u32 = 36_500;

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Start (00:00 UTC, in ns) of the day `days` days before the day of `now_ns`, checked:
/// `days` above [`MAX_DAYS_BACK`] is an [`StorageError::InvalidInput`] naming `field`.
pub(crate) fn day_start_days_ago(now_ns: i64, days: u32, field: &'static str) -> Result<i64> {
    let out_of_range = || StorageError::InvalidInput {
        field,
        message: format!("{days} is out of range 0..={MAX_DAYS_BACK}"),
    };
    if days > MAX_DAYS_BACK {
        return Err(out_of_range());
    }
    let today = now_ns.div_euclid(NS_PER_DAY).checked_mul(NS_PER_DAY);
    today
        .and_then(|t| t.checked_sub(i64::from(days).checked_mul(NS_PER_DAY)?))
        .ok_or_else(out_of_range)
}

/// `YYYYMMDD` of the UTC day `days_ago` days before today; `days_ago` is checked against
/// [`MAX_DAYS_BACK`].
pub(crate) fn utc_day(days_ago: u32, field: &'static str) -> Result<u32> {
    let ts = day_start_days_ago(marketprism_core::model::now_ns(), days_ago, field)?;
    let (y, m, d) = marketprism_core::model::utc_date(ts);
    u32::try_from(y)
        .ok()
        .and_then(|y| y.checked_mul(10_000))
        .map(|y| y + m * 100 + d)
        .ok_or_else(|| StorageError::InvalidInput {
            field,
            message: format!("{days_ago} days ago is before year 0"),
        })
}

/// Exchange, market and symbol: one instrument's hot state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstrumentKey {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
}

impl InstrumentKey {
    /// A key.
    pub fn new(exchange: ExchangeId, market: MarketType, symbol: Symbol) -> Self {
        InstrumentKey {
            exchange,
            market,
            symbol,
        }
    }

    /// The key of `event`, `None` for connection-wide status events.
    pub fn of(event: &MarketEvent) -> Option<Self> {
        Some(InstrumentKey::new(
            event.exchange(),
            event.market(),
            event.symbol()?.clone(),
        ))
    }

    /// A key whose market type is inferred from the normalized symbol: `-PERP` → perpetual,
    /// `-YYYYMMDD` → future, `-YYYYMMDD-STRIKE-C|P` → option, `-DVOL` → index, else spot.
    ///
    /// ```
    /// use marketprism_storage::query::InstrumentKey;
    /// use marketprism_core::model::{ExchangeId, MarketType};
    /// let m = |s| InstrumentKey::infer(ExchangeId::OKX, s).market;
    /// assert_eq!(m("BTC-USDT"), MarketType::Spot);
    /// assert_eq!(m("BTC-USDT-PERP"), MarketType::Perpetual);
    /// assert_eq!(m("BTC-USD-20261225"), MarketType::Future);
    /// assert_eq!(m("BTC-USD-20261225-60000-C"), MarketType::Option);
    /// ```
    pub fn infer(exchange: ExchangeId, symbol: &str) -> Self {
        let parts: Vec<&str> = symbol.split('-').collect();
        let is_date = |s: &str| s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit());
        let market = match parts.as_slice() {
            [.., "PERP"] => MarketType::Perpetual,
            [.., "DVOL"] => MarketType::Index,
            [_, _, d, _, "C" | "P"] if is_date(d) => MarketType::Option,
            [_, _, d] if is_date(d) => MarketType::Future,
            _ => MarketType::Spot,
        };
        InstrumentKey::new(exchange, market, Symbol::new(symbol))
    }
}

/// Kinds whose latest value per instrument the hot stores keep.
pub const HOT_KINDS: [EventKind; 5] = [
    EventKind::Bbo,
    EventKind::Ticker,
    EventKind::FundingRate,
    EventKind::OpenInterest,
    EventKind::MarkPrice,
];

/// True for an event that only the hot stores keep: a top-N book image
/// ([`BookSnapshot::top_n`]). History stores leave it out: the whole snapshots and deltas
/// already hold the book's history, and periodic images of every book would multiply the
/// `book_snapshot` table.
pub fn is_hot_only(event: &MarketEvent) -> bool {
    matches!(event, MarketEvent::BookSnapshot(s) if s.is_top_n_image())
}

/// The latest state per instrument: latest BBO / ticker / funding / open interest / mark price,
/// the top-N book, recent trades.
#[async_trait]
pub trait HotStore: Send + Sync {
    /// Store name (`redis`, `embedded`).
    fn name(&self) -> &str;
    /// The latest event of `kind` (one of [`HOT_KINDS`]) for `key`: the one with the greatest
    /// `exchange_ts` written so far (and not expired).
    async fn latest(&self, kind: EventKind, key: &InstrumentKey) -> Result<Option<MarketEvent>>;
    /// The most recent trades of `key`, newest first, at most `limit`, each trade once.
    async fn recent_trades(&self, key: &InstrumentKey, limit: usize) -> Result<Vec<Trade>>;
    /// The top-N book of `key`, best levels first: the newest image by `sequence` written
    /// so far, maintained from snapshots and deltas and from top-N images. Its `sequence`
    /// and `local_ts` (when the image was taken) tell how current it is.
    async fn book(&self, key: &InstrumentKey) -> Result<Option<BookSnapshot>>;
    /// Current health.
    async fn health(&self) -> Health;
}

/// Checks that `kind` is kept by hot stores.
#[cfg(any(feature = "redis", feature = "embedded"))]
pub(crate) fn check_hot_kind(kind: EventKind) -> Result<()> {
    if HOT_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(StorageError::InvalidInput {
            field: "type",
            message: format!("`{kind}` has no latest value in the hot store"),
        })
    }
}
