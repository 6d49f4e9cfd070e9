//! Per-instrument order-book sync for the incremental channels (`books`, `books-l2-tbt`,
//! `books50-l2-tbt`), enforcing OKX's rules on every message, forever.
//!
//! Rules (docs "Sequence ID" and "Checksum",
//! <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel>):
//!
//! * A `snapshot` replaces the book (its `prevSeqId` is `-1`).
//! * An `update` must carry `prevSeqId ==` the `seqId` of the previous message of that
//!   instrument. Anything else is a lost message: [`Gap`](StatusKind::Gap) +
//!   [`BookResync`](StatusKind::BookResync) statuses, the update is **not** applied, the book is
//!   dropped and [`Action::Resubscribe`] asks for a fresh snapshot. Other instruments are untouched.
//! * `seqId == prevSeqId` with both sides empty is a keep-alive (no change for ~60 s): no event.
//! * `seqId < prevSeqId` (with `prevSeqId` chaining correctly) is the exchange resetting its
//!   counter after maintenance: applied, and the chain continues from the new, smaller id. The
//!   emitted delta says so itself (`prev_sequence` 15, `sequence` 3).
//! * A non-zero `checksum` (CRC32 of the top 25 levels, see [`super::checksum`]) is verified
//!   after every snapshot and update; a mismatch resyncs the book. OKX sends `0` since 2026-06:
//!   then only the sequence chain is checked.
//! * A book that would be crossed after a snapshot or update is resynced instead of emitted.
//!
//! **Streams without `seqId`** (captures before 2022-09, e.g. the corpus' 2021/2022 files): there
//! is no chain to check, so integrity rests on the checksum, and the `sequence` of the emitted
//! events is a local per-instrument counter, incremented by every snapshot and applied update and
//! never reset for the life of the normalizer (so `prev_sequence`/`sequence` still chain for
//! consumers). `ts` is not used because several messages share one millisecond.
//!
//! **Depth:** the book is kept whole internally (OKX bounds it: 400 levels for `books`), because
//! the checksum covers the top 25 and levels that re-enter the window after deletions are not
//! re-sent: truncating locally would break verification. The configured `book_depth` limits the
//! emitted snapshots; deltas are forwarded as received (a depth-limited consumer trims).

use crate::instruments::FastMap;
use marketprism_core::{
    book::OrderBook,
    model::{
        BookDelta, BookSnapshot, ExchangeId, Instrument, MarketEvent, MarketType, Status,
        StatusKind, Symbol, TimestampNs, ms_to_ns,
    },
};

use super::{checksum::ChecksumText, wire::book::BookData};
use crate::{Action, Channel, ExchangeError, Output};

/// One instrument's book and its chain state.
#[derive(Debug)]
struct InstBook {
    book: OrderBook,
    symbol: Symbol,
    market: MarketType,
    synced: bool,
    /// `seqId` of the last applied message; `None` for streams without `seqId`.
    last_seq_id: Option<i64>,
    /// Local sequence for streams without `seqId`.
    counter: u64,
    /// The last checksum's text, reused by the next.
    checksum: ChecksumText,
}

/// The incremental books of one normalizer, keyed by `instId`.
#[derive(Debug)]
pub(crate) struct Books {
    books: FastMap<Box<str>, InstBook>,
    depth: Option<usize>,
}

