//! Hot-state bookkeeping shared by the Redis and embedded hot stores: the top-N order book
//! maintained from snapshots and deltas, and from the collectors' top-N images.
//!
//! Several storage services may share one durable consumer, so each sees only part of
//! every book's deltas. The stored book is therefore written compare-and-set on its
//! `sequence` (a Lua script in Redis, one transaction in the embedded store): an image is
//! written only when its sequence is greater than the stored one, so any number of writers,
//! in any order, converge to the newest image. Every image written comes from a consistent
//! book: either this process's own book (a whole snapshot plus every following delta, none
//! missing) or a top-N image the collector took from its synced book. A process that misses
//! a delta drops its own book and writes nothing until the next whole snapshot; it never
//! clears what another process wrote.

use std::collections::HashMap;
use std::sync::Mutex;

use marketprism_core::{
    book::OrderBook,
    model::{BookSnapshot, MarketEvent},
};

use crate::query::InstrumentKey;

/// Decides whether an image at `incoming` replaces the stored one at `stored`: only a
/// strictly newer sequence does (an equal one is the same book).
pub(crate) fn replaces(stored: Option<u64>, incoming: u64) -> bool {
    stored.is_none_or(|s| incoming > s)
}

/// In-memory books, one per instrument, fed by whole book snapshots and deltas.
///
/// A delta already applied (redelivery) is ignored; a delta that does not follow the book
/// (a gap: another consumer took it, or deltas seen before any snapshot after a restart)
/// makes this process's book unknown until the next whole snapshot. Top-N images pass
/// through (truncated to the depth) and never become the base for deltas.
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

    /// Applies the book events of `batch` in order; returns, per instrument touched, the
    /// newest consistent top-N image seen (to write if newer than the stored one).
    pub(crate) fn apply(&self, batch: &[MarketEvent]) -> Vec<(InstrumentKey, BookSnapshot)> {
        let Ok(mut books) = self.books.lock() else {
            return Vec::new();
        };
        let mut touched: Vec<InstrumentKey> = Vec::new();
        // Per instrument, the newest consistent image seen in this batch so far.
        let mut images: HashMap<InstrumentKey, BookSnapshot> = HashMap::new();
        for event in batch {
            let Some(key) = InstrumentKey::of(event) else {
                continue;
            };
            match event {
                MarketEvent::BookSnapshot(s) if s.is_top_n_image() => {
                    offer(&mut images, &key, s.sequence, || self.truncate(s));
                }
                MarketEvent::BookSnapshot(s) => {
                    let mut book = OrderBook::new();
                    book.apply_snapshot(s);
                    books.insert(key.clone(), Some(book));
                }
                MarketEvent::BookDelta(d) => {
                    let entry = books.entry(key.clone()).or_insert(None);
                    match entry {
                        // Already applied (a redelivery), unless it follows the book: a
                        // delta may end at the sequence it starts from (Binance futures'
                        // first diff after a snapshot; OKX keepalives).
                        Some(book)
                            if d.sequence <= book.sequence()
                                && d.prev_sequence != book.sequence() =>
                        {
                            continue;
                        }
                        Some(book) => {
                            let before = book.sequence();
                            if book.apply_delta(d).is_err() {
                                // A gap: unknown here until the next snapshot; what is
                                // stored stays (another consumer may hold the delta). The
                                // book as it was up to the gap is still worth writing.
                                offer(&mut images, &key, before, || self.image(&key, book));
                                *entry = None;
                            }
                        }
                        None => continue,
                    }
                }
                _ => continue,
            }
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        for key in &touched {
            if let Some(Some(book)) = books.get(key) {
                offer(&mut images, key, book.sequence(), || self.image(key, book));
            }
        }
        touched
            .into_iter()
            .filter_map(|key| {
                let image = images.remove(&key)?;
                Some((key, image))
            })
            .collect()
    }

    /// The top-N image of this process's own (consistent) book of `key`.
    fn image(&self, key: &InstrumentKey, book: &OrderBook) -> BookSnapshot {
        let (bids, asks) = book.top(self.depth);
        BookSnapshot {
            exchange: key.exchange,
            market: key.market,
            symbol: key.symbol.clone(),
            sequence: book.sequence(),
            bids,
            asks,
            exchange_ts: book.exchange_ts(),
            local_ts: marketprism_core::model::now_ns(),
            top_n: Some(u32::try_from(self.depth).unwrap_or(u32::MAX)),
        }
    }

    fn truncate(&self, image: &BookSnapshot) -> BookSnapshot {
        let mut s = image.clone();
        s.bids.truncate(self.depth);
        s.asks.truncate(self.depth);
        let n = u32::try_from(self.depth).unwrap_or(u32::MAX);
        s.top_n = Some(s.top_n.map_or(n, |t| t.min(n)));
        s
    }
}

/// Keeps `make()` as the candidate image of `key` when its `sequence` is newer than the
/// current candidate (built only then).
fn offer(
    images: &mut HashMap<InstrumentKey, BookSnapshot>,
    key: &InstrumentKey,
    sequence: u64,
    make: impl FnOnce() -> BookSnapshot,
) {
    if images.get(key).is_none_or(|i| sequence > i.sequence) {
        images.insert(key.clone(), make());
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

#[cfg(test)]
#[path = "hot_tests.rs"]
mod tests;
