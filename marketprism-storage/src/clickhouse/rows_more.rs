//! Row types that map one event field to several columns (book levels as parallel price and
//! size arrays; a status kind as its name and its JSON), written out by hand; every other
//! kind's row is generated in [`super::rows`].

use clickhouse::Row;
use marketprism_core::model::*;
use serde::{Deserialize, Serialize};

use super::rows::{EventRow, exchange, levels_from, levels_to, market};
use crate::{EventKind, Result};

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

/// Status row: `symbol` is empty for connection-wide events; `detail` is the status kind's
/// JSON (`{"status":"gap","expected":..,"received":..}`), `status` its name.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct StatusRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub status: String,
    pub detail: String,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for StatusRow {
    const EVENT_KIND: EventKind = EventKind::Status;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Status(s) = event else {
            return Ok(None);
        };
        Ok(Some(StatusRow {
            exchange: s.exchange.as_str().into(),
            market: s.market.as_str().into(),
            symbol: s
                .symbol
                .as_ref()
                .map_or_else(String::new, |s| s.as_str().into()),
            status: s.kind.as_str().into(),
            detail: serde_json::to_string(&s.kind)?,
            exchange_ts: s.exchange_ts,
            local_ts: s.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Status(Status {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: (!self.symbol.is_empty()).then(|| Symbol::from(self.symbol)),
            kind: serde_json::from_str(&self.detail)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}
