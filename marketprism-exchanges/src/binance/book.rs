//! Per-instrument order-book synchronisation: diff stream + REST snapshot, with Binance's
//! sequencing rules enforced on every diff, forever.
//!
//! Rules (docs "How to manage a local order book correctly"; verified on the corpus, see
//! `corpus/binance-*/FORMAT.md`):
//!
//! | | spot | futures (USDⓈ-M, COIN-M) |
//! |---|---|---|
//! | stale buffered diff (dropped) | `u <= lastUpdateId` | `u < lastUpdateId` |
//! | first applied diff | `U <= lastUpdateId + 1 <= u` | `U <= lastUpdateId <= u` |
//! | every later diff | `U == prev u + 1` | `pu == prev u` |
//!
//! Lifecycle of one instrument: **Buffering** (diffs kept, one `FetchSnapshot` requested) →
//! snapshot arrives: stale diffs dropped, book replaced, `BookSnapshot` emitted →
//! **Bridging** (the next diff must straddle the snapshot id) → **Live**. Any break — gap,
//! a diff that would cross the book, buffer overflow — emits `Gap` (for sequence breaks) and
//! `BookResync` status events, resets only this instrument, keeps the offending diff as the
//! first of a new buffer and requests a new snapshot. Nothing is ever applied across a gap.

use std::{collections::VecDeque, mem, sync::Arc};

use marketprism_core::{
    book::OrderBook,
    model::{
        BookDelta, BookSnapshot, Instrument, Level, MarketEvent, Status, StatusKind, TimestampNs,
    },
};

use crate::{Action, Output};

/// Which sequencing rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// Spot: `U`/`u` ranges, contiguous ids.
    Spot,
    /// USDⓈ-M and COIN-M futures: `pu` chains.
    Futures,
}

/// Default bound of the pre-snapshot buffer, per instrument.
pub(crate) const DEFAULT_MAX_BUFFER: usize = 10_000;

/// One diff event, owned (it may wait in the buffer; its level vectors become the delta's).
#[derive(Debug)]
pub(crate) struct Diff {
    /// `U`.
    pub(crate) first: u64,
    /// `u`.
    pub(crate) last: u64,
    /// `pu` (futures).
    pub(crate) prev: Option<u64>,
    /// Exchange time (ns).
    pub(crate) exchange_ts: TimestampNs,
    /// Local receive time (ns).
    pub(crate) local_ts: TimestampNs,
    /// Changed bids.
    pub(crate) bids: Vec<Level>,
    /// Changed asks.
    pub(crate) asks: Vec<Level>,
}

/// A REST depth snapshot, parsed.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// `lastUpdateId`.
    pub(crate) last_update_id: u64,
    /// Exchange time (ns; local time for spot, which stamps none).
    pub(crate) exchange_ts: TimestampNs,
    /// Bids.
    pub(crate) bids: Vec<Level>,
    /// Asks.
    pub(crate) asks: Vec<Level>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No snapshot: diffs are buffered; `requested` once a `FetchSnapshot` was emitted.
    Buffering { requested: bool },
    /// Snapshot installed at the book's sequence; the next kept diff must bridge it.
    Bridging,
    /// In sync; every diff must continue the chain.
    Live,
}

enum Verdict {
    Stale,
    Apply,
    Gap { expected: u64, received: u64 },
}

/// The book of one instrument and its sync state.
#[derive(Debug)]
pub(crate) struct BookSync {
    rules: Rules,
    instrument: Arc<Instrument>,
    depth: Option<usize>,
    book: OrderBook,
    phase: Phase,
    buffer: VecDeque<Diff>,
    max_buffer: usize,
}

impl BookSync {
    /// A new, unsynced book.
    pub(crate) fn new(
        rules: Rules,
        instrument: Arc<Instrument>,
        depth: Option<usize>,
        max_buffer: usize,
    ) -> Self {
        BookSync {
            rules,
            instrument,
            depth,
            book: Self::empty_book(depth),
            phase: Phase::Buffering { requested: false },
            buffer: VecDeque::new(),
            max_buffer: max_buffer.max(1),
        }
    }

