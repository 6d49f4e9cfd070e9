//! Row types that map one event field to several columns (book levels as parallel price and
//! size arrays; a status kind as its name and its JSON), written out by hand; every other
//! kind's row is generated in [`super::rows`].

use clickhouse::Row;
use marketprism_core::model::*;
use serde::{Deserialize, Serialize};

use super::rows::{EventRow, Name, exchange, levels_from, levels_to, market};
use crate::{EventKind, Result};

/// Defines the book rows: the common columns, the listed sequence columns (copied), then each
/// side's levels as parallel price and size arrays, best first.
macro_rules! book_rows {
    ($(
        $(#[$doc:meta])*
        $row:ident for $variant:ident { $($seq:ident),* } $(+ $extra:ident = $value:expr)?
    )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Row, Serialize, Deserialize)]
        pub(crate) struct $row {
            pub exchange: Name,
            pub market: Name,
            pub symbol: Symbol,
            $(pub $seq: u64,)*
            pub bid_prices: Vec<i128>,
            pub bid_sizes: Vec<i128>,
            pub ask_prices: Vec<i128>,
            pub ask_sizes: Vec<i128>,
            pub exchange_ts: i64,
            pub local_ts: i64,
        }

        impl EventRow for $row {
            const EVENT_KIND: EventKind = EventKind::$variant;
            fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
                let MarketEvent::$variant(b) = event else {
                    return Ok(None);
                };
                let (bid_prices, bid_sizes) = levels_to(&b.bids)?;
                let (ask_prices, ask_sizes) = levels_to(&b.asks)?;
                Ok(Some($row {
                    exchange: Name::Borrowed(b.exchange.as_str()),
                    market: Name::Borrowed(b.market.as_str()),
                    symbol: b.symbol.clone(),
                    $($seq: b.$seq,)*
                    bid_prices,
                    bid_sizes,
                    ask_prices,
                    ask_sizes,
                    exchange_ts: b.exchange_ts,
                    local_ts: b.local_ts,
                }))
            }
            fn into_event(self) -> Result<MarketEvent> {
                Ok(MarketEvent::$variant($variant {
                    exchange: exchange(&self.exchange)?,
                    market: market(&self.market)?,
                    symbol: self.symbol,
                    $($seq: self.$seq,)*
                    bids: levels_from(self.bid_prices, self.bid_sizes)?,
                    asks: levels_from(self.ask_prices, self.ask_sizes)?,
                    exchange_ts: self.exchange_ts,
                    local_ts: self.local_ts,
                    $($extra: $value,)?
                }))
            }
        }
    )*};
}

book_rows! {
    /// Book snapshot row: levels as parallel arrays, best first. Top-N images are never
    /// stored here (the sink leaves them out), so a row is always a whole book.
    BookSnapshotRow for BookSnapshot { sequence } + top_n = None
    /// Book delta row.
    BookDeltaRow for BookDelta { prev_sequence, sequence }
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
        Ok(MarketEvent::Status(
            Status::new(
                exchange(&self.exchange)?,
                market(&self.market)?,
                (!self.symbol.is_empty()).then(|| Symbol::from(self.symbol)),
                self.exchange_ts,
                serde_json::from_str(&self.detail)?,
            )
            .with_local_ts(self.local_ts),
        ))
    }
}
