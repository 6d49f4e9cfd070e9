//! Normalization throughput per venue and message type on the shared corpus.
//!
//! Each case feeds the corpus lines of one message type to a normalizer, reusing one
//! [`Output`] (cleared per frame, as the live path does). Book cases are stateful: every
//! iteration starts from a fresh normalizer built outside the timing (Binance: REST snapshot
//! installed, then only the diffs that chain from it; OKX and Deribit: the whole file in order,
//! snapshots included, so book apply and the OKX checksum are measured).
//!
//! Every case also runs a baseline on the same lines ([`baseline`]): `serde_json::from_str`
//! of each line into a `#[derive(Deserialize)]` struct of borrowed fields mirroring the wire
//! message (`&str` strings, `&RawValue` for JSON-number prices, level arrays as `[&str; 2]`
//! etc.; e.g. Binance trade `{e,E,s,t,p,q,T,m}` inside the `{stream,data}` wrapper, OKX books
//! `{arg:{channel,instId},action,data:[{asks:[[&str;4]],bids,ts,checksum,seqId,prevSeqId}]}`):
//! what a hand-written serde parser pays before doing anything with the message. On a noisy
//! machine, read the figures as ratios against it (`serde_baseline / normalize` time).
//!
//! Before criterion runs, a short pass prints that ratio per case (`ratio <case>: x.xx`,
//! normalize throughput over baseline throughput, both timed alternately in rounds, best
//! round of each); `MP_RATIOS_ONLY=1` stops after it, `MP_RATIOS_FILTER=okx/books` limits it
//! to the cases whose name contains that text.
//!
//! Groups: `msgs` (`Throughput::Elements`, frames) and `bytes` (`Throughput::Bytes`).
//! Corpus: `MARKETPRISM_CORPUS_DIR`, else `../shared/corpus` beside the workspace root.
//!
//! ```text
//! cargo bench -p marketprism-exchanges --bench normalize
//! cargo bench -p marketprism-exchanges --bench normalize -- 'msgs/okx'   # a filter
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use marketprism_core::model::MarketEvent;
use marketprism_exchanges::{InstrumentMap, Normalizer, Output, RestKind, Venue};

mod baseline;
// The crate's own corpus helpers (the same lookup and error as its tests); its OKX checksum
// helper is for the tests only.
#[path = "../../src/testing.rs"]
#[allow(dead_code)]
mod testing;

use baseline::Baseline;
use testing::corpus_lines as lines;

const LOCAL_TS: i64 = 1_767_225_600_000_000_000;

const SPOT_INFO: &str = include_str!("../../tests/fixtures/binance/exchangeInfo_spot.json");
const USDM_INFO: &str = include_str!("../../tests/fixtures/binance/exchangeInfo_usdm.json");
const OKX_EXTRA: &str = include_str!("../../tests/fixtures/okx/instruments_extra.jsonl");
const DERIBIT_EXPIRED: &str =
    include_str!("../../tests/fixtures/deribit/get_instruments_expired.json");

/// Symbols of the lines of `rest_depth_snapshot.jsonl`, in order (as in the crate's tests).
const SPOT_SNAPSHOTS: [&str; 6] = [
    "NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR", "BTCUSDT", "BNBBTC",
];
const USDM_SNAPSHOTS: [&str; 9] = [
    "SUSHIUSDT",
    "AKROUSDT",
    "KEEPUSDT",
    "CTKUSDT",
    "KSMUSDT",
    "YFIUSDT",
    "DENTUSDT",
    "XMRUSDT",
    "BTCUSDT",
];

fn map(venue: Venue, bodies: &[&str]) -> InstrumentMap {
    let mut m = InstrumentMap::new();
    for body in bodies {
        m.extend(
            venue
                .as_exchange()
                .parse_instruments(body)
                .expect("instruments"),
        );
    }
    m
}

fn okx_map() -> InstrumentMap {
    let corpus = lines("okx", "rest_instruments.jsonl");
    let mut bodies: Vec<&str> = corpus.iter().map(String::as_str).collect();
    bodies.extend(OKX_EXTRA.lines().filter(|l| !l.trim().is_empty()));
    map(Venue::Okx, &bodies)
}

fn deribit_map() -> InstrumentMap {
    let corpus = lines("deribit", "rest_get_instruments.jsonl");
    let mut bodies: Vec<&str> = corpus.iter().map(String::as_str).collect();
    bodies.push(DERIBIT_EXPIRED);
    map(Venue::Deribit, &bodies)
}

type Boxed = Box<dyn Normalizer>;

