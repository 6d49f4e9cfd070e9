//! One side of a book, its levels kept in blocks.
//!
//! A side is a list of blocks, each a vector sorted so that the best level is at its end, the
//! blocks in the same order: the best level is the top block's last. Almost every update
//! touches the top of the book, so inserts and removals move only a few levels of the top
//! block. One that lands deep in a long side moves the levels above it in its own block only
//! (at most [`BLOCK_MAX`]), where a single vector moved everything above it: 2,500 levels,
//! 80 KB, for an average deep insert at depth 5,000. The top block is a field of its own, so
//! that a side of one block (most books) is one vector, searched and changed as directly as
//! before blocks.

use std::cmp::Ordering::{self, Greater};

use rust_decimal::Decimal;

use super::{
    batch::Scratch,
    order::{GALLOP_MAX, cmp_price, search_by},
};
use crate::model::Level;

/// Levels of a block made by splitting (and of an image's blocks).
pub(super) const BLOCK: usize = 128;
/// A block longer than this is split into blocks of [`BLOCK`] levels.
pub(super) const BLOCK_MAX: usize = 2 * BLOCK;
/// A block shorter than this joins a neighbour that has room for it.
const BLOCK_MIN: usize = BLOCK / 4;

/// Which side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SideKind {
    Bid,
    Ask,
}

/// One side of a book; best level last.
///
/// Blocks are numbered from the worst: `deep[0]`, `deep[1]`, … and last the top block, number
/// `deep.len()`. Within a block bids ascend by price, asks descend.
#[derive(Debug, Clone)]
pub struct BookSide {
    pub(super) kind: SideKind,
    /// The blocks below the top one, worst first; none is empty.
    pub(super) deep: Vec<Vec<Level>>,
    /// The best block; empty only when the whole side is.
    pub(super) top: Vec<Level>,
    /// Levels in all blocks.
    pub(super) len: usize,
    /// Buffers reused by [`BookSide::apply`].
    pub(super) scratch: Scratch,
}

/// Two sides are equal when they hold the same levels, however these are split into blocks.
impl PartialEq for BookSide {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for BookSide {}

impl BookSide {
    pub(super) fn new(kind: SideKind) -> Self {
        BookSide {
            kind,
            deep: Vec::new(),
            top: Vec::new(),
            len: 0,
            scratch: Scratch::default(),
        }
    }

    /// How a level at `level` sorts against `price` in this side's order (`Less`: worse).
    #[inline(always)]
    pub(super) fn order(&self, level: &Decimal, price: &Decimal) -> Ordering {
        match self.kind {
            SideKind::Bid => cmp_price(level, price),
            SideKind::Ask => cmp_price(price, level),
        }
    }

    /// Block `b` (the top block is number `deep.len()`).
    #[inline(always)]
    pub(super) fn block(&self, b: usize) -> &[Level] {
        match self.deep.get(b) {
            Some(block) => block,
            None => &self.top,
        }
    }

    /// Block `b`, to change.
    #[inline(always)]
    pub(super) fn block_mut(&mut self, b: usize) -> &mut Vec<Level> {
        self.block_and_scratch(b).0
    }

    /// Block `b` to change, and the buffers of [`BookSide::apply`].
    pub(super) fn block_and_scratch(&mut self, b: usize) -> (&mut Vec<Level>, &mut Scratch) {
        let block = match self.deep.get_mut(b) {
            Some(block) => block,
            None => &mut self.top,
        };
        (block, &mut self.scratch)
    }

    /// The block among the first `hi + 1` where `price` is or would go: the last whose worst
    /// level is not better than `price`, or the first.
    #[inline(always)]
    pub(super) fn block_for(&self, price: &Decimal, hi: usize) -> usize {
        // The highest first: nearly every update lands in the top block.
        if hi == 0 || self.not_better(self.block(hi), price) {
            return hi;
        }
        self.block_below(price, hi)
    }

    /// [`BookSide::block_for`] below block `hi`: kept out of line, so that the top block's
    /// search inlines into its callers.
    #[inline(never)]
    fn block_below(&self, price: &Decimal, hi: usize) -> usize {
        self.deep[..hi.min(self.deep.len())]
            .partition_point(|b| self.not_better(b, price))
            .saturating_sub(1)
    }

    /// True when `block`'s worst level is not better than `price` (or it has none).
    #[inline(always)]
    fn not_better(&self, block: &[Level], price: &Decimal) -> bool {
        block
            .first()
            .is_none_or(|l| self.order(&l.price, price) != Greater)
    }