fn seq_u64(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

impl Books {
    /// No books yet; emitted snapshots are limited to `depth` levels per side.
    pub(crate) fn new(depth: Option<usize>) -> Self {
        Books {
            books: FastMap::default(),
            depth,
        }
    }

    /// The book of `inst_id` when synced.
    #[cfg(test)]
    pub(crate) fn synced_book(&self, inst_id: &str) -> Option<&OrderBook> {
        self.books
            .get(inst_id)
            .filter(|b| b.synced)
            .map(|b| &b.book)
    }

    /// Applies an `action: snapshot` element.
    pub(crate) fn on_snapshot(
        &mut self,
        inst: &Instrument,
        data: BookData,
        local_ts: TimestampNs,
        out: &mut Output,
    ) {
        let Books { books, depth } = self;
        let ib = match books.get_mut(inst.native_symbol.as_str()) {
            Some(ib) => ib,
            None => books
                .entry(inst.native_symbol.as_str().into())
                .or_insert_with(|| InstBook {
                    book: OrderBook::new(),
                    symbol: inst.symbol.clone(),
                    market: inst.market,
                    synced: false,
                    last_seq_id: None,
                    counter: 0,
                    checksum: ChecksumText::default(),
                }),
        };
        let sequence = match data.seq_id {
            Some(s) => seq_u64(s),
            None => ib.counter + 1,
        };
        ib.book.replace(sequence, &data.bids, &data.asks);
        if ib.book.is_crossed() {
            resync(
                ib,
                &inst.native_symbol,
                "crossed snapshot".into(),
                None,
                local_ts,
                out,
            );
            return;
        }
        if let Some(reason) = verify(
            &ib.book,
            data.checksum,
            &inst.native_symbol,
            &mut ib.checksum,
        ) {
            resync(ib, &inst.native_symbol, reason, None, local_ts, out);
            return;
        }
        ib.synced = true;
        ib.last_seq_id = data.seq_id;
        if data.seq_id.is_none() {
            ib.counter = sequence;
        }
        let (bids, asks) = ib.book.top(depth.unwrap_or(usize::MAX));
        out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
            exchange: ExchangeId::OKX,
            market: ib.market,
            symbol: ib.symbol.clone(),
            sequence,
            bids,
            asks,
            exchange_ts: ms_to_ns(data.ts),
            local_ts,
            top_n: None,
        }));
    }

    /// Applies an `action: update` element of `inst_id`. Updates of a book that is not synced
    /// (before its first snapshot, or after a resync until the new snapshot) are dropped: the
    /// discontinuity was already reported.
    pub(crate) fn on_update(
        &mut self,
        inst_id: &str,
        data: BookData,
        local_ts: TimestampNs,
        out: &mut Output,
    ) {
        let Books { books, .. } = self;
        let Some(ib) = books.get_mut(inst_id).filter(|b| b.synced) else {
            return;
        };
        let prev_sequence = ib.book.sequence();
        let sequence = match (ib.last_seq_id, data.prev_seq_id, data.seq_id) {
            (Some(last), Some(prev), Some(seq)) => {
                if prev != last {
                    let gap = (seq_u64(last), seq_u64(prev));
                    let reason = format!("sequence gap: prevSeqId {prev} after seqId {last}");
                    resync(ib, inst_id, reason, Some(gap), local_ts, out);
                    return;
                }
                if seq == prev && data.bids.is_empty() && data.asks.is_empty() {
                    // Keep-alive: nothing changed; the checksum (if any) must still match.
                    if let Some(reason) = verify(&ib.book, data.checksum, inst_id, &mut ib.checksum)
                    {
                        resync(ib, inst_id, reason, None, local_ts, out);
                    }
                    return;
                }
                seq_u64(seq)
            }
            (None, None, None) => ib.counter + 1,
            _ => {
                let reason = format!(
                    "seqId presence changed (book {:?}, update prevSeqId {:?} seqId {:?})",
                    ib.last_seq_id, data.prev_seq_id, data.seq_id
                );
                resync(ib, inst_id, reason, None, local_ts, out);
                return;
            }
        };
        ib.book.apply_unchecked(sequence, &data.bids, &data.asks);
        if ib.book.is_crossed() {
            resync(
                ib,
                inst_id,
                "update crosses the book".into(),
                None,
                local_ts,
                out,
            );
            return;
        }
        if let Some(reason) = verify(&ib.book, data.checksum, inst_id, &mut ib.checksum) {
            resync(ib, inst_id, reason, None, local_ts, out);
            return;
        }
        match data.seq_id {
            Some(s) => ib.last_seq_id = Some(s),
            None => ib.counter = sequence,
        }
        out.events.push(MarketEvent::BookDelta(BookDelta {
            exchange: ExchangeId::OKX,
            market: ib.market,
            symbol: ib.symbol.clone(),
            prev_sequence,
            sequence,
            bids: data.bids,
            asks: data.asks,
            exchange_ts: ms_to_ns(data.ts),
            local_ts,
        }));
    }

    /// Every synced book becomes unsynced, with a `BookResync` status each. No action: the
    /// connection layer resubscribes after reconnecting, which brings fresh snapshots.
    /// Emits every synced book as a snapshot (connection hand-over).
    pub(crate) fn emit_snapshots(&self, local_ts: TimestampNs, out: &mut Output) {
        for ib in self.books.values().filter(|b| b.synced) {
            let (bids, asks) = ib.book.top(self.depth.unwrap_or(usize::MAX));
            out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
                exchange: ExchangeId::OKX,
                market: ib.market,
                symbol: ib.symbol.clone(),
                sequence: ib.book.sequence(),
                bids,
                asks,
                exchange_ts: local_ts,
                local_ts,
                top_n: None,
            }));
        }
    }

    pub(crate) fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output) {
        for ib in self.books.values_mut().filter(|b| b.synced) {
            ib.synced = false;
            ib.last_seq_id = None;
            ib.book.replace(ib.counter, &[], &[]);
            out.events.push(MarketEvent::Status(Status::new(
                ExchangeId::OKX,
                ib.market,
                Some(ib.symbol.clone()),
                local_ts,
                StatusKind::BookResync {
                    reason: "disconnected".into(),
                },
            )));
        }
    }
}

/// `Some(reason)` when a non-zero checksum does not match the book.
fn verify(
    book: &OrderBook,
    expected: Option<i32>,
    inst_id: &str,
    text: &mut ChecksumText,
) -> Option<String> {
    let expected = expected.filter(|c| *c != 0)?;
    let computed = text.of(book);
    (computed != expected).then(|| {
        ExchangeError::Checksum {
            exchange: ExchangeId::OKX,
            native_symbol: inst_id.to_owned(),
            expected,
            computed,
        }
        .to_string()
    })
}

/// Drops the book, reports why (with the gap when there is one) and asks for a resubscribe.
fn resync(
    ib: &mut InstBook,
    inst_id: &str,
    reason: String,
    gap: Option<(u64, u64)>,
    local_ts: TimestampNs,
    out: &mut Output,
) {
    ib.synced = false;
    ib.last_seq_id = None;
    ib.book.replace(ib.counter, &[], &[]);
    let status = |kind| {
        MarketEvent::Status(Status::new(
            ExchangeId::OKX,
            ib.market,
            Some(ib.symbol.clone()),
            local_ts,
            kind,
        ))
    };
    if let Some((expected, received)) = gap {
        out.events
            .push(status(StatusKind::Gap { expected, received }));
    }
    out.events.push(status(StatusKind::BookResync { reason }));
    out.actions.push(Action::Resubscribe {
        native_symbol: inst_id.to_owned(),
        channel: Channel::Book,
    });
}
