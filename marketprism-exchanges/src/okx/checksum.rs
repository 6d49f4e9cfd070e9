//! OKX's order-book checksum: CRC32 (IEEE) of `bid1px:bid1sz:ask1px:ask1sz:bid2px:...` over
//! the best 25 levels per side (missing entries skipped), as a signed 32-bit integer.
//!
//! `Decimal` keeps the scale of the text it was parsed from, so its `Display` reproduces OKX's
//! original strings (`"8477"`, `"0.0515"`). Printing 100 decimals per update was a third of
//! the `books-l2-tbt` path's instructions, while an update changes a few levels. So each book
//! keeps the text of its last checksum with the exact value of every level it printed, and the
//! next checksum copies the text of every price (and size) that is bit for bit the same.
//! Reuse rests on exact equality of the `Decimal`'s representation (value *and* scale: `1.0`
//! and `1.00` print differently), never on position, so the cache cannot make a wrong text;
//! position only decides where to look.

use marketprism_core::{book::OrderBook, model::Level};
use rust_decimal::Decimal;

use crate::scan::num::{DECIMAL_TEXT_MAX, PUT_DECIMAL_SLACK, put_decimal};

/// Number of levels per side covered by the checksum.
const CHECKSUM_LEVELS: usize = 25;

/// Longest checksum text: 25 levels per side of a price and a size, each followed by a colon.
const TEXT_MAX: usize = 2 * CHECKSUM_LEVELS * 2 * (DECIMAL_TEXT_MAX + 1);

/// How many levels past the expected one are searched for a price printed last time: a level
/// enters or leaves the top 25 one or two at a time.
const LOOKAHEAD: usize = 4;

/// One level of the last checksum text.
#[derive(Debug, Clone, Copy)]
struct Printed {
    /// The exact representations of the price and of the size ([`exact`]).
    price: u128,
    size: u128,
    /// Where `price:size:` starts in the text, and the lengths of `price:` and `size:`.
    at: u16,
    price_len: u8,
    size_len: u8,
}

/// The checksum text of one book and what it printed, reused by the next checksum.
#[derive(Debug, Default)]
pub(crate) struct ChecksumText {
    text: Vec<u8>,
    bids: Vec<Printed>,
    asks: Vec<Printed>,
    /// The previous checksum's text and levels (swapped with the above after each checksum).
    last_text: Vec<u8>,
    last_bids: Vec<Printed>,
    last_asks: Vec<Printed>,
}

/// The side being written and the side it reuses from.
struct SideText<'a> {
    now: &'a mut Vec<Printed>,
    last: &'a [Printed],
    /// Where in `last` the next level is expected.
    next: usize,
}

impl ChecksumText {
    /// The checksum of `book`'s best 25 levels per side.
    pub(crate) fn of(&mut self, book: &OrderBook) -> i32 {
        // Every text position is below TEXT_MAX, and a write or copy reaches at most
        // PUT_DECIMAL_SLACK bytes past it.
        self.text.resize(TEXT_MAX + PUT_DECIMAL_SLACK, 0);
        self.last_text.resize(TEXT_MAX + PUT_DECIMAL_SLACK, 0);
        self.bids.clear();
        self.asks.clear();
        let mut bid_text = SideText {
            now: &mut self.bids,
            last: &self.last_bids,
            next: 0,
        };
        let mut ask_text = SideText {
            now: &mut self.asks,
            last: &self.last_asks,
            next: 0,
        };
        let (text, last_text) = (&mut self.text[..], &self.last_text[..]);
        let mut end = 0;
        let mut bids = book.bids().iter().take(CHECKSUM_LEVELS);
        let mut asks = book.asks().iter().take(CHECKSUM_LEVELS);
        loop {
            let (b, a) = (bids.next(), asks.next());
            if b.is_none() && a.is_none() {
                break;
            }
            if let Some(b) = b {
                end = bid_text.write(text, end, last_text, b);
            }
            if let Some(a) = a {
                end = ask_text.write(text, end, last_text, a);
            }
        }
        // Without the last colon.
        let crc = crc32fast::hash(&text[..end.saturating_sub(1)]);
        std::mem::swap(&mut self.text, &mut self.last_text);
        std::mem::swap(&mut self.bids, &mut self.last_bids);
        std::mem::swap(&mut self.asks, &mut self.last_asks);
        i32::from_ne_bytes(crc.to_ne_bytes())
    }
}