    /// Sets the size at `price`; zero removes the level.
    #[inline]
    pub fn set(&mut self, price: Decimal, size: Decimal) {
        let top = self.deep.len();
        if top > 0 && !self.not_better(&self.top, &price) {
            return self.set_deep(price, size);
        }
        // The top block, most sides' only one: searched as directly as a side in one vector.
        match search_in(self.kind, &self.top, &price) {
            Ok(i) if size.is_zero() => self.remove(top, i),
            Ok(i) => self.top[i].size = size,
            Err(_) if size.is_zero() => {}
            Err(i) => self.insert(top, i, Level { price, size }),
        }
    }

    /// [`BookSide::set`] below the top block.
    #[inline(never)]
    fn set_deep(&mut self, price: Decimal, size: Decimal) {
        let b = self.block_below(&price, self.deep.len());
        match search_in(self.kind, &self.deep[b], &price) {
            Ok(i) if size.is_zero() => self.remove(b, i),
            Ok(i) => self.deep[b][i].size = size,
            Err(_) if size.is_zero() => {}
            Err(i) => self.insert(b, i, Level { price, size }),
        }
    }

    /// Removes level `i` of block `b`.
    fn remove(&mut self, b: usize, i: usize) {
        let block = self.block_mut(b);
        block.remove(i);
        let short = block.len() < BLOCK_MIN;
        self.len -= 1;
        if short && !self.deep.is_empty() {
            self.settle(b);
        }
    }

    /// Inserts `level` at `i` in block `b`.
    fn insert(&mut self, b: usize, i: usize, level: Level) {
        let block = self.block_mut(b);
        block.insert(i, level);
        let long = block.len() > BLOCK_MAX;
        self.len += 1;
        if long {
            self.settle(b);
        }
    }

    /// Brings block `b` back within bounds after it changed: an empty block goes, a long one
    /// is split into blocks of [`BLOCK`], a short one joins a neighbour with room for it.
    /// Blocks below `b` keep their numbers and levels, so a caller working down may go on.
    pub(super) fn settle(&mut self, b: usize) {
        let top = self.deep.len();
        let n = self.block(b).len();
        if n > BLOCK_MAX {
            // Pieces of BLOCK levels from the best end, each copied once, best first; the
            // worst rest (BLOCK + 1 ..= BLOCK_MAX levels) stays.
            let block = self.block_mut(b);
            let mut pieces = Vec::new();
            let mut rest = n;
            while rest > BLOCK_MAX {
                rest -= BLOCK;
                pieces.push(block.split_off(rest));
            }
            block.shrink_to(2 * BLOCK_MAX);
            let mut pieces = pieces.into_iter();
            if b == top {
                // The best piece becomes the top block; what the top kept goes below it.
                if let Some(best) = pieces.next() {
                    let kept = std::mem::replace(&mut self.top, best);
                    self.deep.push(kept);
                    self.deep.extend(pieces.rev());
                }
            } else {
                self.deep.splice(b + 1..b + 1, pieces.rev());
            }
        } else if n == 0 {
            if b < top {
                self.deep.remove(b);
            } else if let Some(below) = self.deep.pop() {
                self.top = below;
            }
        } else if n < BLOCK_MIN && top > 0 {
            // Into the block below if it has room, else the block above into this one.
            if b > 0 && self.block(b - 1).len() + n <= BLOCK_MAX {
                self.join_above(b - 1);
            } else if b < top && self.block(b + 1).len() + n <= BLOCK_MAX {
                self.join_above(b);
            }
        }
    }

    /// Appends block `b + 1`'s levels to block `b` and drops it; when `b + 1` was the top
    /// block, the joined block becomes the top one.
    fn join_above(&mut self, b: usize) {
        if b + 1 == self.deep.len() {
            if let Some(mut below) = self.deep.pop() {
                below.extend_from_slice(&self.top);
                self.top = below;
            }
        } else {
            let above = self.deep.remove(b + 1);
            self.deep[b].extend_from_slice(&above);
        }
    }

