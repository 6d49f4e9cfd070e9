//! Applying one message's changed levels to a side in one pass.
//!
//! Exchanges send a message's levels in price order: best first (OKX, Binance spot, Deribit)
//! or, for Binance USDⓈ-M bids, worst first (then they are read backwards). Read best first,
//! they fall into runs, one per block of the side they land in (see `side.rs`). In each run,
//! each level's position is searched only below the previous one's (galloping down from it),
//! and the positions, found before anything changes, say what the run does: size changes are
//! written in place; inserts and removals either shift the levels above them one at a time
//! (few, or near the top) or, when several land deep in the block, the part of the block above
//! the deepest one is rebuilt in a single merge, so that each level moves at most twice
//! instead of once per insert or removal below it. Then the block is settled (split, joined
//! or dropped) before the next run, below it. Levels in any other order (or with a repeated
//! price) are set one at a time, as before: sorting them first cost more than it saved on the
//! book bench's unordered messages. The result is always exactly that of setting the levels
//! one at a time, down to the price text a level keeps.

use std::cmp::Ordering;

use super::{
    order::{cmp_price, search_by},
    side::{BookSide, SideKind},
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
    #[inline]
    pub(super) fn apply(&mut self, updates: &[Level]) {
        if updates.len() < BATCH_MIN {
            for l in updates {
                self.set(l.price, l.size);
            }
            return;
        }
        self.apply_many(updates);
    }

    /// [`BookSide::apply`] from [`BATCH_MIN`] levels up: out of line, so that a message of a
    /// few levels costs its callers no more than setting them.
    #[inline(never)]
    fn apply_many(&mut self, updates: &[Level]) {
        // `in_order(Greater)`: each level better than the next on this side (best first).
        let in_order = |o: Ordering| {
            updates
                .windows(2)
                .all(|w| self.order(&w[0].price, &w[1].price) == o)
        };
        let best_first = if in_order(Ordering::Greater) {
            true
        } else if in_order(Ordering::Less) {
            // Worst first (Binance USDⓈ-M bids): the same, read backwards.
            false
        } else {
            for l in updates {
                self.set(l.price, l.size);
            }
            return;
        };
        // Best first, the updates fall into runs, one per block they land in: each run is
        // applied to its block, which is then settled, and the next run's block is below it.
        let n = updates.len();
        let best = |k: usize| {
            if best_first {
                &updates[k]
            } else {
                &updates[n - 1 - k]
            }
        };
        let mut hi = self.deep.len();
        let mut k = 0;
        while k < n {
            let b = self.block_for(&best(k).price, hi);
            let start = k;
            k += 1;
            match self.block(b).first() {
                Some(floor) if b > 0 => {
                    let floor = floor.price;
                    while k < n && self.order(&floor, &best(k).price) != Ordering::Greater {
                        k += 1;
                    }
                }
                // The worst block takes everything worse than the blocks above it.
                _ => k = n,
            }
            let run = if best_first {
                &updates[start..k]
            } else {
                &updates[n - k..n - start]
            };
            let kind = self.kind;
            let (block, scratch) = self.block_and_scratch(b);
            let before = block.len();
            apply_run(block, run, !best_first, kind, scratch);
            let after = block.len();
            self.len = self.len - before + after;
            self.settle(b);
            hi = b.saturating_sub(1);
        }
    }
}

/// Sets one block's updates (`run`, in the message's order, best or worst first): located
/// together, then written one at a time or in one merge.
fn apply_run(
    block: &mut Vec<Level>,
    run: &[Level],
    worst_first: bool,
    kind: SideKind,
    scratch: &mut Scratch,
) {
    let Scratch { ops, tail } = scratch;
    locate(block, run, worst_first, ops, kind);
    write(block, ops, tail);
}

/// The position of each update of `run` (taken best first) in `levels`, each searched only
/// below the previous one. One loop for both orders, out of line: the batch code stays small
/// enough for the instruction cache next to the parser and checksum it runs between.
#[inline(never)]
fn locate(levels: &[Level], run: &[Level], worst_first: bool, ops: &mut Vec<Op>, kind: SideKind) {
    ops.clear();
    let n = run.len();
    let mut hi = levels.len();
    for k in 0..n {
        let level = run[if worst_first { n - 1 - k } else { k }];
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
