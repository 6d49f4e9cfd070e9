use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{EventKind, ExchangeId, MarketType, Side, Status, Symbol, TimestampNs};

/// Every normalized event. Serialized as JSON with a `type` tag:
///
/// ```json
/// {"type":"trade","exchange":"binance","market":"spot","symbol":"BTC-USDT","trade_id":"12345",
///  "side":"buy","price":"64000.10","size":"0.015","exchange_ts":1700000000000000000,"local_ts":1700000000000300000}
/// ```
///
/// ```
/// use marketprism_core::model::MarketEvent;
/// let json = r#"{"type":"trade","exchange":"binance","market":"spot","symbol":"BTC-USDT","trade_id":"1",
///   "side":"buy","price":"64000.10","size":"0.015","exchange_ts":1,"local_ts":2}"#;
/// let event: MarketEvent = serde_json::from_str(json)?;
/// assert_eq!(event.kind(), "trade");
/// assert_eq!(event.symbol().map(|s| s.as_str()), Some("BTC-USDT"));
/// # Ok::<_, serde_json::Error>(())
/// ```
// `Deserialize` is in `event_de.rs`: the tag first, without serde's buffering.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MarketEvent {
    /// A public trade.
    Trade(Trade),
    /// A full (or top-N) order-book image; replaces the book.
    BookSnapshot(BookSnapshot),
    /// Changed levels since the previous book event; size zero removes a level.
    BookDelta(BookDelta),
    /// Best bid and offer.
    Bbo(Bbo),
    /// Rolling 24 h ticker.
    Ticker(Ticker),
    /// Funding rate of a perpetual.
    FundingRate(FundingRate),
    /// Mark and/or index price.
    MarkPrice(MarkPrice),
    /// Open interest.
    OpenInterest(OpenInterest),
    /// A forced liquidation order.
    Liquidation(Liquidation),
    /// Long/short ratio statistics.
    LongShortRatio(LongShortRatio),
    /// Option summary: implied volatility, greeks, underlying.
    OptionSummary(OptionSummary),
    /// Volatility index (Deribit DVOL).
    VolatilityIndex(VolatilityIndex),
    /// Candlestick.
    Kline(Kline),
    /// A discontinuity or connection change: connected, disconnected, resync, gap.
    Status(Status),
}

macro_rules! header_accessors {
    ($($variant:ident),*) => {
        impl MarketEvent {
            /// Exchange the event came from.
            pub fn exchange(&self) -> ExchangeId {
                match self { $(MarketEvent::$variant(e) => e.exchange,)* }
            }
            /// Market type of the instrument.
            pub fn market(&self) -> MarketType {
                match self { $(MarketEvent::$variant(e) => e.market,)* }
            }
            /// Exchange timestamp (ns).
            pub fn exchange_ts(&self) -> TimestampNs {
                match self { $(MarketEvent::$variant(e) => e.exchange_ts,)* }
            }
            /// Local receive timestamp (ns).
            pub fn local_ts(&self) -> TimestampNs {
                match self { $(MarketEvent::$variant(e) => e.local_ts,)* }
            }
        }
    };
}

header_accessors!(
    Trade,
    BookSnapshot,
    BookDelta,
    Bbo,
    Ticker,
    FundingRate,
    MarkPrice,
    OpenInterest,
    Liquidation,
    LongShortRatio,
    OptionSummary,
    VolatilityIndex,
    Kline,
    Status
);

impl MarketEvent {
    /// The event's type: its `type` tag, which is also the first token of the event's subject
    /// (book snapshots and deltas share `book`, see [`crate::subject`]).
    pub fn kind(&self) -> EventKind {
        match self {
            MarketEvent::Trade(_) => EventKind::Trade,
            MarketEvent::BookSnapshot(_) => EventKind::BookSnapshot,
            MarketEvent::BookDelta(_) => EventKind::BookDelta,
            MarketEvent::Bbo(_) => EventKind::Bbo,
            MarketEvent::Ticker(_) => EventKind::Ticker,
            MarketEvent::FundingRate(_) => EventKind::FundingRate,
            MarketEvent::MarkPrice(_) => EventKind::MarkPrice,
            MarketEvent::OpenInterest(_) => EventKind::OpenInterest,
            MarketEvent::Liquidation(_) => EventKind::Liquidation,
            MarketEvent::LongShortRatio(_) => EventKind::LongShortRatio,
            MarketEvent::OptionSummary(_) => EventKind::OptionSummary,
            MarketEvent::VolatilityIndex(_) => EventKind::VolatilityIndex,
            MarketEvent::Kline(_) => EventKind::Kline,
            MarketEvent::Status(_) => EventKind::Status,
        }
    }