    /// The best level.
    pub fn best(&self) -> Option<&Level> {
        self.top.last()
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the side has no level.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Levels from best to worst.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator {
        Levels {
            front: self.top.iter(),
            middle: self.deep.iter(),
            back: [].iter(),
            len: self.len,
        }
    }

    /// The best `n` levels, best first, copied block by block.
    pub(super) fn best_levels(&self, n: usize) -> Vec<Level> {
        let mut out = Vec::with_capacity(n.min(self.len));
        for block in std::iter::once(&self.top).chain(self.deep.iter().rev()) {
            let take = (n - out.len()).min(block.len());
            out.extend(block[block.len() - take..].iter().rev().copied());
            if out.len() == n {
                break;
            }
        }
        out
    }

    /// Size at exactly `price`.
    pub fn size_at(&self, price: &Decimal) -> Option<Decimal> {
        let block = self.block(self.block_for(price, self.deep.len()));
        search_in(self.kind, block, price)
            .ok()
            .map(|i| block[i].size)
    }

    /// Keeps only the best `depth` levels.
    pub fn truncate(&mut self, depth: usize) {
        let Some(mut excess) = self.len.checked_sub(depth).filter(|&e| e > 0) else {
            return;
        };
        let whole = self
            .deep
            .iter()
            .take_while(|b| match excess.checked_sub(b.len()) {
                Some(e) => {
                    excess = e;
                    true
                }
                None => false,
            })
            .count();
        self.deep.drain(..whole);
        let worst = self.deep.first_mut().unwrap_or(&mut self.top);
        worst.drain(..excess.min(worst.len()));
        self.len = depth;
        if !self.deep.is_empty() {
            self.settle(0);
        }
    }

    /// Replaces every level with `levels` (an image, best first as exchanges send them).
    pub(super) fn replace(&mut self, levels: &[Level]) {
        // Images come best first, without zeros or repeated prices: then the side is the
        // image reversed, cut into blocks in one pass (the top block full, the worst one
        // taking the rest), each block keeping its allocation. Anything else is set level by
        // level.
        let ordered = levels.iter().all(|l| !l.size.is_zero())
            && levels
                .windows(2)
                .all(|w| self.order(&w[0].price, &w[1].price) == Greater);
        self.top.clear();
        if !ordered {
            self.deep.clear();
            self.len = 0;
            for l in levels {
                self.set(l.price, l.size);
            }
            return;
        }
        let mut chunks = levels.chunks(BLOCK);
        if let Some(best) = chunks.next() {
            self.top.extend(best.iter().rev().copied());
        }
        let deeper = chunks.rev();
        self.deep.truncate(deeper.len());
        for (i, chunk) in deeper.enumerate() {
            let worst_first = chunk.iter().rev().copied();
            match self.deep.get_mut(i) {
                Some(block) => {
                    block.clear();
                    block.extend(worst_first);
                }
                None => self.deep.push(worst_first.collect()),
            }
        }
        self.len = levels.len();
    }
}

/// Position of `price` (Ok) or where it would go (Err) in a block of a `kind` side, galloping
/// from the best end.
#[inline(always)]
fn search_in(kind: SideKind, levels: &[Level], price: &Decimal) -> Result<usize, usize> {
    // One monomorphized search per side, so the comparison inlines into the loop.
    match kind {
        SideKind::Bid => search_by::<GALLOP_MAX>(levels, |l| cmp_price(l, price)),
        SideKind::Ask => search_by::<GALLOP_MAX>(levels, |l| cmp_price(price, l)),
    }
}

/// The levels of a side, best first: the blocks read from the top one down, with a fast path
/// while the current block lasts (a book's top levels are nearly always in the top block).
struct Levels<'a> {
    /// The block being read from its best end.
    front: std::slice::Iter<'a, Level>,
    /// The blocks not started yet, worst first.
    middle: std::slice::Iter<'a, Vec<Level>>,
    /// The block being read from its worst end, by `next_back`.
    back: std::slice::Iter<'a, Level>,
    /// Levels left.
    len: usize,
}

impl<'a> Levels<'a> {
    /// The next level once the front block is done.
    #[cold]
    fn next_block(&mut self) -> Option<&'a Level> {
        while let Some(block) = self.middle.next_back() {
            self.front = block.iter();
            if let Some(l) = self.front.next_back() {
                return Some(l);
            }
        }
        self.back.next_back()
    }

    /// The next level from the worst end once the back block is done.
    #[cold]
    fn next_back_block(&mut self) -> Option<&'a Level> {
        for block in self.middle.by_ref() {
            self.back = block.iter();
            if let Some(l) = self.back.next() {
                return Some(l);
            }
        }
        self.front.next()
    }
}

impl<'a> Iterator for Levels<'a> {
    type Item = &'a Level;

    #[inline]
    fn next(&mut self) -> Option<&'a Level> {
        let l = match self.front.next_back() {
            Some(l) => l,
            None => self.next_block()?,
        };
        self.len = self.len.saturating_sub(1);
        Some(l)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<'a> DoubleEndedIterator for Levels<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<&'a Level> {
        let l = match self.back.next() {
            Some(l) => l,
            None => self.next_back_block()?,
        };
        self.len = self.len.saturating_sub(1);
        Some(l)
    }
}

impl ExactSizeIterator for Levels<'_> {}