/// One benchmark case: the frames, and how to build the normalizer that receives them.
struct Case {
    name: String,
    frames: Vec<String>,
    /// A fresh normalizer in the state the frames expect.
    make: Box<dyn Fn() -> Boxed>,
    /// True when the frames change state so that each iteration needs a fresh normalizer.
    stateful: bool,
    /// The borrowed-struct `serde_json` parse of the same lines.
    baseline: Baseline,
}

fn feed(n: &mut dyn Normalizer, frames: &[String], out: &mut Output) -> usize {
    let mut events = 0;
    for f in frames {
        let r = n.on_frame(f, LOCAL_TS, out);
        events += usize::from(r.is_ok()) + out.events.len();
        out.clear();
    }
    events
}

fn stateless(
    venue: Venue,
    m: &InstrumentMap,
    ex: &str,
    file: &str,
    name: &str,
    baseline: Baseline,
) -> Case {
    let m = m.clone();
    // Only the frames that normalize (a few corpus lines name instruments outside the maps,
    // on purpose: the crate's tests check that they are rejected).
    let mut n = venue.as_exchange().normalizer(m.clone(), None);
    let mut out = Output::new();
    let mut frames = lines(ex, file);
    frames.retain(|f| {
        let ok = n.on_frame(f, LOCAL_TS, &mut out).is_ok();
        out.clear();
        ok
    });
    assert!(!frames.is_empty(), "{name}");
    Case {
        name: name.to_owned(),
        frames,
        make: Box::new(move || venue.as_exchange().normalizer(m.clone(), None)),
        stateful: false,
        baseline,
    }
}

/// Binance depth diffs, synced: REST snapshots installed first, then only the diffs that
/// apply (the chain from each snapshot); stale and unsynced symbols' diffs are left out.
fn binance_depth(venue: Venue, m: &InstrumentMap, ex: &str, symbols: &[&str], name: &str) -> Case {
    let snaps: Vec<(String, String)> = symbols
        .iter()
        .map(|s| (*s).to_owned())
        .zip(lines(ex, "rest_depth_snapshot.jsonl"))
        .collect();
    let m = m.clone();
    let make = move || {
        let mut n = venue.as_exchange().normalizer(m.clone(), None);
        let mut out = Output::new();
        for (sym, body) in &snaps {
            let kind = RestKind::DepthSnapshot {
                native_symbol: sym.clone(),
            };
            n.on_rest(&kind, body, LOCAL_TS, &mut out)
                .expect("snapshot");
            out.clear();
        }
        n
    };
    let mut n = make();
    let mut out = Output::new();
    let mut frames = Vec::new();
    for f in lines(ex, "depthUpdate.jsonl") {
        n.on_frame(&f, LOCAL_TS, &mut out).expect("diff");
        let applied = matches!(out.events.as_slice(), [MarketEvent::BookDelta(_)]);
        out.clear();
        if applied {
            frames.push(f);
        }
    }
    assert!(frames.len() > 100, "{name}: {} diffs chain", frames.len());
    Case {
        name: name.to_owned(),
        frames,
        make: Box::new(make),
        stateful: true,
        baseline: baseline::binance_depth,
    }
}

fn book_file(
    venue: Venue,
    m: &InstrumentMap,
    ex: &str,
    file: &str,
    name: &str,
    baseline: Baseline,
) -> Case {
    let m = m.clone();
    Case {
        name: name.to_owned(),
        frames: lines(ex, file),
        make: Box::new(move || venue.as_exchange().normalizer(m.clone(), None)),
        stateful: true,
        baseline,
    }
}

