//! (3) Corpus books rebuilt with the sync rules and compared with an independent rebuild;
//! (4) synthetic gaps; (5) crossed updates; buffer bound; disconnects.

use std::collections::BTreeMap;

use marketprism_core::{
    book::OrderBook,
    model::{Level, MarketEvent, StatusKind},
};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    corpus::{SPOT_SNAPSHOTS, USDM_SNAPSHOTS},
    *,
};
use crate::{Action, RestKind, testing::corpus_lines};

/// Levels of both sides, best first, as (price, size).
type Sides = (Vec<(Decimal, Decimal)>, Vec<(Decimal, Decimal)>);

/// Independent reference book: price → size maps built from the raw JSON.
#[derive(Debug, Default, Clone)]
struct RefBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("decimal text")
}

impl RefBook {
    fn set(side: &mut BTreeMap<Decimal, Decimal>, levels: &Value) {
        for l in levels.as_array().expect("levels") {
            let (p, q) = (dec(&l[0]), dec(&l[1]));
            if q.is_zero() {
                side.remove(&p);
            } else {
                side.insert(p, q);
            }
        }
    }
    fn from_snapshot(raw: &Value) -> Self {
        let mut b = RefBook::default();
        Self::set(&mut b.bids, &raw["bids"]);
        Self::set(&mut b.asks, &raw["asks"]);
        b
    }
    fn apply(&mut self, diff: &Value) {
        Self::set(&mut self.bids, &diff["b"]);
        Self::set(&mut self.asks, &diff["a"]);
    }
    fn levels(&self) -> Sides {
        (
            self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect(),
            self.asks.iter().map(|(p, q)| (*p, *q)).collect(),
        )
    }
}

fn levels_of(book: &OrderBook) -> Sides {
    let (b, a) = book.top(usize::MAX);
    let f = |v: Vec<Level>| v.into_iter().map(|l| (l.price, l.size)).collect();
    (f(b), f(a))
}

fn data(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).expect("json");
    v.get("data").cloned().unwrap_or(v)
}

fn snapshot(n: &mut BinanceNormalizer, sym: &str, body: &str) -> Output {
    let mut out = Output::new();
    let kind = RestKind::DepthSnapshot {
        native_symbol: sym.to_owned(),
    };
    n.on_rest(&kind, body, LOCAL, &mut out)
        .expect("snapshot accepted");
    out
}

