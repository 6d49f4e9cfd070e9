//! Best bid/ask per venue for one normalized symbol, and the cross-venue spread, from
//! [`OrderBook`]s kept from each venue's snapshots and deltas.

use std::collections::BTreeMap;

use futures::{Stream, StreamExt};
use marketprism_core::{
    book::OrderBook,
    model::{ExchangeId, MarketEvent},
};
use rust_decimal::Decimal;

/// One venue's top of book after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The venue.
    pub exchange: ExchangeId,
    /// Best bid price.
    pub bid: Decimal,
    /// Best ask price.
    pub ask: Decimal,
}

/// The best bid and best ask across venues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossSpread {
    /// Venue with the highest bid.
    pub bid_exchange: ExchangeId,
    /// Highest bid.
    pub bid: Decimal,
    /// Venue with the lowest ask.
    pub ask_exchange: ExchangeId,
    /// Lowest ask.
    pub ask: Decimal,
}

impl CrossSpread {
    /// `ask - bid`; negative when one venue bids above another's ask.
    pub fn spread(&self) -> Decimal {
        self.ask - self.bid
    }
}

/// Books per venue for one symbol.
#[derive(Debug, Default)]
pub struct Monitor {
    symbol: String,
    books: BTreeMap<ExchangeId, OrderBook>,
}

impl Monitor {
    /// Watches `symbol` (normalized, e.g. `BTC-USDT`).
    pub fn new(symbol: impl Into<String>) -> Self {
        Monitor {
            symbol: symbol.into(),
            books: BTreeMap::new(),
        }
    }

    /// A venue's book, once it has had a snapshot.
    pub fn book(&self, exchange: ExchangeId) -> Option<&OrderBook> {
        self.books.get(&exchange)
    }

    /// Applies one event; returns the venue's top of book when its book changed and has both
    /// sides. A delta that does not apply (gap) drops the book until the next snapshot, as
    /// does a resync or disconnect status.
    pub fn apply(&mut self, event: &MarketEvent) -> Option<Quote> {
        let exchange = event.exchange();
        if let MarketEvent::Status(s) = event {
            let ours = s.symbol.as_ref().is_none_or(|x| x.as_str() == self.symbol);
            if ours && s.kind.is_discontinuity() {
                self.books.remove(&exchange);
            }
            return None;
        }
        if event.symbol().map(|s| s.as_str()) != Some(self.symbol.as_str()) {
            return None;
        }
        match event {
            MarketEvent::BookSnapshot(s) => {
                self.books.entry(exchange).or_default().apply_snapshot(s);
            }
            MarketEvent::BookDelta(d) => {
                let book = self.books.get_mut(&exchange)?;
                if book.apply_delta(d).is_err() {
                    self.books.remove(&exchange);
                    return None;
                }
            }
            _ => return None,
        }
        let book = self.books.get(&exchange)?;
        Some(Quote {
            exchange,
            bid: book.best_bid()?.price,
            ask: book.best_ask()?.price,
        })
    }

    /// The best bid and ask over every venue with a two-sided book.
    pub fn cross(&self) -> Option<CrossSpread> {
        let mut bid: Option<(ExchangeId, Decimal)> = None;
        let mut ask: Option<(ExchangeId, Decimal)> = None;
        for (ex, book) in &self.books {
            if let Some(b) = book.best_bid()
                && bid.is_none_or(|(_, p)| b.price > p)
            {
                bid = Some((*ex, b.price));
            }
            if let Some(a) = book.best_ask()
                && ask.is_none_or(|(_, p)| a.price < p)
            {
                ask = Some((*ex, a.price));
            }
        }
        let ((bid_exchange, bid), (ask_exchange, ask)) = (bid?, ask?);
        Some(CrossSpread {
            bid_exchange,
            bid,
            ask_exchange,
            ask,
        })
    }
}

/// Runs the monitor over `events`, calling `on_quote` after every top-of-book update with the
/// monitor (for [`Monitor::cross`] and the books) and the venue's quote.
pub async fn run<S>(events: S, symbol: &str, mut on_quote: impl FnMut(&Monitor, &Quote)) -> Monitor
where
    S: Stream<Item = MarketEvent>,
{
    let mut events = std::pin::pin!(events);
    let mut monitor = Monitor::new(symbol);
    while let Some(event) = events.next().await {
        if let Some(q) = monitor.apply(&event) {
            on_quote(&monitor, &q);
        }
    }
    monitor
}