    fn empty_book(depth: Option<usize>) -> OrderBook {
        depth.map_or_else(OrderBook::new, OrderBook::with_depth)
    }

    /// The maintained book (meaningful once synced).
    pub(crate) fn book(&self) -> &OrderBook {
        &self.book
    }

    /// True once a snapshot is installed and no break happened since.
    pub(crate) fn is_synced(&self) -> bool {
        matches!(self.phase, Phase::Bridging | Phase::Live)
    }

    /// Number of diffs waiting for a snapshot.
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Processes one diff event.
    pub(crate) fn on_diff(&mut self, diff: Diff, out: &mut Output) {
        match self.phase {
            Phase::Buffering { requested } => self.buffer_diff(diff, requested, out),
            Phase::Bridging | Phase::Live => self.chain(diff, out),
        }
    }

    fn buffer_diff(&mut self, diff: Diff, requested: bool, out: &mut Output) {
        let mut requested = requested;
        if self.buffer.len() >= self.max_buffer {
            let reason = format!(
                "{} diffs buffered without a usable snapshot; buffer dropped",
                self.buffer.len()
            );
            self.buffer.clear();
            self.status(diff.local_ts, StatusKind::BookResync { reason }, out);
            requested = false;
        }
        if !requested {
            self.request_snapshot(out);
        }
        self.phase = Phase::Buffering { requested: true };
        self.buffer.push_back(diff);
    }

