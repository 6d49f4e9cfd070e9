//! Per-instrument book sync for `book.{instrument}.{interval}`, enforcing Deribit's rule
//! forever, not only at sync: every change's `prev_change_id` must equal the previous
//! message's `change_id` (docs:
//! <https://docs.deribit.com/subscriptions/orderbook/bookinstrument_nameinterval>).
//!
//! States of one instrument:
//!
//! - **live**: a snapshot was applied and every change since chained. Each change is applied
//!   and emitted as a [`BookDelta`] with `prev_sequence` = the book's change id before it.
//! - **awaiting snapshot**: a resync was requested (gap, crossed book, reconnect). Changes
//!   still in flight from the old subscription are dropped until the new snapshot arrives.
//! - **unsynced**: never saw a snapshot (first message was a change): request a resync.
//!
//! Any break (gap, change before a snapshot, a crossed result) resets only that instrument:
//! a `Gap` status (for sequence gaps) and a `BookResync` status are emitted, nothing is applied
//! across the break, and [`Action::Resubscribe`] asks for a fresh snapshot.

use std::sync::Arc;

use crate::instruments::FastMap;
use marketprism_core::{
    book::OrderBook,
    model::{
        BookDelta, BookSnapshot, ExchangeId, Instrument, MarketEvent, Status, StatusKind,
        TimestampNs, ms_to_ns,
    },
};

use super::wire::BookData;
use crate::{Action, Channel, Output};

/// Where one instrument's book stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncState {
    /// Snapshot applied and the chain unbroken since.
    Live,
    /// Resync requested; waiting for the snapshot of the new subscription.
    AwaitingSnapshot,
    /// No snapshot seen and no resync requested yet.
    Unsynced,
}

/// One instrument's book.
#[derive(Debug)]
struct BookState {
    instrument: Arc<Instrument>,
    book: OrderBook,
    state: SyncState,
}

/// The books of one connection, keyed by native instrument name.
#[derive(Debug, Default)]
pub(crate) struct Books {
    books: FastMap<Box<str>, BookState>,
    depth: Option<usize>,
}

impl Books {
    /// Books keeping the best `depth` levels per side (all when `None`).
    pub(crate) fn new(depth: Option<usize>) -> Self {
        Books {
            books: FastMap::default(),
            depth,
        }
    }

    fn empty_book(&self) -> OrderBook {
        self.depth
            .map_or_else(OrderBook::new, OrderBook::with_depth)
    }

    /// The book of an instrument, whatever its state (for tests and inspection).
    pub(crate) fn book(&self, native: &str) -> Option<(&OrderBook, SyncState)> {
        self.books.get(native).map(|s| (&s.book, s.state))
    }

