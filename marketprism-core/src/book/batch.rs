//! Applying one message's changed levels to a side in one pass.
//!
//! Exchanges send a message's levels in price order: best first (OKX, Binance spot, Deribit)
//! or, for Binance USDⓈ-M bids, worst first (then they are read backwards). Then each
//! level's position is searched only below the previous one's (galloping down from it), and
//! the positions, found before anything changes, say what the message does: size changes are
//! written in place; inserts and removals either shift the levels above them one at a time
//! (few, or near the top) or, when several land deep in the book, the part of the side above
//! the deepest one is rebuilt in a single merge, so that each level moves at most twice
//! instead of once per insert or removal below it. Levels in any other order (or with
//! a repeated price) are set one at a time, as before: sorting them first cost more than it
//! saved on the book bench's unordered messages. The result is always exactly that of setting
//! the levels one at a time, down to the price text a level keeps.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use super::{
    BookSide, SideKind,
    order::{cmp_price, search_by},
};
use crate::model::Level;

/// Fewer levels than this are set one at a time: the bookkeeping costs more than it saves
/// (measured on the corpus: Deribit's book messages of a few levels).
const BATCH_MIN: usize = 8;

/// Buffers reused between messages, so that applying allocates only when a side grows.
#[derive(Debug, Clone, Default)]
pub(super) struct Scratch {
    /// Where each update goes, in update order (best first).
    ops: Vec<Op>,
    /// The levels above the merge point while a merge rebuilds them.
    tail: Vec<Level>,
}

/// Scratch buffers carry no state between calls: two sides never differ by them.
impl PartialEq for Scratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Scratch {}

/// One update and where it goes: `found` at `pos`, or to be inserted at `pos`.
#[derive(Debug, Clone, Copy)]
struct Op {
    pos: usize,
    found: bool,
    level: Level,
}

impl Op {
    /// True when the update inserts or removes a level (not just a size change or a no-op).
    fn moves(&self) -> bool {
        self.found == self.level.size.is_zero()
    }
}

impl BookSide {
    /// Sets every level of `updates` (sizes absolute, zero removes), with the same result as
    /// calling [`BookSide::set`] for each in order.
    pub(super) fn apply(&mut self, updates: &[Level]) {
        if updates.len() < BATCH_MIN {
            for l in updates {
                self.set(l.price, l.size);
            }
            return;
        }
        let kind = self.kind;
        // `better(a, b)`: `Greater` when price `a` is better than `b` on this side.
        let better = move |a: &Decimal, b: &Decimal| match kind {
            SideKind::Bid => cmp_price(a, b),
            SideKind::Ask => cmp_price(b, a),
        };
        let Scratch { ops, tail } = &mut self.scratch;
        let in_order = |o: Ordering| {
            updates
                .windows(2)
                .all(|w| better(&w[0].price, &w[1].price) == o)
        };
        if in_order(Ordering::Greater) {
            locate(&self.levels, updates.iter(), ops, kind);
        } else if in_order(Ordering::Less) {
            // Worst first (Binance USDⓈ-M bids): the same, read backwards.
            locate(&self.levels, updates.iter().rev(), ops, kind);
        } else {
            for l in updates {
                self.set(l.price, l.size);
            }
            return;
        }
        write(&mut self.levels, ops, tail);
    }
}

/// The position of each update (strictly best first) in `levels`, each searched only below
/// the previous one.
fn locate<'a>(
    levels: &[Level],
    updates: impl Iterator<Item = &'a Level>,
    ops: &mut Vec<Op>,
    kind: SideKind,
) {
    ops.clear();
    let mut hi = levels.len();
    for &level in updates {
        let below = &levels[..hi];
        // Unbounded galloping down from the previous position: close levels cost a few
        // comparisons, far ones a logarithmic number.
        let found = match kind {
            SideKind::Bid => search_by::<{ usize::MAX }>(below, |l| cmp_price(l, &level.price)),
            SideKind::Ask => search_by::<{ usize::MAX }>(below, |l| cmp_price(&level.price, l)),
        };
        let (pos, found) = match found {
            Ok(i) => (i, true),
            Err(i) => (i, false),
        };
        ops.push(Op { pos, found, level });
        hi = pos;
    }
}

/// Carries out `ops` (positions in the side before any change, decreasing).
fn write(levels: &mut Vec<Level>, ops: &[Op], tail: &mut Vec<Level>) {
    let n = levels.len();
    // Levels moved by inserting and removing one at a time, and by one merge from the deepest
    // insert or removal (the levels above it are copied out and back).
    let (mut shifted, mut moving, mut deepest) = (0usize, 0usize, None);
    for (k, op) in ops.iter().enumerate() {
        if op.moves() {
            shifted += n - op.pos;
            moving += 1;
            deepest = Some(k);
        }
    }
    let merge_from = deepest.filter(|&k| moving > 1 && 2 * (n - ops[k].pos) < shifted);
    let Some(deepest) = merge_from else {
        return write_one_by_one(levels, ops);
    };
    let p0 = ops[deepest].pos;
    // Size changes below the merge point, in place.
    for op in &ops[deepest + 1..] {
        if op.found && !op.level.size.is_zero() {
            levels[op.pos].size = op.level.size;
        }
    }
    tail.clear();
    tail.extend_from_slice(&levels[p0..]);
    levels.truncate(p0);
    let mut k = 0;
    // Worst first: positions increasing; an insert before a found level at the same
    // position comes first, as it arrived after it.
    for op in ops[..=deepest].iter().rev() {
        let rel = op.pos - p0;
        levels.extend_from_slice(&tail[k..rel]);
        k = rel;
        let mut level = op.level;
        if op.found {
            // The side keeps its own price text (scale), as a size change in place does.
            level.price = tail[k].price;
            k += 1;
        }
        if !level.size.is_zero() {
            levels.push(level);
        }
    }
    levels.extend_from_slice(&tail[k..]);
}

/// [`write`] by single inserts and removals: positions are decreasing, so each change
/// shifts only levels above the next ones.
fn write_one_by_one(levels: &mut Vec<Level>, ops: &[Op]) {
    for op in ops {
        match (op.found, op.level.size.is_zero()) {
            (true, true) => {
                levels.remove(op.pos);
            }
            (true, false) => levels[op.pos].size = op.level.size,
            (false, true) => {}
            (false, false) => levels.insert(op.pos, op.level),
        }
    }
}