/// Diff lines of one symbol, in file order.
fn diffs_of(lines: &[String], sym: &str) -> Vec<String> {
    let needle = format!(r#""s":"{sym}""#);
    lines
        .iter()
        .filter(|l| l.contains(&needle))
        .cloned()
        .collect()
}

fn rebuild_corpus(ex: &str, symbols: &[&str], expected_deltas: &[usize]) {
    let mut n = if ex == "binance-spot" { spot() } else { usdm() };
    let diff_lines = corpus_lines(ex, "depthUpdate.jsonl");
    for line in &diff_lines {
        let (r, out) = feed(&mut n, line);
        r.expect("diff handled");
        assert!(
            out.events.is_empty(),
            "nothing is emitted before a snapshot"
        );
    }
    let snaps = corpus_lines(ex, "rest_depth_snapshot.jsonl");
    for ((sym, snap), want) in symbols.iter().zip(&snaps).zip(expected_deltas) {
        let out = snapshot(&mut n, sym, snap);
        assert!(out.actions.is_empty(), "{sym}: the snapshot bridges");
        let MarketEvent::BookSnapshot(first) = &out.events[0] else {
            panic!("snapshot first")
        };
        let deltas: Vec<_> = out.events[1..]
            .iter()
            .map(|e| match e {
                MarketEvent::BookDelta(d) => d,
                other => panic!("{sym}: unexpected {other:?}"),
            })
            .collect();
        assert_eq!(deltas.len(), *want, "{sym}: applied diffs");
        // The chain seen by a consumer is gap-free and applies generically.
        let mut consumer = OrderBook::new();
        consumer.apply_snapshot(first);
        for d in &deltas {
            consumer.apply_delta(d).expect("prev_sequence chains");
        }
        let book = n.book(sym).expect("synced");
        assert_eq!(
            levels_of(&consumer),
            levels_of(book),
            "{sym}: consumer book"
        );
        assert!(!book.is_crossed());
        // Independent rebuild from the raw text.
        let raw_snap: Value = serde_json::from_str(snap).expect("json");
        let id = raw_snap["lastUpdateId"].as_u64().expect("id");
        let mut reference = RefBook::from_snapshot(&raw_snap);
        let mut applied = 0;
        for line in diffs_of(&diff_lines, sym) {
            let d = data(&line);
            let u = d["u"].as_u64().expect("u");
            let keep = if ex == "binance-spot" {
                u > id
            } else {
                u >= id
            };
            if keep {
                reference.apply(&d);
                applied += 1;
            }
        }
        assert_eq!(applied, *want, "{sym}: reference count");
        assert_eq!(
            reference.levels(),
            levels_of(book),
            "{sym}: independent rebuild"
        );
        assert_eq!(book.sequence(), deltas.last().map_or(id, |d| d.sequence));
    }
}

#[test]
fn spot_corpus_books_rebuild() {
    rebuild_corpus("binance-spot", &SPOT_SNAPSHOTS[..4], &[149, 9, 13, 1]);
}

#[test]
fn usdm_corpus_books_rebuild() {
    rebuild_corpus(
        "binance-usdm",
        &USDM_SNAPSHOTS[..8],
        &[252, 188, 132, 180, 14, 12, 9, 6],
    );
}

/// NKNUSDT synced from its snapshot with the first `live_from` diffs buffered, plus a synced
/// LRCBTC as the bystander.
fn synced_spot(live_from: usize) -> (BinanceNormalizer, Vec<String>) {
    let mut n = spot();
    let lines = corpus_lines("binance-spot", "depthUpdate.jsonl");
    let snaps = corpus_lines("binance-spot", "rest_depth_snapshot.jsonl");
    for l in diffs_of(&lines, "LRCBTC") {
        feed(&mut n, &l).0.expect("diff");
    }
    snapshot(&mut n, "LRCBTC", &snaps[2]);
    let nkn = diffs_of(&lines, "NKNUSDT");
    for l in &nkn[..live_from] {
        feed(&mut n, l).0.expect("diff");
    }
    snapshot(&mut n, "NKNUSDT", &snaps[0]);
    assert!(n.book("NKNUSDT").is_some() && n.book("LRCBTC").is_some());
    (n, nkn)
}

#[test]
fn spot_gap_resyncs_only_that_instrument() {
    let (mut n, nkn) = synced_spot(10);
    for l in &nkn[10..60] {
        let (_, out) = feed(&mut n, l);
        assert!(matches!(out.events.as_slice(), [MarketEvent::BookDelta(_)]));
    }
    let lrc_before = n.book("LRCBTC").cloned();
    let seq_before = n.book("NKNUSDT").map(OrderBook::sequence).expect("synced");
    // Line 60 is lost; line 61 arrives.
    let next = data(&nkn[61]);
    let (r, out) = feed(&mut n, &nkn[61]);
    assert_eq!(r.expect("handled"), FrameKind::Data);
    let received = next["U"].as_u64().expect("U");
    assert_eq!(
        statuses(&out),
        [
            &StatusKind::Gap {
                expected: seq_before + 1,
                received
            },
            &StatusKind::BookResync {
                reason: format!(
                    "sequence gap: expected {}, received {received}",
                    seq_before + 1
                )
            },
        ]
    );
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, MarketEvent::BookDelta(_))),
        "nothing applied across the gap"
    );
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "NKNUSDT".to_owned()
        }]
    );
    assert!(n.book("NKNUSDT").is_none());
    assert_eq!(
        n.book("LRCBTC").cloned(),
        lrc_before,
        "other books untouched"
    );
    // Later diffs buffer without another request.
    for l in &nkn[62..] {
        let (_, out) = feed(&mut n, l);
        assert!(out.events.is_empty() && out.actions.is_empty());
    }
    assert_eq!(n.buffered("NKNUSDT"), nkn.len() - 61);
    // A snapshot at the lost diff's `u` (built from the raw text) resyncs to the full book.
    let snaps = corpus_lines("binance-spot", "rest_depth_snapshot.jsonl");
    let raw_snap: Value = serde_json::from_str(&snaps[0]).expect("json");
    let mut reference = RefBook::from_snapshot(&raw_snap);
    for l in &nkn[1..=60] {
        reference.apply(&data(l));
    }
    let lost_u = data(&nkn[60])["u"].as_u64().expect("u");
    let (bids, asks) = reference.levels();
    let body = serde_json::json!({
        "lastUpdateId": lost_u,
        "bids": bids.iter().map(|(p, q)| [p.to_string(), q.to_string()]).collect::<Vec<_>>(),
        "asks": asks.iter().map(|(p, q)| [p.to_string(), q.to_string()]).collect::<Vec<_>>(),
    })
    .to_string();
    let out = snapshot(&mut n, "NKNUSDT", &body);
    assert!(statuses(&out).is_empty() && out.actions.is_empty());
    assert_eq!(out.events.len(), 1 + nkn.len() - 61);
    for l in &nkn[61..] {
        reference.apply(&data(l));
    }
    assert_eq!(
        reference.levels(),
        levels_of(n.book("NKNUSDT").expect("resynced"))
    );
}

