//! One RowBinary row type per event kind, converting exactly to and from [`MarketEvent`].
//!
//! Column order and names match [`super::schema`]; decimals are `Decimal(38, 18)` carried as
//! `i128` (see [`super::decimal`]), sides are `Enum8('buy' = 1, 'sell' = 2)`.

use clickhouse::Row;
use marketprism_core::model::*;
use serde::{Deserialize, Serialize};

use super::decimal::{from_i128 as dec, opt_from_i128 as odec, opt_to_i128 as oi, to_i128 as i};
use crate::{EventKind, Result, StorageError};

pub(crate) use super::rows_more::*;

/// A row type of one event kind.
pub(crate) trait EventRow:
    clickhouse::RowOwned + clickhouse::RowRead + clickhouse::RowWrite + Send + Sync + 'static
{
    /// The kind this row stores.
    const EVENT_KIND: EventKind;
    /// The row of `event`; `Ok(None)` when `event` is of another kind.
    fn from_event(event: &MarketEvent) -> Result<Option<Self>>;
    /// The event back.
    fn into_event(self) -> Result<MarketEvent>;
}

pub(crate) fn exchange(s: &str) -> Result<ExchangeId> {
    s.parse().map_err(|_| corrupt("exchange", s))
}
pub(crate) fn market(s: &str) -> Result<MarketType> {
    s.parse().map_err(|_| corrupt("market", s))
}
pub(crate) fn corrupt(what: &'static str, value: &str) -> StorageError {
    StorageError::Corrupt {
        what,
        message: format!("unexpected value `{value}`"),
    }
}
pub(crate) fn side_code(side: Side) -> i8 {
    match side {
        Side::Buy => 1,
        Side::Sell => 2,
    }
}
pub(crate) fn side(code: i8) -> Result<Side> {
    match code {
        1 => Ok(Side::Buy),
        2 => Ok(Side::Sell),
        other => Err(corrupt("side", &other.to_string())),
    }
}
fn levels_to(levels: &[Level]) -> Result<(Vec<i128>, Vec<i128>)> {
    let mut p = Vec::with_capacity(levels.len());
    let mut s = Vec::with_capacity(levels.len());
    for l in levels {
        p.push(i(&l.price)?);
        s.push(i(&l.size)?);
    }
    Ok((p, s))
}
fn levels_from(prices: Vec<i128>, sizes: Vec<i128>) -> Result<Vec<Level>> {
    if prices.len() != sizes.len() {
        return Err(corrupt(
            "book levels",
            "price and size arrays differ in length",
        ));
    }
    prices
        .into_iter()
        .zip(sizes)
        .map(|(p, s)| Ok(Level::new(dec(p)?, dec(s)?)))
        .collect()
}