    /// Installs a REST snapshot. Ignored while live (a late duplicate of an earlier request).
    pub(crate) fn on_snapshot(&mut self, snap: Snapshot, local_ts: TimestampNs, out: &mut Output) {
        if self.phase == Phase::Live {
            return;
        }
        let id = snap.last_update_id;
        while self.buffer.front().is_some_and(|d| self.is_stale(d, id)) {
            self.buffer.pop_front();
        }
        if let Some(first) = self.buffer.front() {
            let too_old = match self.rules {
                Rules::Spot => first.first > id.saturating_add(1),
                Rules::Futures => first.first > id,
            };
            if too_old {
                // The snapshot predates the first buffered diff: fetch a newer one.
                self.phase = Phase::Buffering { requested: true };
                self.request_snapshot(out);
                return;
            }
        }
        self.book.replace(id, &snap.bids, &snap.asks);
        if let Some(reason) = self.crossed_reason("snapshot") {
            self.resync(local_ts, reason, out);
            return;
        }
        let (bids, asks) = self.book.top(usize::MAX);
        let inst = &self.instrument;
        out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
            exchange: inst.exchange,
            market: inst.market,
            symbol: inst.symbol.clone(),
            sequence: id,
            bids,
            asks,
            exchange_ts: snap.exchange_ts,
            local_ts,
            top_n: None,
        }));
        self.phase = Phase::Bridging;
        for diff in mem::take(&mut self.buffer) {
            if self.is_synced() {
                self.chain(diff, out);
            } else {
                // A break during the drain: later diffs belong to the new buffer.
                self.buffer.push_back(diff);
            }
        }
    }

    /// Emits the current book as a snapshot when synced (connection hand-over).
    pub(crate) fn emit_snapshot(&self, local_ts: TimestampNs, out: &mut Output) {
        if !self.is_synced() {
            return;
        }
        let (bids, asks) = self.book.top(usize::MAX);
        let inst = &self.instrument;
        out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
            exchange: inst.exchange,
            market: inst.market,
            symbol: inst.symbol.clone(),
            sequence: self.book.sequence(),
            bids,
            asks,
            exchange_ts: local_ts,
            local_ts,
            top_n: None,
        }));
    }

    /// The connection dropped: the book can no longer be trusted.
    pub(crate) fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output) {
        if self.is_synced() {
            let reason = "connection lost".to_owned();
            self.status(local_ts, StatusKind::BookResync { reason }, out);
        }
        self.book = Self::empty_book(self.depth);
        self.buffer.clear();
        self.phase = Phase::Buffering { requested: false };
    }

    fn is_stale(&self, d: &Diff, id: u64) -> bool {
        match self.rules {
            Rules::Spot => d.last <= id,
            Rules::Futures => d.last < id,
        }
    }

    fn verdict(&self, d: &Diff) -> Verdict {
        let seq = self.book.sequence();
        let next = seq.saturating_add(1);
        match (self.rules, self.phase) {
            (_, Phase::Buffering { .. }) => Verdict::Stale,
            (Rules::Spot, Phase::Bridging) if d.last <= seq => Verdict::Stale,
            (Rules::Spot, Phase::Bridging) if d.first <= next => Verdict::Apply,
            (Rules::Spot, Phase::Bridging) => Verdict::Gap {
                expected: next,
                received: d.first,
            },
            (Rules::Futures, Phase::Bridging) if d.last < seq => Verdict::Stale,
            (Rules::Futures, Phase::Bridging) if d.first <= seq => Verdict::Apply,
            (Rules::Futures, Phase::Bridging) => Verdict::Gap {
                expected: seq,
                received: d.first,
            },
            (Rules::Spot, Phase::Live) if d.first == next => Verdict::Apply,
            // An old event replayed entirely below the book: nothing new in it.
            (Rules::Spot, Phase::Live) if d.last <= seq => Verdict::Stale,
            (Rules::Spot, Phase::Live) => Verdict::Gap {
                expected: next,
                received: d.first,
            },
            (Rules::Futures, Phase::Live) => match d.prev {
                Some(pu) if pu == seq => Verdict::Apply,
                Some(pu) => Verdict::Gap {
                    expected: seq,
                    received: pu,
                },
                // No `pu`: fall back to the spot continuity test.
                None if d.first == next => Verdict::Apply,
                None => Verdict::Gap {
                    expected: next,
                    received: d.first,
                },
            },
        }
    }

    /// Applies `diff` if it continues the chain; otherwise reports the gap and resyncs.
    fn chain(&mut self, diff: Diff, out: &mut Output) {
        match self.verdict(&diff) {
            Verdict::Stale => {}
            Verdict::Gap { expected, received } => {
                self.status(diff.local_ts, StatusKind::Gap { expected, received }, out);
                let reason = format!("sequence gap: expected {expected}, received {received}");
                self.resync(diff.local_ts, reason, out);
                self.buffer.push_back(diff);
            }
            Verdict::Apply => {
                let prev_sequence = self.book.sequence();
                self.book.apply_unchecked(diff.last, &diff.bids, &diff.asks);
                if let Some(reason) = self.crossed_reason("update") {
                    // The update itself is not trusted: start over from a fresh snapshot.
                    self.resync(diff.local_ts, reason, out);
                    return;
                }
                self.phase = Phase::Live;
                let inst = &self.instrument;
                out.events.push(MarketEvent::BookDelta(BookDelta {
                    exchange: inst.exchange,
                    market: inst.market,
                    symbol: inst.symbol.clone(),
                    prev_sequence,
                    sequence: diff.last,
                    bids: diff.bids,
                    asks: diff.asks,
                    exchange_ts: diff.exchange_ts,
                    local_ts: diff.local_ts,
                }));
            }
        }
    }

    fn crossed_reason(&self, what: &str) -> Option<String> {
        match (self.book.best_bid(), self.book.best_ask()) {
            (Some(b), Some(a)) if b.price >= a.price => Some(format!(
                "{what} would cross the book: best bid {} >= best ask {}",
                b.price, a.price
            )),
            _ => None,
        }
    }

    /// Drops the book and buffer, emits `BookResync` and requests a fresh snapshot.
    fn resync(&mut self, ts: TimestampNs, reason: String, out: &mut Output) {
        self.status(ts, StatusKind::BookResync { reason }, out);
        self.book = Self::empty_book(self.depth);
        self.buffer.clear();
        self.phase = Phase::Buffering { requested: true };
        self.request_snapshot(out);
    }

    fn request_snapshot(&self, out: &mut Output) {
        out.actions.push(Action::FetchSnapshot {
            native_symbol: self.instrument.native_symbol.clone(),
        });
    }

    fn status(&self, ts: TimestampNs, kind: StatusKind, out: &mut Output) {
        let inst = &self.instrument;
        out.events.push(MarketEvent::Status(Status::new(
            inst.exchange,
            inst.market,
            Some(inst.symbol.clone()),
            ts,
            kind,
        )));
    }
}
