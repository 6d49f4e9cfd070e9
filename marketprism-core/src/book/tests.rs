//! Order-book unit tests: ordering, deltas, gaps, depth limits, the fast paths against
//! their plain equivalents.

use super::*;
use order::cmp_price;

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}
fn l(p: &str, s: &str) -> Level {
    Level::new(d(p), d(s))
}

#[test]
fn sides_are_ordered_best_first() {
    let mut b = OrderBook::new();
    b.replace(
        1,
        &[l("99", "1"), l("101", "1"), l("100", "2")],
        &[l("105", "1"), l("103", "1"), l("104", "1")],
    );
    let (bids, asks) = b.top(3);
    assert_eq!(
        bids.iter().map(|l| l.price).collect::<Vec<_>>(),
        [d("101"), d("100"), d("99")]
    );
    assert_eq!(
        asks.iter().map(|l| l.price).collect::<Vec<_>>(),
        [d("103"), d("104"), d("105")]
    );
    assert_eq!(b.spread(), Some(d("2")));
    assert_eq!(b.mid(), Some(d("102")));
}

#[test]
fn delta_updates_removes_and_ignores_absent_zero() {
    let mut b = OrderBook::new();
    b.replace(10, &[l("100", "1")], &[l("101", "1")]);
    b.apply(
        11,
        10,
        &[l("100", "0"), l("99.5", "3"), l("98", "0")],
        &[l("101.00", "5")],
    )
    .expect("in sequence");
    assert_eq!(b.best_bid(), Some(&l("99.5", "3")));
    // 101.00 equals 101 numerically: same level, size replaced.
    assert_eq!(b.asks().len(), 1);
    assert_eq!(b.asks().size_at(&d("101")), Some(d("5")));
}

#[test]
fn gap_is_refused_without_change() {
    let mut b = OrderBook::new();
    b.replace(10, &[l("100", "1")], &[l("101", "1")]);
    let before = b.clone();
    let err = b.apply(13, 12, &[l("100", "7")], &[]).expect_err("gap");
    assert!(matches!(
        err,
        Error::SequenceGap {
            expected: 10,
            received: 12
        }
    ));
    assert_eq!(b, before);
}

#[test]
fn depth_limit_keeps_best() {
    let mut b = OrderBook::with_depth(2);
    b.replace(
        1,
        &[l("1", "1"), l("2", "1"), l("3", "1")],
        &[l("5", "1"), l("4", "1"), l("6", "1")],
    );
    assert_eq!(
        b.top(10).0.iter().map(|l| l.price).collect::<Vec<_>>(),
        [d("3"), d("2")]
    );
    assert_eq!(
        b.top(10).1.iter().map(|l| l.price).collect::<Vec<_>>(),
        [d("4"), d("5")]
    );
}

#[test]
fn ordered_image_fast_path_equals_level_by_level() {
    let bids = [
        l("101.5", "1"),
        l("101", "2"),
        l("100.25", "3"),
        l("99", "4"),
    ];
    let asks = [l("102", "1"), l("102.50", "2"), l("103", "3")];
    let mut fast = OrderBook::new();
    fast.replace(1, &bids, &asks);
    let mut slow = OrderBook::new();
    for b in &bids {
        slow.bids.set(b.price, b.size);
    }
    for a in &asks {
        slow.asks.set(a.price, a.size);
    }
    slow.sequence = 1;
    assert_eq!(fast, slow);
    // Unordered, zero-size and repeated levels take the level-by-level path.
    fast.replace(2, &[l("1", "1"), l("2", "0"), l("1.0", "5")], &[]);
    assert_eq!(
        fast.bids().iter().copied().collect::<Vec<_>>(),
        [l("1.0", "5")]
    );
    // Searches near the top and deep in a long side agree with a plain binary search.
    let many: Vec<Level> = (0..100).rev().map(|i| l(&format!("{i}.5"), "1")).collect();
    fast.replace(3, &many, &[]);
    for i in 0..100 {
        assert_eq!(fast.bids().size_at(&d(&format!("{i}.50"))), Some(d("1")));
        assert_eq!(fast.bids().size_at(&d(&format!("{i}.25"))), None);
    }
}