/// Trade row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct TradeRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub trade_id: String,
    pub side: i8,
    pub price: i128,
    pub size: i128,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for TradeRow {
    const EVENT_KIND: EventKind = EventKind::Trade;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Trade(t) = event else {
            return Ok(None);
        };
        Ok(Some(TradeRow {
            exchange: t.exchange.as_str().into(),
            market: t.market.as_str().into(),
            symbol: t.symbol.as_str().into(),
            trade_id: t.trade_id.as_str().into(),
            side: side_code(t.side),
            price: i(&t.price)?,
            size: i(&t.size)?,
            exchange_ts: t.exchange_ts,
            local_ts: t.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Trade(Trade {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            trade_id: self.trade_id.into(),
            side: side(self.side)?,
            price: dec(self.price)?,
            size: dec(self.size)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Book snapshot row: levels as parallel arrays, best first.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct BookSnapshotRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub sequence: u64,
    pub bid_prices: Vec<i128>,
    pub bid_sizes: Vec<i128>,
    pub ask_prices: Vec<i128>,
    pub ask_sizes: Vec<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for BookSnapshotRow {
    const EVENT_KIND: EventKind = EventKind::BookSnapshot;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::BookSnapshot(b) = event else {
            return Ok(None);
        };
        let (bid_prices, bid_sizes) = levels_to(&b.bids)?;
        let (ask_prices, ask_sizes) = levels_to(&b.asks)?;
        Ok(Some(BookSnapshotRow {
            exchange: b.exchange.as_str().into(),
            market: b.market.as_str().into(),
            symbol: b.symbol.as_str().into(),
            sequence: b.sequence,
            bid_prices,
            bid_sizes,
            ask_prices,
            ask_sizes,
            exchange_ts: b.exchange_ts,
            local_ts: b.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::BookSnapshot(BookSnapshot {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            sequence: self.sequence,
            bids: levels_from(self.bid_prices, self.bid_sizes)?,
            asks: levels_from(self.ask_prices, self.ask_sizes)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Book delta row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct BookDeltaRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub prev_sequence: u64,
    pub sequence: u64,
    pub bid_prices: Vec<i128>,
    pub bid_sizes: Vec<i128>,
    pub ask_prices: Vec<i128>,
    pub ask_sizes: Vec<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for BookDeltaRow {
    const EVENT_KIND: EventKind = EventKind::BookDelta;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::BookDelta(b) = event else {
            return Ok(None);
        };
        let (bid_prices, bid_sizes) = levels_to(&b.bids)?;
        let (ask_prices, ask_sizes) = levels_to(&b.asks)?;
        Ok(Some(BookDeltaRow {
            exchange: b.exchange.as_str().into(),
            market: b.market.as_str().into(),
            symbol: b.symbol.as_str().into(),
            prev_sequence: b.prev_sequence,
            sequence: b.sequence,
            bid_prices,
            bid_sizes,
            ask_prices,
            ask_sizes,
            exchange_ts: b.exchange_ts,
            local_ts: b.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::BookDelta(BookDelta {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            prev_sequence: self.prev_sequence,
            sequence: self.sequence,
            bids: levels_from(self.bid_prices, self.bid_sizes)?,
            asks: levels_from(self.ask_prices, self.ask_sizes)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// BBO row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct BboRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub bid_price: i128,
    pub bid_size: i128,
    pub ask_price: i128,
    pub ask_size: i128,
    pub sequence: Option<u64>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for BboRow {
    const EVENT_KIND: EventKind = EventKind::Bbo;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Bbo(b) = event else {
            return Ok(None);
        };
        Ok(Some(BboRow {
            exchange: b.exchange.as_str().into(),
            market: b.market.as_str().into(),
            symbol: b.symbol.as_str().into(),
            bid_price: i(&b.bid_price)?,
            bid_size: i(&b.bid_size)?,
            ask_price: i(&b.ask_price)?,
            ask_size: i(&b.ask_size)?,
            sequence: b.sequence,
            exchange_ts: b.exchange_ts,
            local_ts: b.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Bbo(Bbo {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            bid_price: dec(self.bid_price)?,
            bid_size: dec(self.bid_size)?,
            ask_price: dec(self.ask_price)?,
            ask_size: dec(self.ask_size)?,
            sequence: self.sequence,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Ticker row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct TickerRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub last_price: i128,
    pub open_24h: Option<i128>,
    pub high_24h: Option<i128>,
    pub low_24h: Option<i128>,
    pub volume_24h: Option<i128>,
    pub quote_volume_24h: Option<i128>,
    pub best_bid: Option<i128>,
    pub best_ask: Option<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for TickerRow {
    const EVENT_KIND: EventKind = EventKind::Ticker;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Ticker(t) = event else {
            return Ok(None);
        };
        Ok(Some(TickerRow {
            exchange: t.exchange.as_str().into(),
            market: t.market.as_str().into(),
            symbol: t.symbol.as_str().into(),
            last_price: i(&t.last_price)?,
            open_24h: oi(&t.open_24h)?,
            high_24h: oi(&t.high_24h)?,
            low_24h: oi(&t.low_24h)?,
            volume_24h: oi(&t.volume_24h)?,
            quote_volume_24h: oi(&t.quote_volume_24h)?,
            best_bid: oi(&t.best_bid)?,
            best_ask: oi(&t.best_ask)?,
            exchange_ts: t.exchange_ts,
            local_ts: t.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Ticker(Ticker {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            last_price: dec(self.last_price)?,
            open_24h: odec(self.open_24h)?,
            high_24h: odec(self.high_24h)?,
            low_24h: odec(self.low_24h)?,
            volume_24h: odec(self.volume_24h)?,
            quote_volume_24h: odec(self.quote_volume_24h)?,
            best_bid: odec(self.best_bid)?,
            best_ask: odec(self.best_ask)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Funding rate row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct FundingRateRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub rate: i128,
    pub next_rate: Option<i128>,
    pub next_funding_ts: Option<i64>,
    pub mark_price: Option<i128>,
    pub index_price: Option<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for FundingRateRow {
    const EVENT_KIND: EventKind = EventKind::FundingRate;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::FundingRate(f) = event else {
            return Ok(None);
        };
        Ok(Some(FundingRateRow {
            exchange: f.exchange.as_str().into(),
            market: f.market.as_str().into(),
            symbol: f.symbol.as_str().into(),
            rate: i(&f.rate)?,
            next_rate: oi(&f.next_rate)?,
            next_funding_ts: f.next_funding_ts,
            mark_price: oi(&f.mark_price)?,
            index_price: oi(&f.index_price)?,
            exchange_ts: f.exchange_ts,
            local_ts: f.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::FundingRate(FundingRate {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            rate: dec(self.rate)?,
            next_rate: odec(self.next_rate)?,
            next_funding_ts: self.next_funding_ts,
            mark_price: odec(self.mark_price)?,
            index_price: odec(self.index_price)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Mark/index price row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct MarkPriceRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub mark_price: Option<i128>,
    pub index_price: Option<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for MarkPriceRow {
    const EVENT_KIND: EventKind = EventKind::MarkPrice;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::MarkPrice(m) = event else {
            return Ok(None);
        };
        Ok(Some(MarkPriceRow {
            exchange: m.exchange.as_str().into(),
            market: m.market.as_str().into(),
            symbol: m.symbol.as_str().into(),
            mark_price: oi(&m.mark_price)?,
            index_price: oi(&m.index_price)?,
            exchange_ts: m.exchange_ts,
            local_ts: m.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::MarkPrice(MarkPrice {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            mark_price: odec(self.mark_price)?,
            index_price: odec(self.index_price)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Open interest row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct OpenInterestRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub open_interest: i128,
    pub open_interest_value: Option<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for OpenInterestRow {
    const EVENT_KIND: EventKind = EventKind::OpenInterest;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::OpenInterest(o) = event else {
            return Ok(None);
        };
        Ok(Some(OpenInterestRow {
            exchange: o.exchange.as_str().into(),
            market: o.market.as_str().into(),
            symbol: o.symbol.as_str().into(),
            open_interest: i(&o.open_interest)?,
            open_interest_value: oi(&o.open_interest_value)?,
            exchange_ts: o.exchange_ts,
            local_ts: o.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::OpenInterest(OpenInterest {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            open_interest: dec(self.open_interest)?,
            open_interest_value: odec(self.open_interest_value)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}