impl SideText<'_> {
    /// Writes `price:size:` of `level` at `text[at..]`, copied from `last_text` where the last
    /// checksum printed the same price (and size); returns where it ends.
    #[inline(always)]
    fn write(&mut self, text: &mut [u8], at: usize, last_text: &[u8], level: &Level) -> usize {
        let price = exact(&level.price);
        let size = exact(&level.size);
        // The expected entry first, then a few after it.
        let mut i = self.next;
        let stop = (i + LOOKAHEAD).min(self.last.len());
        while i < stop && self.last[i].price != price {
            i += 1;
        }
        let (end, price_len) = match self.last.get(i).filter(|_| i < stop) {
            Some(last) => {
                self.next = i + 1;
                let from = usize::from(last.at);
                let price_len = usize::from(last.price_len);
                if last.size == size {
                    // `price:size:` is at most 2 × (DECIMAL_TEXT_MAX + 1) = 64 bytes.
                    text[at..at + 64].copy_from_slice(&last_text[from..from + 64]);
                    (at + price_len + usize::from(last.size_len), price_len)
                } else {
                    text[at..at + 32].copy_from_slice(&last_text[from..from + 32]);
                    let end = put_decimal(text, at + price_len, &level.size);
                    text[end] = b':';
                    (end + 1, price_len)
                }
            }
            None => {
                let end = put_decimal(text, at, &level.price);
                text[end] = b':';
                let price_len = end + 1 - at;
                let end = put_decimal(text, end + 1, &level.size);
                text[end] = b':';
                (end + 1, price_len)
            }
        };
        // Lengths are at most DECIMAL_TEXT_MAX + 1 and positions below TEXT_MAX: both fit.
        self.now.push(Printed {
            price,
            size,
            at: at as u16,
            price_len: price_len as u8,
            size_len: (end - at - price_len) as u8,
        });
        end
    }
}

/// The exact representation of `d` (value and scale), as one comparable number.
#[inline]
fn exact(d: &Decimal) -> u128 {
    u128::from_ne_bytes(d.serialize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::okx_docs_checksum;

    /// The docs' checksum over the book's levels printed through `Display`.
    fn by_display(book: &OrderBook) -> i32 {
        let text = |l: &Level| format!("{}:{}", l.price, l.size);
        okx_docs_checksum(book.bids().iter().map(text), book.asks().iter().map(text))
    }

    /// The same mantissa at another scale is another text (`1000.00` and `100.000`, `15` and
    /// `1.5`), and the same value at another scale too (`1.5`, `1.50`).
    #[test]
    fn same_digits_at_another_scale_are_printed_again() {
        let mut text = ChecksumText::default();
        let mut sequence = 0;
        for (price, size) in [(100_000, 15), (100_000, 150), (100_000, 15)] {
            for (price_scale, size_scale) in [(2, 0), (3, 1), (2, 2), (3, 0)] {
                let mut book = OrderBook::new();
                let level = Level::new(
                    Decimal::new(price, price_scale),
                    Decimal::new(size, size_scale),
                );
                sequence += 1;
                book.apply_unchecked(sequence, &[level], &[]);
                assert_eq!(text.of(&book), by_display(&book), "{level:?}");
            }
        }
    }

    /// A book changed step by step (levels entering, leaving, resized, re-scaled to the same
    /// value, sides emptied) keeps the checksum of its text printed from scratch.
    #[test]
    fn reused_text_equals_printing_afresh() {
        let mut x: u64 = 11;
        let mut next = move |n: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % n
        };
        let mut book = OrderBook::new();
        let mut text = ChecksumText::default();
        let mut sequence = 0;
        for step in 0..4_000 {
            let mut bids = Vec::new();
            let mut asks = Vec::new();
            for _ in 0..=next(6) {
                // Prices on a grid around 1000 so that levels collide, sometimes with one
                // more decimal place (the same level, another text). Sizes from few mantissas
                // at scales 0..=4: equal values with other texts (`1.5`, `1.50`) and equal
                // mantissas with other values (`15`, `1.5`). Size 0 deletes; now and then a
                // mantissa beyond 64 bits.
                let tick = next(60) as i64;
                let (price_scale, price_pow) = if next(4) == 0 { (3, 10) } else { (2, 1) };
                let size = match next(8) {
                    0 => Decimal::ZERO,
                    1 => Decimal::from_i128_with_scale(1 << 70, 6),
                    _ => Decimal::new([1, 10, 15, 150, 1500][next(5) as usize], next(5) as u32),
                };
                let price = |cents: i64| Decimal::new(cents * price_pow, price_scale);
                let bid = Level::new(price(100_000 - tick * 5), size);
                let ask = Level::new(price(100_005 + tick * 5), size);
                if next(2) == 0 {
                    bids.push(bid)
                } else {
                    asks.push(ask)
                }
            }
            if step % 500 == 0 {
                // An emptied book, then a fresh one.
                book = OrderBook::new();
            }
            sequence += 1;
            book.apply_unchecked(sequence, &bids, &asks);
            let want = by_display(&book);
            assert_eq!(text.of(&book), want, "step {step}");
            let from_scratch = ChecksumText::default().of(&book);
            assert_eq!(from_scratch, want, "step {step}");
        }
    }
}
