//! Order-book unit tests: ordering, deltas, gaps, depth limits, the fast paths against
//! their plain equivalents.

use super::*;

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

/// A message's levels applied together (sorted or not, repeated prices, inserts and removals
/// deep and near the top) leave exactly what setting them one at a time leaves, down to the
/// price text kept for an existing level.
#[test]
fn batch_apply_equals_level_by_level() {
    let mut x: u64 = 11;
    let mut next = move |n: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 20) % n.max(1)
    };
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
                // As exchanges send them: in price order, each price once.
                msg.sort_by(|a, b| match kind {
                    SideKind::Bid => b.price.cmp(&a.price),
                    SideKind::Ask => a.price.cmp(&b.price),
                });
                msg.dedup_by(|a, b| a.price == b.price);
                if round % 3 == 2 {
                    // Worst first, as Binance USDⓈ-M sends bids.
                    msg.reverse();
                }
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