fn cases() -> Vec<Case> {
    let spot = map(Venue::BinanceSpot, &[SPOT_INFO]);
    let usdm = map(Venue::BinanceUsdm, &[USDM_INFO]);
    let okx = okx_map();
    let deribit = deribit_map();
    let (bs, bu) = (Venue::BinanceSpot, Venue::BinanceUsdm);
    vec![
        stateless(
            bs,
            &spot,
            "binance-spot",
            "trade.jsonl",
            "binance-spot/trade",
            baseline::binance_trade,
        ),
        stateless(
            bs,
            &spot,
            "binance-spot",
            "aggTrade.jsonl",
            "binance-spot/aggTrade",
            baseline::binance_agg_trade,
        ),
        binance_depth(
            bs,
            &spot,
            "binance-spot",
            &SPOT_SNAPSHOTS,
            "binance-spot/depthUpdate",
        ),
        stateless(
            bs,
            &spot,
            "binance-spot",
            "bookTicker.jsonl",
            "binance-spot/bookTicker",
            baseline::binance_book_ticker,
        ),
        stateless(
            bu,
            &usdm,
            "binance-usdm",
            "trade.jsonl",
            "binance-usdm/trade",
            baseline::binance_trade,
        ),
        stateless(
            bu,
            &usdm,
            "binance-usdm",
            "aggTrade.jsonl",
            "binance-usdm/aggTrade",
            baseline::binance_agg_trade,
        ),
        binance_depth(
            bu,
            &usdm,
            "binance-usdm",
            &USDM_SNAPSHOTS,
            "binance-usdm/depthUpdate",
        ),
        stateless(
            bu,
            &usdm,
            "binance-usdm",
            "bookTicker.jsonl",
            "binance-usdm/bookTicker",
            baseline::binance_book_ticker,
        ),
        stateless(
            Venue::Okx,
            &okx,
            "okx",
            "trades.jsonl",
            "okx/trades",
            baseline::okx_trades,
        ),
        book_file(
            Venue::Okx,
            &okx,
            "okx",
            "books.jsonl",
            "okx/books",
            baseline::okx_books,
        ),
        book_file(
            Venue::Okx,
            &okx,
            "okx",
            "books_l2_tbt.jsonl",
            "okx/books-l2-tbt",
            baseline::okx_books,
        ),
        book_file(
            Venue::Deribit,
            &deribit,
            "deribit",
            "book.jsonl",
            "deribit/book",
            baseline::deribit_book,
        ),
        stateless(
            Venue::Deribit,
            &deribit,
            "deribit",
            "trades.jsonl",
            "deribit/trades",
            baseline::deribit_trades,
        ),
        stateless(
            Venue::Deribit,
            &deribit,
            "deribit",
            "ticker.jsonl",
            "deribit/ticker",
            baseline::deribit_ticker,
        ),
    ]
}

fn run_case(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, c: &Case) {
    let id = format!("{}/normalize", c.name);
    if c.stateful {
        let mut out = Output::new();
        g.bench_function(id, |b| {
            b.iter_batched(
                || (c.make)(),
                |mut n| {
                    black_box(feed(n.as_mut(), &c.frames, &mut out));
                    n
                },
                BatchSize::PerIteration,
            );
        });
    } else {
        let mut n = (c.make)();
        let mut out = Output::new();
        g.bench_function(id, |b| {
            b.iter(|| black_box(feed(n.as_mut(), &c.frames, &mut out)));
        });
    }
}

/// Seconds per pass of `f`, best of `rounds` passes.
fn best_secs(mut f: impl FnMut() -> Duration, rounds: usize) -> f64 {
    (0..rounds)
        .map(|_| f().as_secs_f64())
        .fold(f64::INFINITY, f64::min)
}

/// The same-run ratio of every case (normalize throughput / baseline throughput), printed
/// before criterion runs: baseline and normalize timed alternately, 15 rounds of a few passes
/// each, best round of each kept.
fn print_ratios(cases: &[Case]) {
    let mut out = Output::new();
    let only = std::env::var("MP_RATIOS_FILTER").unwrap_or_default();
    for c in cases.iter().filter(|c| c.name.contains(only.as_str())) {
        let passes = (20_000 / c.frames.len()).max(3);
        let (mut ours, mut base) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..15 {
            base = base.min(best_secs(
                || {
                    let t = Instant::now();
                    black_box((c.baseline)(&c.frames));
                    t.elapsed()
                },
                passes,
            ));
            ours = ours.min(best_secs(
                || {
                    let mut n = (c.make)();
                    let t = Instant::now();
                    black_box(feed(n.as_mut(), &c.frames, &mut out));
                    t.elapsed()
                },
                passes,
            ));
        }
        println!(
            "ratio {:<28} {:.2}  ({:.2} M msgs/s, baseline {:.2} M)",
            c.name,
            base / ours,
            c.frames.len() as f64 / ours / 1e6,
            c.frames.len() as f64 / base / 1e6,
        );
    }
}

fn normalize(crit: &mut Criterion) {
    let cases = cases();
    print_ratios(&cases);
    if std::env::var_os("MP_RATIOS_ONLY").is_some() {
        return;
    }
    let mut g = crit.benchmark_group("msgs");
    for c in &cases {
        g.throughput(Throughput::Elements(c.frames.len() as u64));
        run_case(&mut g, c);
        g.bench_function(format!("{}/serde_baseline", c.name), |b| {
            b.iter(|| black_box((c.baseline)(&c.frames)));
        });
    }
    g.finish();
    let mut g = crit.benchmark_group("bytes");
    for c in &cases {
        let bytes: usize = c.frames.iter().map(String::len).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        run_case(&mut g, c);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200));
    targets = normalize
}
criterion_main!(benches);
