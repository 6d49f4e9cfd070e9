//! Exact price comparison and the searches of a book side.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use crate::model::Level;

/// Deepest level (from the best) probed by the galloping phase of a single-level search.
pub(super) const GALLOP_MAX: usize = 8;

/// Powers of ten up to the largest `Decimal` scale.
const POW10: [i128; 29] = {
    let mut p = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// Compares two prices exactly like `Decimal::cmp`, faster: mantissas compare directly when
/// the scales agree (nearly always within one book), or after scaling the coarser one up when
/// that cannot overflow; anything else goes to `Decimal::cmp`.
#[inline(always)]
pub(super) fn cmp_price(a: &Decimal, b: &Decimal) -> Ordering {
    let (sa, sb) = (a.scale(), b.scale());
    let (ma, mb) = (a.mantissa(), b.mantissa());
    if sa == sb {
        return ma.cmp(&mb);
    }
    // Non-negative mantissas of at most 64 bits (every book price seen) and a scale gap of at
    // most 19: one widening multiply, no overflow possible.
    if let (Ok(ua), Ok(ub)) = (u64::try_from(ma), u64::try_from(mb)) {
        if sa < sb && sb - sa <= 19 {
            return (u128::from(ua) * POW10[(sb - sa) as usize] as u128).cmp(&u128::from(ub));
        }
        if sb < sa && sa - sb <= 19 {
            return u128::from(ua).cmp(&(u128::from(ub) * POW10[(sa - sb) as usize] as u128));
        }
    }
    cmp_price_wide(a, b)
}

/// [`cmp_price`] for negative or wide mantissas and large scale gaps: kept out of line so
/// that the common comparison stays small enough to inline into the search loops.
#[cold]
#[inline(never)]
fn cmp_price_wide(a: &Decimal, b: &Decimal) -> Ordering {
    let (sa, sb) = (a.scale(), b.scale());
    let (ma, mb) = (a.mantissa(), b.mantissa());
    // Scales are at most 28, so the index is in range; a mantissa below 2^96 times 10^k
    // fits an i128 only for small k, hence the checked multiply.
    let scaled = if sa < sb {
        POW10
            .get((sb - sa) as usize)
            .and_then(|p| ma.checked_mul(*p))
            .map(|ma| ma.cmp(&mb))
    } else {
        POW10
            .get((sa - sb) as usize)
            .and_then(|p| mb.checked_mul(*p))
            .map(|mb| ma.cmp(&mb))
    };
    scaled.unwrap_or_else(|| a.cmp(b))
}

/// Position of the level `order` finds `Equal` (Ok) or where it would go (Err) in `levels`,
/// sorted so that `order` goes `Less`… then `Greater`… (worst first, best last).
///
/// Most updates land within a few levels of the best, which is at the end: a galloping
/// search from the end (1, 2, 4 … `GALLOP` levels down) brackets those in a few comparisons; a
/// binary search finishes inside the bracket, or below the galloped levels for deep ones.
#[inline(always)]
pub(super) fn search_by<const GALLOP: usize>(
    levels: &[Level],
    order: impl Fn(&Decimal) -> Ordering,
) -> Result<usize, usize> {
    use Ordering::{Equal, Greater, Less};
    let n = levels.len();
    let (mut lo, mut hi) = (0, n);
    let mut step = 1;
    while step <= n.min(GALLOP) {
        let i = n - step;
        match order(&levels[i].price) {
            Less => {
                lo = i + 1;
                break;
            }
            Equal => return Ok(i),
            Greater => {
                hi = i;
                step *= 2;
            }
        }
    }
    // std's binary search is branch-free on the comparison outcome: unpredictable deep
    // positions cost no mispredictions.
    match levels[lo..hi].binary_search_by(|l| order(&l.price)) {
        Ok(k) => Ok(lo + k),
        Err(k) => Err(lo + k),
    }
}