    /// Normalized symbol; `None` only for connection-wide status events.
    pub fn symbol(&self) -> Option<&Symbol> {
        match self {
            MarketEvent::Trade(e) => Some(&e.symbol),
            MarketEvent::BookSnapshot(e) => Some(&e.symbol),
            MarketEvent::BookDelta(e) => Some(&e.symbol),
            MarketEvent::Bbo(e) => Some(&e.symbol),
            MarketEvent::Ticker(e) => Some(&e.symbol),
            MarketEvent::FundingRate(e) => Some(&e.symbol),
            MarketEvent::MarkPrice(e) => Some(&e.symbol),
            MarketEvent::OpenInterest(e) => Some(&e.symbol),
            MarketEvent::Liquidation(e) => Some(&e.symbol),
            MarketEvent::LongShortRatio(e) => Some(&e.symbol),
            MarketEvent::OptionSummary(e) => Some(&e.symbol),
            MarketEvent::VolatilityIndex(e) => Some(&e.symbol),
            MarketEvent::Kline(e) => Some(&e.symbol),
            MarketEvent::Status(e) => e.symbol.as_ref(),
        }
    }

    /// True for status events (connected, disconnected, resync, gap).
    pub fn is_status(&self) -> bool {
        matches!(self, MarketEvent::Status(_))
    }
}

/// One price level: `["price","size"]` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Level {
    /// Price.
    pub price: Decimal,
    /// Size at that price; zero in a delta removes the level.
    pub size: Decimal,
}

impl Level {
    /// A level.
    ///
    /// ```
    /// use marketprism_core::model::Level;
    /// use rust_decimal::Decimal;
    /// let l = Level::new(Decimal::new(10, 0), Decimal::ONE);
    /// assert_eq!(l.price, Decimal::new(10, 0));
    /// ```
    pub const fn new(price: Decimal, size: Decimal) -> Self {
        Level { price, size }
    }
}

/// A public trade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trade {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// The exchange's trade id (aggregate id for Binance `aggTrade`).
    pub trade_id: CompactString,
    /// Taker side.
    pub side: Side,
    /// Price.
    pub price: Decimal,
    /// Size in the exchange's unit (base for spot/linear, contracts where the exchange says so).
    pub size: Decimal,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// An order-book image. Replaces whatever book the consumer held for the symbol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookSnapshot {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// The exchange's book sequence after this image (`lastUpdateId`, `seqId`, `change_id`).
    pub sequence: u64,
    /// Bids, best (highest) first.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first.
    pub asks: Vec<Level>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns); for a [`top_n`](Self::top_n) image, when it was taken.
    pub local_ts: TimestampNs,
    /// `None` (absent in JSON): the book as synced, which deltas continue. `Some(n)`: a
    /// periodic image of the best `n` levels per side of a synced book at `sequence`
    /// (`MarketStreamBuilder::book_images` in marketprism-exchanges). It lets any number of
    /// consumers that each see only part of the deltas keep a correct top-N book, but it is
    /// not a base for deltas (levels below `n` are missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
}

impl BookSnapshot {
    /// True for a periodic top-N image (see [`top_n`](Self::top_n)).
    pub fn is_top_n_image(&self) -> bool {
        self.top_n.is_some()
    }
}

