//! Hot-state bookkeeping shared by the Redis and embedded hot stores: the top-N order book
//! maintained from snapshots and deltas.

use std::collections::HashMap;
use std::sync::Mutex;

use marketprism_core::{
    book::OrderBook,
    model::{BookSnapshot, MarketEvent},
};

use crate::query::InstrumentKey;

/// What a book event does to the stored top-N book.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BookUpdate {
    /// Store this top-N image.
    Set(InstrumentKey, BookSnapshot),
    /// The book is unknown now (gap): remove the stored image.
    Clear(InstrumentKey),
}

/// In-memory books, one per instrument, fed by book snapshots and deltas.
///
/// A delta already applied (redelivery) is ignored; a delta that does not follow the book
/// (a gap, or deltas seen before any snapshot after a restart) makes the book unknown until
/// the next snapshot: a stale book is never served as current.
#[derive(Debug)]
pub(crate) struct BookKeeper {
    depth: usize,
    books: Mutex<HashMap<InstrumentKey, Option<OrderBook>>>,
}

impl BookKeeper {
    pub(crate) fn new(depth: usize) -> Self {
        BookKeeper {
            depth: depth.max(1),
            books: Mutex::new(HashMap::new()),
        }
    }

    /// Applies the book events of `batch` in order; returns the final update per instrument.
    pub(crate) fn apply(&self, batch: &[MarketEvent]) -> Vec<BookUpdate> {
        let Ok(mut books) = self.books.lock() else {
            return Vec::new();
        };
        let mut touched: Vec<InstrumentKey> = Vec::new();
        for event in batch {
            let key = match event {
                MarketEvent::BookSnapshot(s) => {
                    let Some(key) = InstrumentKey::of(event) else {
                        continue;
                    };
                    let mut book = OrderBook::new();
                    book.apply_snapshot(s);
                    books.insert(key.clone(), Some(book));
                    key
                }
                MarketEvent::BookDelta(d) => {
                    let Some(key) = InstrumentKey::of(event) else {
                        continue;
                    };
                    let entry = books.entry(key.clone()).or_insert(None);
                    let applied = match entry {
                        // Already applied (a redelivery).
                        Some(book) if d.sequence <= book.sequence() => continue,
                        Some(book) => book.apply_delta(d).is_ok(),
                        // Unknown until the next snapshot.
                        None => continue,
                    };
                    if !applied {
                        *entry = None;
                    }
                    key
                }
                _ => continue,
            };
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        touched
            .into_iter()
            .map(|key| match books.get(&key) {
                Some(Some(book)) => {
                    let (bids, asks) = book.top(self.depth);
                    let snap = BookSnapshot {
                        exchange: key.exchange,
                        market: key.market,
                        symbol: key.symbol.clone(),
                        sequence: book.sequence(),
                        bids,
                        asks,
                        exchange_ts: book.exchange_ts(),
                        local_ts: marketprism_core::model::now_ns(),
                    };
                    BookUpdate::Set(key, snap)
                }
                _ => BookUpdate::Clear(key),
            })
            .collect()
    }
}

/// For each instrument and hot kind in `batch`, the event with the greatest `exchange_ts`
/// (the later one on ties), in first-seen order.
pub(crate) fn latest_per_key(batch: &[MarketEvent]) -> Vec<&MarketEvent> {
    let mut out: Vec<&MarketEvent> = Vec::new();
    let mut index: HashMap<(crate::EventKind, InstrumentKey), usize> = HashMap::new();
    for event in batch {
        let kind = crate::EventKind::of(event);
        if !crate::query::HOT_KINDS.contains(&kind) {
            continue;
        }
        let Some(key) = InstrumentKey::of(event) else {
            continue;
        };
        match index.get(&(kind, key.clone())) {
            Some(&i) => {
                if event.exchange_ts() >= out[i].exchange_ts() {
                    out[i] = event;
                }
            }
            None => {
                index.insert((kind, key), out.len());
                out.push(event);
            }
        }
    }
    out
}
