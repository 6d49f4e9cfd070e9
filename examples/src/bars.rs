//! A transform: one-minute OHLCV bars from trades, with exact [`Decimal`] arithmetic.
//!
//! A bar per (exchange, market, symbol, minute of `exchange_ts`) is emitted when a trade of a
//! later minute arrives for the same instrument; [`BarBuilder::finish`] emits the bars still
//! open. Bars are stored as [`MarketEvent::Kline`] (interval `1m`); the kline has no trade
//! count, so [`Bar`] carries it alongside.

use std::collections::HashMap;

use futures::{Stream, StreamExt};
use marketprism_core::model::{ExchangeId, Kline, MarketEvent, MarketType, Symbol, Trade, now_ns};
use marketprism_storage::embedded::EmbeddedStore;
use rust_decimal::Decimal;

use crate::BoxError;

/// Nanoseconds in a minute.
pub const MINUTE_NS: i64 = 60_000_000_000;

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Exchange.
    pub exchange: ExchangeId,
    /// Market type.
    pub market: MarketType,
    /// Normalized symbol.
    pub symbol: Symbol,
    /// Start of the minute (ns).
    pub open_ts: i64,
    /// First trade's price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Last trade's price.
    pub close: Decimal,
    /// Sum of trade sizes.
    pub volume: Decimal,
    /// Number of trades.
    pub count: u64,
    /// Exchange time of the last trade (ns).
    pub last_ts: i64,
}

impl Bar {
    fn start(t: &Trade, open_ts: i64) -> Self {
        Bar {
            exchange: t.exchange,
            market: t.market,
            symbol: t.symbol.clone(),
            open_ts,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.size,
            count: 1,
            last_ts: t.exchange_ts,
        }
    }

    fn add(&mut self, t: &Trade) {
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.close = t.price;
        self.volume += t.size;
        self.count += 1;
        self.last_ts = t.exchange_ts;
    }

    /// The bar as a `1m` kline; `closed` when its minute is over.
    pub fn to_kline(&self, closed: bool) -> Kline {
        Kline {
            exchange: self.exchange,
            market: self.market,
            symbol: self.symbol.clone(),
            interval: "1m".into(),
            open_ts: self.open_ts,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            quote_volume: None,
            closed,
            exchange_ts: self.last_ts,
            local_ts: now_ns(),
        }
    }
}

/// The minute `ts` (ns) falls in.
pub fn minute_of(ts: i64) -> i64 {
    ts.div_euclid(MINUTE_NS) * MINUTE_NS
}

/// Builds bars from trades, per instrument.
#[derive(Debug, Default)]
pub struct BarBuilder {
    open: HashMap<(ExchangeId, MarketType, Symbol), Bar>,
}

impl BarBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trade; returns the instrument's previous bar when this trade starts a later
    /// minute. A trade of an earlier minute than the open bar (out of order) is counted in the
    /// open bar.
    pub fn push(&mut self, t: &Trade) -> Option<Bar> {
        let minute = minute_of(t.exchange_ts);
        let key = (t.exchange, t.market, t.symbol.clone());
        match self.open.get_mut(&key) {
            Some(bar) if minute > bar.open_ts => self.open.insert(key, Bar::start(t, minute)),
            Some(bar) => {
                bar.add(t);
                None
            }
            None => {
                self.open.insert(key, Bar::start(t, minute));
                None
            }
        }
    }

    /// The bars still open, oldest first.
    pub fn finish(self) -> Vec<Bar> {
        let mut bars: Vec<Bar> = self.open.into_values().collect();
        bars.sort_by(|a, b| (a.open_ts, a.symbol.as_str()).cmp(&(b.open_ts, b.symbol.as_str())));
        bars
    }
}

/// What [`run`] saw and made.
#[derive(Debug, Default)]
pub struct BarRun {
    /// Every trade consumed.
    pub trades: Vec<Trade>,
    /// Every bar emitted, the still-open ones last.
    pub bars: Vec<Bar>,
}

/// Consumes `events`, writing each completed bar to `store` as a closed kline and, when the
/// stream ends, the open bars as unclosed klines.
pub async fn run<S>(events: S, store: &EmbeddedStore) -> Result<BarRun, BoxError>
where
    S: Stream<Item = MarketEvent>,
{
    let mut events = std::pin::pin!(events);
    let mut builder = BarBuilder::new();
    let mut out = BarRun::default();
    while let Some(event) = events.next().await {
        let MarketEvent::Trade(t) = event else {
            continue;
        };
        if let Some(bar) = builder.push(&t) {
            store
                .write_events(&[MarketEvent::Kline(bar.to_kline(true))])
                .await?;
            out.bars.push(bar);
        }
        out.trades.push(t);
    }
    let open = builder.finish();
    let klines: Vec<MarketEvent> = open
        .iter()
        .map(|b| MarketEvent::Kline(b.to_kline(false)))
        .collect();
    store.write_events(&klines).await?;
    out.bars.extend(open);
    Ok(out)
}