#[test]
fn random_updates_match_a_tree_map() {
    use std::collections::BTreeMap;
    let mut x: u64 = 5;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 20
    };
    let mut book = OrderBook::new();
    let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
    for _ in 0..20_000 {
        let bid = next() % 2 == 0;
        // Prices at mixed scales (1.5 = 1.50), near the top more often.
        let slot = if next() % 4 == 0 {
            next() % 300
        } else {
            next() % 12
        };
        let scale = (next() % 3) as u32;
        let m = i64::try_from(slot).unwrap_or(0) * 10i64.pow(scale);
        let price = if bid {
            Decimal::new(100_000 * 10i64.pow(scale) - m, scale + 2)
        } else {
            Decimal::new(100_001 * 10i64.pow(scale) + m, scale + 2)
        };
        let size = Decimal::from(next() % 4);
        let tree = if bid { &mut bids } else { &mut asks };
        if size.is_zero() {
            tree.remove(&price);
        } else {
            tree.insert(price, size);
        }
        let (b, a) = if bid {
            (vec![Level::new(price, size)], vec![])
        } else {
            (vec![], vec![Level::new(price, size)])
        };
        book.apply_unchecked(0, &b, &a);
    }
    let got: Vec<(Decimal, Decimal)> = book.bids().iter().map(|l| (l.price, l.size)).collect();
    let want: Vec<(Decimal, Decimal)> = bids.iter().rev().map(|(p, s)| (*p, *s)).collect();
    assert_eq!(got, want);
    let got: Vec<(Decimal, Decimal)> = book.asks().iter().map(|l| (l.price, l.size)).collect();
    let want: Vec<(Decimal, Decimal)> = asks.iter().map(|(p, s)| (*p, *s)).collect();
    assert_eq!(got, want);
}

#[test]
fn price_comparison_matches_decimal() {
    let mut x: u64 = 3;
    let mut next = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x
    };
    for _ in 0..100_000 {
        let (m1, m2, r) = (next(), next(), next());
        let hi = |v: u64| {
            if v.is_multiple_of(5) {
                (v >> 35) as u32
            } else {
                0
            }
        };
        let a = Decimal::from_parts(
            m1 as u32,
            (m1 >> 40) as u32,
            hi(r),
            r % 2 == 0,
            (r >> 8) as u32 % 29,
        );
        // Often the same value at another scale, or a near neighbour.
        let b = match r % 3 {
            0 => a * Decimal::new(10, 1),
            1 => a + Decimal::new(1, (m2 % 29) as u32),
            _ => Decimal::from_parts(
                m2 as u32,
                (m2 >> 48) as u32,
                0,
                m2 % 2 == 0,
                (m2 >> 8) as u32 % 29,
            ),
        };
        assert_eq!(cmp_price(&a, &b), a.cmp(&b), "{a:?} {b:?}");
        assert_eq!(cmp_price(&b, &a), b.cmp(&a), "{a:?} {b:?}");
    }
}

#[test]
fn crossed_detection() {
    let mut b = OrderBook::new();
    b.replace(1, &[l("100", "1")], &[l("100", "1")]);
    assert!(b.is_crossed());
    assert!(matches!(
        b.check_not_crossed(),
        Err(Error::CrossedBook { .. })
    ));
}

/// A deterministic generator of numbers below its argument (an LCG from `seed`).
fn below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |n| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 20) % n.max(1)
    }
}

/// Puts a message's levels as exchanges send them: in price order, each price once, best
/// first or (as Binance USDⓈ-M sends bids) worst first.
fn as_exchanges_send(msg: &mut Vec<Level>, kind: SideKind, worst_first: bool) {
    msg.sort_by(|a, b| match kind {
        SideKind::Bid => b.price.cmp(&a.price),
        SideKind::Ask => a.price.cmp(&b.price),
    });
    msg.dedup_by(|a, b| a.price == b.price);
    if worst_first {
        msg.reverse();
    }
}

/// A message's levels applied together (sorted or not, repeated prices, inserts and removals
/// deep and near the top) leave exactly what setting them one at a time leaves, down to the
/// price text kept for an existing level.
#[test]
fn batch_apply_equals_level_by_level() {
    let mut next = below(11);
    for kind in [SideKind::Bid, SideKind::Ask] {
        let (mut batch, mut single) = (BookSide::new(kind), BookSide::new(kind));
        for round in 0..1_000 {
            let len = match next(4) {
                0 => next(3),
                1 => 2 + next(400),
                _ => 2 + next(30),
            };
            let top_heavy = next(2) == 0;
            let mut msg: Vec<Level> = (0..len)
                .map(|_| {
                    let slot =
                        i64::try_from(if top_heavy { next(20) } else { next(600) }).unwrap_or(0);
                    // The same price at two scales (12.3 and 12.30) now and then.
                    let scale = u32::from(next(5) == 0);
                    let price = Decimal::new((10_000 + slot) * 10i64.pow(scale), 1 + scale);
                    let size = Decimal::from(next(3));
                    Level::new(price, size)
                })
                .collect();
            if round % 3 != 0 {
                as_exchanges_send(&mut msg, kind, round % 3 == 2);
            }
            batch.apply(&msg);
            for l in &msg {
                single.set(l.price, l.size);
            }
            let text = |s: &BookSide| -> Vec<String> {
                s.iter()
                    .map(|l| format!("{}:{}", l.price, l.size))
                    .collect()
            };
            assert_eq!(text(&batch), text(&single), "round {round}, {kind:?}");
        }
        assert!(batch.len() > 100, "the side grew deep: {}", batch.len());
    }
}