/// Changed levels. Sizes are absolute; zero removes the level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookDelta {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Sequence this delta follows (the previous event's `sequence`), as verified by the connector.
    pub prev_sequence: u64,
    /// The exchange's book sequence after this delta.
    pub sequence: u64,
    /// Changed bid levels.
    pub bids: Vec<Level>,
    /// Changed ask levels.
    pub asks: Vec<Level>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Best bid and offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bbo {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Best bid price.
    pub bid_price: Decimal,
    /// Best bid size.
    pub bid_size: Decimal,
    /// Best ask price.
    pub ask_price: Decimal,
    /// Best ask size.
    pub ask_size: Decimal,
    /// Book sequence when the exchange provides one.
    pub sequence: Option<u64>,
    /// Exchange time (ns); local time when the exchange stamps none.
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Rolling 24 h statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticker {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Last traded price.
    pub last_price: Decimal,
    /// Open price 24 h ago.
    pub open_24h: Option<Decimal>,
    /// 24 h high.
    pub high_24h: Option<Decimal>,
    /// 24 h low.
    pub low_24h: Option<Decimal>,
    /// 24 h volume in base units (or contracts where the exchange reports those).
    pub volume_24h: Option<Decimal>,
    /// 24 h volume in quote units.
    pub quote_volume_24h: Option<Decimal>,
    /// Best bid when included.
    pub best_bid: Option<Decimal>,
    /// Best ask when included.
    pub best_ask: Option<Decimal>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Funding rate of a perpetual, with mark and index price where the exchange sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundingRate {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Current funding rate (per funding interval).
    pub rate: Decimal,
    /// Predicted/next rate when published.
    pub next_rate: Option<Decimal>,
    /// Next funding time (ns).
    pub next_funding_ts: Option<TimestampNs>,
    /// Mark price.
    pub mark_price: Option<Decimal>,
    /// Index price.
    pub index_price: Option<Decimal>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Mark and/or index price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkPrice {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type ([`MarketType::Index`] for a pure index).
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Mark price.
    pub mark_price: Option<Decimal>,
    /// Index price.
    pub index_price: Option<Decimal>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Open interest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenInterest {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Open interest in contracts (or base units where the exchange reports those).
    pub open_interest: Decimal,
    /// Open interest valued in quote/settle currency when provided.
    pub open_interest_value: Option<Decimal>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// A forced liquidation order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Liquidation {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Side of the liquidation order (a long position is liquidated by a sell).
    pub side: Side,
    /// Price.
    pub price: Decimal,
    /// Size.
    pub size: Decimal,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Which population a long/short ratio describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RatioKind {
    /// Top traders, by position size.
    TopTraderPositions,
    /// Top traders, by account count.
    TopTraderAccounts,
    /// All accounts.
    AllAccounts,
}

impl RatioKind {
    /// The snake_case name, as in JSON.
    ///
    /// ```
    /// use marketprism_core::model::RatioKind;
    /// assert_eq!(RatioKind::AllAccounts.as_str(), "all_accounts");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            RatioKind::TopTraderPositions => "top_trader_positions",
            RatioKind::TopTraderAccounts => "top_trader_accounts",
            RatioKind::AllAccounts => "all_accounts",
        }
    }
}

/// Long/short ratio statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongShortRatio {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol (or the underlying, for exchanges that report per currency).
    pub symbol: Symbol,
    /// Population.
    pub kind: RatioKind,
    /// Statistics period, as the exchange names it (`5m`, `1H`).
    pub period: CompactString,
    /// Long/short ratio.
    pub ratio: Decimal,
    /// Long share (0..1) when given.
    pub long_share: Option<Decimal>,
    /// Short share (0..1) when given.
    pub short_share: Option<Decimal>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Option summary: implied volatility, greeks and underlying.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionSummary {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Mark price (in the exchange's option quote unit).
    pub mark_price: Option<Decimal>,
    /// Mark implied volatility (percent, as the exchange quotes it).
    pub mark_iv: Option<Decimal>,
    /// Bid IV.
    pub bid_iv: Option<Decimal>,
    /// Ask IV.
    pub ask_iv: Option<Decimal>,
    /// Delta.
    pub delta: Option<Decimal>,
    /// Gamma.
    pub gamma: Option<Decimal>,
    /// Vega.
    pub vega: Option<Decimal>,
    /// Theta.
    pub theta: Option<Decimal>,
    /// Rho.
    pub rho: Option<Decimal>,
    /// Underlying price.
    pub underlying_price: Option<Decimal>,
    /// Underlying index name.
    pub underlying_index: Option<CompactString>,
    /// Open interest.
    pub open_interest: Option<Decimal>,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Volatility index value (Deribit DVOL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolatilityIndex {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type ([`MarketType::Index`]).
    pub market: MarketType,
    /// Index symbol, e.g. `BTC-DVOL`.
    pub symbol: Symbol,
    /// Index value.
    pub value: Decimal,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}

/// Candlestick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kline {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Interval as the exchange names it (`1m`, `1H`).
    pub interval: CompactString,
    /// Candle open time (ns).
    pub open_ts: TimestampNs,
    /// Open.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close (last so far when not closed).
    pub close: Decimal,
    /// Volume (base units or contracts).
    pub volume: Decimal,
    /// Quote volume when given.
    pub quote_volume: Option<Decimal>,
    /// True when the candle is final.
    pub closed: bool,
    /// Exchange time (ns).
    pub exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub local_ts: TimestampNs,
}
