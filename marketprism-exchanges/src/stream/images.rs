//! Periodic top-N images of the stream's synced books ([`MarketStreamBuilder::book_images`]).
//!
//! [`MarketStreamBuilder::book_images`]: super::MarketStreamBuilder::book_images

use std::collections::{HashMap, VecDeque};

use marketprism_core::{
    book::OrderBook,
    model::{BookSnapshot, ExchangeId, MarketEvent, MarketType, StatusKind, Symbol, TimestampNs},
};

type Key = (ExchangeId, MarketType, Symbol);

#[derive(Debug)]
struct Tracked {
    book: OrderBook,
    /// Changed since the last image (or the whole snapshot it started from).
    dirty: bool,
}

/// Follows every book of a stream from the events the stream emits (whole snapshots and
/// deltas, which the normalizers have already checked) and takes a top-N image of each book
/// that changed when asked.
///
/// The books here are only ever built from a whole snapshot and the unbroken chain of deltas
/// after it, so an image is always of a consistent book. A resync or gap status, or a delta
/// that does not follow, forgets the book until the next snapshot: no image of it meanwhile.
#[derive(Debug)]
pub(crate) struct BookImages {
    depth: usize,
    /// The depth the normalizers keep, mirrored so that the books here match theirs.
    book_depth: Option<usize>,
    books: HashMap<Key, Tracked>,
    /// Images taken and not yet handed out.
    pending: VecDeque<MarketEvent>,
}

impl BookImages {
    pub(crate) fn new(depth: usize, book_depth: Option<usize>) -> Self {
        BookImages {
            depth: depth.max(1),
            book_depth,
            books: HashMap::new(),
            pending: VecDeque::new(),
        }
    }

    /// Updates the books with one event the stream emits.
    pub(crate) fn observe(&mut self, event: &MarketEvent) {
        match event {
            MarketEvent::BookSnapshot(s) if s.is_top_n_image() => {}
            MarketEvent::BookSnapshot(s) => {
                let mut book = self
                    .book_depth
                    .map_or_else(OrderBook::new, OrderBook::with_depth);
                book.apply_snapshot(s);
                // The snapshot itself carries this state: no image needed until it changes.
                let key = (s.exchange, s.market, s.symbol.clone());
                self.books.insert(key, Tracked { book, dirty: false });
            }
            MarketEvent::BookDelta(d) => {
                let key = (d.exchange, d.market, d.symbol.clone());
                let Some(t) = self.books.get_mut(&key) else {
                    return;
                };
                // Already applied, unless it follows the book: a delta may end at the
                // sequence it starts from (Binance futures' first diff after a snapshot whose
                // `lastUpdateId` is that diff's `U`; OKX keepalives).
                if d.sequence <= t.book.sequence() && d.prev_sequence != t.book.sequence() {
                    return;
                }
                if t.book.apply_delta(d).is_err() {
                    self.books.remove(&key);
                } else {
                    t.dirty = true;
                }
            }
            MarketEvent::Status(st) => {
                let Some(symbol) = &st.symbol else {
                    return;
                };
                if matches!(
                    st.kind,
                    StatusKind::BookResync { .. } | StatusKind::Gap { .. }
                ) {
                    self.books.remove(&(st.exchange, st.market, symbol.clone()));
                }
            }
            _ => {}
        }
    }

    /// Takes an image of every book changed since its last image (queued for [`Self::next`]).
    pub(crate) fn take_images(&mut self, now: TimestampNs) {
        let mut taken: Vec<(&Key, &mut Tracked)> =
            self.books.iter_mut().filter(|(_, t)| t.dirty).collect();
        // A stable order (tests, logs).
        taken.sort_by(|a, b| a.0.cmp(b.0));
        let n = u32::try_from(self.depth).unwrap_or(u32::MAX);
        for ((exchange, market, symbol), t) in taken {
            t.dirty = false;
            let (bids, asks) = t.book.top(self.depth);
            self.pending
                .push_back(MarketEvent::BookSnapshot(BookSnapshot {
                    exchange: *exchange,
                    market: *market,
                    symbol: symbol.clone(),
                    sequence: t.book.sequence(),
                    bids,
                    asks,
                    exchange_ts: t.book.exchange_ts(),
                    local_ts: now,
                    top_n: Some(n),
                }));
        }
    }

    /// The next image taken and not handed out yet.
    pub(crate) fn next(&mut self) -> Option<MarketEvent> {
        self.pending.pop_front()
    }
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