/// The block bounds every side keeps: no empty block below the top one, the top one empty
/// only in an empty side, none longer than the split length, blocks and levels in order,
/// `len` their sum.
fn assert_blocks_sound(side: &BookSide) {
    let blocks = || side.deep.iter().chain(std::iter::once(&side.top));
    assert_eq!(side.len, blocks().map(Vec::len).sum::<usize>());
    assert!(side.deep.iter().all(|b| !b.is_empty()));
    assert!(blocks().all(|b| b.len() <= side::BLOCK_MAX));
    assert_eq!(side.top.is_empty(), side.len == 0);
    let mut worst_first = blocks().flatten();
    if let Some(mut prev) = worst_first.next() {
        for l in worst_first {
            assert_eq!(side.order(&prev.price, &l.price), std::cmp::Ordering::Less);
            prev = l;
        }
    }
}

/// Long sides (many blocks) under messages of every shape — ordered either way or not, a few
/// levels or hundreds, deep or near the top, with removals — plus images and depth limits,
/// hold exactly what a tree map holds, and their blocks stay within bounds.
#[test]
fn deep_sides_match_a_tree_map() {
    use std::collections::BTreeMap;
    let mut next = below(23);
    for kind in [SideKind::Bid, SideKind::Ask] {
        let mut side = BookSide::new(kind);
        let mut tree: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        // Best first in this side's order.
        let best_first = |t: &BTreeMap<Decimal, Decimal>| -> Vec<Level> {
            let all = t.iter().map(|(p, s)| Level::new(*p, *s));
            match kind {
                SideKind::Bid => all.rev().collect(),
                SideKind::Ask => all.collect(),
            }
        };
        for round in 0..600 {
            match next(40) {
                0 => {
                    // A fresh image of up to 6,000 levels.
                    tree = (0..next(6_000))
                        .map(|i| (Decimal::new(10_000 + 2 * i as i64, 1), Decimal::ONE))
                        .collect();
                    side.replace(&best_first(&tree));
                }
                1 => {
                    let depth = next(3_000) as usize;
                    side.truncate(depth);
                    let keep: Vec<Level> = best_first(&tree).into_iter().take(depth).collect();
                    tree = keep.iter().map(|l| (l.price, l.size)).collect();
                }
                _ => {
                    let (len, span) = match next(4) {
                        0 => (1 + next(6), 20),
                        1 => (1 + next(300), 12_000),
                        _ => (1 + next(40), 12_000),
                    };
                    let mut msg: Vec<Level> = (0..len)
                        .map(|_| {
                            let slot = i64::try_from(next(span)).unwrap_or(0);
                            let price = match kind {
                                SideKind::Bid => Decimal::new(22_000 - slot, 1),
                                SideKind::Ask => Decimal::new(10_000 + slot, 1),
                            };
                            Level::new(price, Decimal::from(next(3)))
                        })
                        .collect();
                    if round % 4 != 0 {
                        as_exchanges_send(&mut msg, kind, round % 4 == 3);
                    }
                    side.apply(&msg);
                    for l in &msg {
                        if l.size.is_zero() {
                            tree.remove(&l.price);
                        } else {
                            tree.insert(l.price, l.size);
                        }
                    }
                }
            }
            assert_blocks_sound(&side);
            assert_eq!(
                side.iter().copied().collect::<Vec<_>>(),
                best_first(&tree),
                "round {round}, {kind:?}"
            );
            assert_eq!(side.iter().len(), tree.len());
            // Read from both ends at once: every level once, the count exact throughout.
            let (mut levels, mut worst) = (side.iter(), Vec::new());
            let mut best = Vec::new();
            while let Some(l) = levels.next() {
                best.push(*l);
                worst.extend(levels.next_back().copied());
                assert_eq!(levels.len(), tree.len() - best.len() - worst.len());
            }
            best.extend(worst.iter().rev());
            assert_eq!(best, best_first(&tree));
            for n in [0, 1, 130, 300, tree.len() + 5] {
                let want: Vec<Level> = best_first(&tree).into_iter().take(n).collect();
                assert_eq!(side.best_levels(n), want, "best {n}");
            }
            if let Some((p, s)) = tree.iter().nth(tree.len() / 3) {
                assert_eq!(side.size_at(p), Some(*s));
            }
        }
        assert!(side.deep.len() > 10, "the side spanned many blocks");
    }
}