#[test]
fn spot_snapshot_older_than_stream_is_refetched() {
    let mut n = spot();
    let nkn = diffs_of(
        &corpus_lines("binance-spot", "depthUpdate.jsonl"),
        "NKNUSDT",
    );
    for l in &nkn[5..] {
        feed(&mut n, l).0.expect("diff");
    }
    let snaps = corpus_lines("binance-spot", "rest_depth_snapshot.jsonl");
    let out = snapshot(&mut n, "NKNUSDT", &snaps[0]);
    assert!(out.events.is_empty());
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "NKNUSDT".to_owned()
        }]
    );
    assert!(n.book("NKNUSDT").is_none());
    assert_eq!(n.buffered("NKNUSDT"), nkn.len() - 5);
}

#[test]
fn spot_stale_replay_is_ignored_but_overlap_is_a_gap() {
    let (mut n, nkn) = synced_spot(10);
    for l in &nkn[10..20] {
        feed(&mut n, l).0.expect("diff");
    }
    // An old event entirely below the book: dropped silently.
    let (_, out) = feed(&mut n, &nkn[15]);
    assert!(out.events.is_empty() && out.actions.is_empty());
    assert!(n.book("NKNUSDT").is_some());
    // An event overlapping the book's id (U <= id < u) breaks `U == prev u + 1`.
    let seq = n.book("NKNUSDT").map(OrderBook::sequence).expect("synced");
    let frame = format!(
        r#"{{"e":"depthUpdate","E":1,"s":"NKNUSDT","U":{},"u":{},"b":[],"a":[]}}"#,
        seq,
        seq + 3
    );
    let (_, out) = feed(&mut n, &frame);
    assert_eq!(
        statuses(&out)[0],
        &StatusKind::Gap {
            expected: seq + 1,
            received: seq
        }
    );
    assert!(n.book("NKNUSDT").is_none());
}

#[test]
fn futures_pu_break_is_a_gap() {
    let mut n = usdm();
    let lines = corpus_lines("binance-usdm", "depthUpdate.jsonl");
    let sushi = diffs_of(&lines, "SUSHIUSDT");
    for l in &sushi[..20] {
        feed(&mut n, l).0.expect("diff");
    }
    let snaps = corpus_lines("binance-usdm", "rest_depth_snapshot.jsonl");
    snapshot(&mut n, "SUSHIUSDT", &snaps[0]);
    let seq = n
        .book("SUSHIUSDT")
        .map(OrderBook::sequence)
        .expect("synced");
    let next = &sushi[20];
    let pu = data(next)["pu"].as_u64().expect("pu");
    assert_eq!(pu, seq, "the corpus chains");
    let broken = next.replace(&format!(r#""pu":{pu}"#), &format!(r#""pu":{}"#, pu - 1));
    let before = n.book("SUSHIUSDT").cloned();
    let (_, out) = feed(&mut n, &broken);
    assert_eq!(
        statuses(&out)[0],
        &StatusKind::Gap {
            expected: seq,
            received: pu - 1
        }
    );
    assert!(matches!(statuses(&out)[1], StatusKind::BookResync { .. }));
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "SUSHIUSDT".to_owned()
        }]
    );
    assert!(before.is_some() && n.book("SUSHIUSDT").is_none());
}

