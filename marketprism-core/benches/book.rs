//! `OrderBook::apply_unchecked` level updates per second at book depths 20, 1000 and 5000,
//! with a `BTreeMap<Decimal, Decimal>` per side as the baseline on the same updates.
//!
//! Updates follow what real diff streams look like: most touch the best ten levels, some the
//! first tenth of the book, a few anywhere; about one in six is a delete (size zero), and
//! sizes set on empty prices insert new levels (prices are a 0.01 grid with half of the
//! grid slots empty, so inserts and deletes both happen all the time).
//!
//! ```text
//! cargo bench -p marketprism-core --bench book
//! ```
//!
//! `MP_BOOK_PASSES_AT_DEPTH=5000` instead applies the depth-5000 messages five times to the
//! book and exits: a fixed amount of work, for instruction counts that noise does not move:
//!
//! ```text
//! MP_BOOK_PASSES_AT_DEPTH=5000 valgrind --tool=callgrind --toggle-collect='*book::passes*' \
//!     target/release/deps/book-<hash>
//! ```
#![allow(missing_docs, clippy::unwrap_used)]

use std::{collections::BTreeMap, hint::black_box, time::Duration};

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use marketprism_core::{book::OrderBook, model::Level};
use rust_decimal::Decimal;

/// A small deterministic PRNG (PCG-style LCG), so every run measures the same updates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const MID: i64 = 10_000_000; // 100000.00 at scale 2

/// Price `k` grid slots away from the mid (k >= 1), on the bid or ask side.
fn price(bid: bool, k: u64) -> Decimal {
    let k = i64::try_from(k).unwrap();
    Decimal::new(if bid { MID - k } else { MID + k }, 2)
}

fn size(rng: &mut Rng) -> Decimal {
    Decimal::new(i64::try_from(1 + rng.below(100_000)).unwrap(), 4)
}

/// Grid slot of an update: 70 % in the best 10 slots, 20 % in the first tenth, 10 % anywhere
/// (the grid is twice the depth: half the slots start empty).
fn slot(rng: &mut Rng, depth: u64) -> u64 {
    let span = match rng.below(10) {
        0..=6 => 10,
        7 | 8 => (depth * 2 / 10).max(10),
        _ => depth * 2,
    };
    1 + rng.below(span)
}

/// The initial image (every other grid slot filled, `depth` levels a side) and 2 000 diff
/// messages of 1–8 levels per side.
/// Bids and asks of one diff message.
type Msg = (Vec<Level>, Vec<Level>);

fn scenario(depth: u64) -> (Vec<Level>, Vec<Level>, Vec<Msg>) {
    let mut rng = Rng(depth);
    let image = |bid: bool, rng: &mut Rng| -> Vec<Level> {
        (0..depth)
            .map(|i| Level::new(price(bid, 1 + 2 * i), size(rng)))
            .collect()
    };
    let bids = image(true, &mut rng);
    let asks = image(false, &mut rng);
    let mut msgs = Vec::new();
    for _ in 0..2_000 {
        let side = |bid: bool, rng: &mut Rng| -> Vec<Level> {
            (0..1 + rng.below(8))
                .map(|_| {
                    let p = price(bid, slot(rng, depth));
                    let s = if rng.below(6) == 0 {
                        Decimal::ZERO
                    } else {
                        size(rng)
                    };
                    Level::new(p, s)
                })
                .collect()
        };
        let b = side(true, &mut rng);
        let a = side(false, &mut rng);
        msgs.push((b, a));
    }
    (bids, asks, msgs)
}

fn set(side: &mut BTreeMap<Decimal, Decimal>, levels: &[Level]) {
    for l in levels {
        if l.size.is_zero() {
            side.remove(&l.price);
        } else {
            side.insert(l.price, l.size);
        }
    }
}

fn book(c: &mut Criterion) {
    let mut g = c.benchmark_group("book_apply");
    for depth in [20u64, 1000, 5000] {
        let (bids, asks, msgs) = scenario(depth);
        let updates: usize = msgs.iter().map(|(b, a)| b.len() + a.len()).sum();
        g.throughput(Throughput::Elements(updates as u64));
        let mut initial = OrderBook::new();
        initial.replace(0, &bids, &asks);
        g.bench_function(format!("depth_{depth}/order_book"), |b| {
            b.iter_batched_ref(
                || initial.clone(),
                |book| {
                    for (seq, (b, a)) in (1u64..).zip(&msgs) {
                        book.apply_unchecked(seq, b, a);
                    }
                    black_box(book.best_bid().copied())
                },
                BatchSize::SmallInput,
            );
        });
        let mut tree = (BTreeMap::new(), BTreeMap::new());
        set(&mut tree.0, &bids);
        set(&mut tree.1, &asks);
        g.bench_function(format!("depth_{depth}/btreemap_baseline"), |b| {
            b.iter_batched_ref(
                || tree.clone(),
                |(tb, ta)| {
                    for (b, a) in &msgs {
                        set(tb, b);
                        set(ta, a);
                    }
                    black_box(tb.last_key_value().map(|(p, _)| *p))
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    targets = book
}
/// Five passes of the `depth` scenario's messages over copies of its book.
#[inline(never)]
fn passes(book: &OrderBook, msgs: &[Msg]) {
    for _ in 0..5 {
        let mut book = book.clone();
        for (seq, (b, a)) in (1u64..).zip(msgs) {
            book.apply_unchecked(seq, b, a);
        }
        black_box(book.best_bid().copied());
    }
}

fn main() {
    if let Some(depth) = std::env::var("MP_BOOK_PASSES_AT_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
    {
        let (bids, asks, msgs) = scenario(depth);
        let mut book = OrderBook::new();
        book.replace(0, &bids, &asks);
        passes(&book, &msgs);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