    /// Handles one book message; `instrument` resolves the name when the book is new.
    pub(crate) fn on_message<F>(
        &mut self,
        data: BookData<'_>,
        resolve: F,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), crate::ExchangeError>
    where
        F: FnOnce(&str) -> Result<Arc<Instrument>, crate::ExchangeError>,
    {
        if !self.books.contains_key(data.instrument_name) {
            let instrument = resolve(data.instrument_name)?;
            let book = self.empty_book();
            self.books.insert(
                data.instrument_name.into(),
                BookState {
                    instrument,
                    book,
                    state: SyncState::Unsynced,
                },
            );
        }
        let depth = self.depth;
        let Some(st) = self.books.get_mut(data.instrument_name) else {
            return Ok(());
        };
        let exchange_ts = ms_to_ns(data.timestamp);

        if data.is_snapshot() {
            st.book.replace(data.change_id, &data.bids.0, &data.asks.0);
            if st.book.is_crossed() {
                resync(st, depth, "crossed snapshot", local_ts, out);
                return Ok(());
            }
            st.state = SyncState::Live;
            let (bids, asks) = st.book.top(depth.unwrap_or(usize::MAX));
            out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
                exchange: ExchangeId::DERIBIT,
                market: st.instrument.market,
                symbol: st.instrument.symbol.clone(),
                sequence: data.change_id,
                bids,
                asks,
                exchange_ts,
                local_ts,
                top_n: None,
            }));
            return Ok(());
        }

        match st.state {
            // Stale changes of the subscription being replaced: the snapshot will cover them.
            SyncState::AwaitingSnapshot => Ok(()),
            SyncState::Unsynced => {
                resync(st, depth, "change before snapshot", local_ts, out);
                Ok(())
            }
            SyncState::Live => {
                let expected = st.book.sequence();
                let Some(prev) = data.prev_change_id else {
                    resync(st, depth, "change without prev_change_id", local_ts, out);
                    return Ok(());
                };
                if prev != expected {
                    out.events.push(status(
                        &st.instrument,
                        local_ts,
                        StatusKind::Gap {
                            expected,
                            received: prev,
                        },
                    ));
                    resync(st, depth, "sequence gap", local_ts, out);
                    return Ok(());
                }
                st.book
                    .apply_unchecked(data.change_id, &data.bids.0, &data.asks.0);
                if st.book.is_crossed() {
                    resync(st, depth, "crossed book", local_ts, out);
                    return Ok(());
                }
                out.events.push(MarketEvent::BookDelta(BookDelta {
                    exchange: ExchangeId::DERIBIT,
                    market: st.instrument.market,
                    symbol: st.instrument.symbol.clone(),
                    prev_sequence: prev,
                    sequence: data.change_id,
                    bids: data.bids.0,
                    asks: data.asks.0,
                    exchange_ts,
                    local_ts,
                }));
                Ok(())
            }
        }
    }

    /// The connection dropped: every book waits for the snapshot of the resubscription;
    /// live ones announce it with a `BookResync` status.
    /// Emits every live book as a snapshot (connection hand-over).
    pub(crate) fn emit_snapshots(&self, local_ts: TimestampNs, out: &mut Output) {
        for st in self.books.values().filter(|st| st.state == SyncState::Live) {
            let (bids, asks) = st.book.top(self.depth.unwrap_or(usize::MAX));
            out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
                exchange: ExchangeId::DERIBIT,
                market: st.instrument.market,
                symbol: st.instrument.symbol.clone(),
                sequence: st.book.sequence(),
                bids,
                asks,
                exchange_ts: local_ts,
                local_ts,
                top_n: None,
            }));
        }
    }

    pub(crate) fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output) {
        let depth = self.depth;
        for st in self.books.values_mut() {
            if st.state == SyncState::Live {
                out.events.push(status(
                    &st.instrument,
                    local_ts,
                    StatusKind::BookResync {
                        reason: "disconnected".to_owned(),
                    },
                ));
            }
            st.book = depth.map_or_else(OrderBook::new, OrderBook::with_depth);
            st.state = SyncState::AwaitingSnapshot;
        }
    }
}

/// Drops the instrument's book, announces the resync and asks for a fresh subscription.
fn resync(
    st: &mut BookState,
    depth: Option<usize>,
    reason: &str,
    local_ts: TimestampNs,
    out: &mut Output,
) {
    st.book = depth.map_or_else(OrderBook::new, OrderBook::with_depth);
    st.state = SyncState::AwaitingSnapshot;
    out.events.push(status(
        &st.instrument,
        local_ts,
        StatusKind::BookResync {
            reason: reason.to_owned(),
        },
    ));
    out.actions.push(Action::Resubscribe {
        native_symbol: st.instrument.native_symbol.clone(),
        channel: Channel::Book,
    });
}

fn status(instrument: &Instrument, local_ts: TimestampNs, kind: StatusKind) -> MarketEvent {
    MarketEvent::Status(Status::new(
        ExchangeId::DERIBIT,
        instrument.market,
        Some(instrument.symbol.clone()),
        local_ts,
        kind,
    ))
}