#[test]
fn crossing_update_resyncs_instead_of_emitting() {
    let (mut n, _) = synced_spot(10);
    let book = n.book("NKNUSDT").expect("synced");
    let (seq, ask) = (book.sequence(), book.best_ask().expect("ask").price);
    let frame = format!(
        r#"{{"stream":"nknusdt@depth@100ms","data":{{"e":"depthUpdate","E":1,"s":"NKNUSDT","U":{},"u":{},"b":[["{ask}","5.0"]],"a":[]}}}}"#,
        seq + 1,
        seq + 1
    );
    let (_, out) = feed(&mut n, &frame);
    let st = statuses(&out);
    assert!(
        matches!(st.as_slice(), [StatusKind::BookResync { reason }] if reason.contains("cross")),
        "{st:?}"
    );
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, MarketEvent::BookDelta(_)))
    );
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "NKNUSDT".to_owned()
        }]
    );
    assert!(n.book("NKNUSDT").is_none());
    assert!(n.book("LRCBTC").is_some());
}

#[test]
fn buffer_is_bounded_and_snapshot_requested_once() {
    let mut n = spot().with_max_buffer(5);
    let nkn = diffs_of(
        &corpus_lines("binance-spot", "depthUpdate.jsonl"),
        "NKNUSDT",
    );
    let mut actions = Vec::new();
    let mut resyncs = 0;
    for l in &nkn[..7] {
        let (_, out) = feed(&mut n, l);
        actions.extend(out.actions.clone());
        resyncs += statuses(&out).len();
    }
    // One request at the first diff, one after the overflow at the sixth.
    assert_eq!(actions.len(), 2);
    assert_eq!(resyncs, 1);
    assert_eq!(n.buffered("NKNUSDT"), 2);
}

#[test]
fn disconnect_unsyncs_every_live_book() {
    let (mut n, nkn) = synced_spot(10);
    let blz = diffs_of(&corpus_lines("binance-spot", "depthUpdate.jsonl"), "BLZETH");
    feed(&mut n, &blz[0]).0.expect("buffered, not live");
    let mut out = Output::new();
    n.on_disconnect(LOCAL, &mut out);
    let st = statuses(&out);
    assert_eq!(st.len(), 2, "NKNUSDT and LRCBTC were live");
    assert!(
        st.iter()
            .all(|s| matches!(s, StatusKind::BookResync { .. }))
    );
    assert!(n.book("NKNUSDT").is_none() && n.book("LRCBTC").is_none());
    assert_eq!(n.buffered("BLZETH"), 0);
    // The next diff asks for a snapshot again.
    let (_, out) = feed(&mut n, &nkn[100]);
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "NKNUSDT".to_owned()
        }]
    );
}

#[test]
fn book_depth_is_respected() {
    let mut n = BinanceNormalizer::new(
        BinanceSpot::VENUE,
        super::map::<BinanceSpot>(SPOT_INFO),
        Some(5),
    );
    let nkn = diffs_of(
        &corpus_lines("binance-spot", "depthUpdate.jsonl"),
        "NKNUSDT",
    );
    for l in &nkn {
        feed(&mut n, l).0.expect("diff");
    }
    let snaps = corpus_lines("binance-spot", "rest_depth_snapshot.jsonl");
    let out = snapshot(&mut n, "NKNUSDT", &snaps[0]);
    let MarketEvent::BookSnapshot(s) = &out.events[0] else {
        panic!("snapshot")
    };
    assert_eq!((s.bids.len(), s.asks.len()), (5, 5));
    let book = n.book("NKNUSDT").expect("synced");
    assert!(book.bids().len() <= 5 && book.asks().len() <= 5);
    let mut reference = RefBook::from_snapshot(&serde_json::from_str(&snaps[0]).expect("json"));
    for l in &nkn[1..] {
        reference.apply(&data(l));
    }
    let (rb, ra) = reference.levels();
    assert_eq!(
        book.best_bid().map(|l| (l.price, l.size)),
        rb.first().copied()
    );
    assert_eq!(
        book.best_ask().map(|l| (l.price, l.size)),
        ra.first().copied()
    );
}
