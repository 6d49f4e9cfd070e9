//! A maintained L2 order book.
//!
//! Each side is sorted so that the best level is at the **end**, in blocks of about a hundred
//! levels: almost every update touches the top of the book, so inserts and removals move only
//! a few entries of the last block; a deep one moves at most its own block's; a binary search
//! over the blocks' worst levels, then inside one block, finds any level. This beats tree maps
//! by a wide margin for real update distributions.

use rust_decimal::Decimal;

use crate::{
    Error,
    model::{BookDelta, BookSnapshot, Level, TimestampNs},
};

mod batch;
mod order;
mod side;

pub use side::BookSide;
use side::SideKind;

/// A maintained L2 order book with its exchange sequence.
///
/// ```
/// use marketprism_core::book::OrderBook;
/// use marketprism_core::model::Level;
/// let d = |s: &str| s.parse::<rust_decimal::Decimal>().expect("decimal");
/// let mut book = OrderBook::new();
/// book.replace(100, &[Level::new(d("99.5"), d("2"))], &[Level::new(d("100.5"), d("1"))]);
/// book.apply(101, 100, &[Level::new(d("99.5"), d("0"))], &[Level::new(d("100.0"), d("3"))])?;
/// assert!(book.best_bid().is_none());
/// assert_eq!(book.best_ask().map(|l| l.price), Some(d("100.0")));
/// assert_eq!(book.sequence(), 101);
/// # Ok::<_, marketprism_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBook {
    sequence: u64,
    bids: BookSide,
    asks: BookSide,
    exchange_ts: TimestampNs,
    depth: Option<usize>,
}

impl Default for OrderBook {
    fn default() -> Self {
        OrderBook::new()
    }
}

impl OrderBook {
    /// An empty book at sequence 0, unlimited depth.
    pub fn new() -> Self {
        OrderBook {
            sequence: 0,
            bids: BookSide::new(SideKind::Bid),
            asks: BookSide::new(SideKind::Ask),
            exchange_ts: 0,
            depth: None,
        }
    }

    /// An empty book that keeps only the best `depth` levels per side.
    ///
    /// ```
    /// let book = marketprism_core::book::OrderBook::with_depth(20);
    /// assert_eq!(book.depth(), Some(20));
    /// ```
    pub fn with_depth(depth: usize) -> Self {
        OrderBook {
            depth: Some(depth),
            ..OrderBook::new()
        }
    }

    /// Configured depth limit.
    pub fn depth(&self) -> Option<usize> {
        self.depth
    }

    /// The exchange sequence of the last applied image or delta.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Exchange time (ns) of the last applied image or delta.
    pub fn exchange_ts(&self) -> TimestampNs {
        self.exchange_ts
    }

    /// Bid side.
    pub fn bids(&self) -> &BookSide {
        &self.bids
    }

    /// Ask side.
    pub fn asks(&self) -> &BookSide {
        &self.asks
    }

    /// Best bid.
    pub fn best_bid(&self) -> Option<&Level> {
        self.bids.best()
    }

    /// Best ask.
    pub fn best_ask(&self) -> Option<&Level> {
        self.asks.best()
    }

    /// Best ask minus best bid.
    pub fn spread(&self) -> Option<Decimal> {
        Some(self.best_ask()?.price - self.best_bid()?.price)
    }

    /// Mid price.
    pub fn mid(&self) -> Option<Decimal> {
        Some((self.best_ask()?.price + self.best_bid()?.price) / Decimal::TWO)
    }

    /// True when best bid >= best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// The best `n` levels of each side, best first.
    pub fn top(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        (self.bids.best_levels(n), self.asks.best_levels(n))
    }

    /// Replaces the whole book with an image at `sequence`.
    pub fn replace(&mut self, sequence: u64, bids: &[Level], asks: &[Level]) {
        self.bids.replace(bids);
        self.asks.replace(asks);
        self.sequence = sequence;
        self.trim();
    }

    /// Applies changed levels that follow `prev_sequence`; refuses (and changes nothing) when
    /// `prev_sequence` is not the book's sequence.
    pub fn apply(
        &mut self,
        sequence: u64,
        prev_sequence: u64,
        bids: &[Level],
        asks: &[Level],
    ) -> Result<(), Error> {
        if prev_sequence != self.sequence {
            return Err(Error::SequenceGap {
                expected: self.sequence,
                received: prev_sequence,
            });
        }
        self.apply_unchecked(sequence, bids, asks);
        Ok(())
    }

    /// Applies changed levels without a sequence check: for connectors whose exchange rules
    /// (Binance spot's `U`/`u` ranges) were already checked by their own sync state machine.
    pub fn apply_unchecked(&mut self, sequence: u64, bids: &[Level], asks: &[Level]) {
        self.bids.apply(bids);
        self.asks.apply(asks);
        self.sequence = sequence;
        self.trim();
    }

    /// Replaces the book with a snapshot event.
    pub fn apply_snapshot(&mut self, snapshot: &BookSnapshot) {
        self.replace(snapshot.sequence, &snapshot.bids, &snapshot.asks);
        self.exchange_ts = snapshot.exchange_ts;
    }

    /// Applies a delta event, checking `prev_sequence`.
    pub fn apply_delta(&mut self, delta: &BookDelta) -> Result<(), Error> {
        self.apply(
            delta.sequence,
            delta.prev_sequence,
            &delta.bids,
            &delta.asks,
        )?;
        self.exchange_ts = delta.exchange_ts;
        Ok(())
    }

    /// Returns an error naming the best prices when the book is crossed.
    pub fn check_not_crossed(&self) -> Result<(), Error> {
        match (self.best_bid(), self.best_ask()) {
            (Some(b), Some(a)) if b.price >= a.price => Err(Error::CrossedBook {
                bid: b.price,
                ask: a.price,
            }),
            _ => Ok(()),
        }
    }

    fn trim(&mut self) {
        if let Some(d) = self.depth {
            self.bids.truncate(d);
            self.asks.truncate(d);
        }
    }
}

#[cfg(test)]
mod tests;
