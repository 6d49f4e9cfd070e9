//! Book sequences: corpus rebuilds checked three ways, synthetic gaps, resets, keep-alives,
//! checksum mismatches and crossed books.

use std::collections::{BTreeMap, HashMap};

use marketprism_core::{
    book::OrderBook,
    model::{Level, MarketEvent, StatusKind},
};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{LOCAL_TS, feed, normalizer};
use crate::{
    Action, Channel, FrameKind, Normalizer, Output,
    testing::{corpus_lines, okx_docs_checksum},
};

/// One side kept with OKX's original text, for an independent rebuild and checksum.
type Side = BTreeMap<Decimal, (String, String)>;

fn apply_raw(side: &mut Side, levels: &Value) {
    for l in levels.as_array().expect("levels") {
        let px = l[0].as_str().expect("px").to_owned();
        let sz = l[1].as_str().expect("sz").to_owned();
        let key: Decimal = px.parse().expect("px decimal");
        if sz.parse::<Decimal>().expect("sz decimal").is_zero() {
            side.remove(&key);
        } else {
            side.insert(key, (px, sz));
        }
    }
}

/// The docs' checksum over the original strings.
fn raw_checksum(bids: &Side, asks: &Side) -> i32 {
    let text = |(px, sz): &(String, String)| format!("{px}:{sz}");
    okx_docs_checksum(bids.values().rev().map(text), asks.values().map(text))
}

fn levels(side: &Side, best_first_desc: bool) -> Vec<Level> {
    let it: Box<dyn Iterator<Item = (&Decimal, &(String, String))>> = if best_first_desc {
        Box::new(side.iter().rev())
    } else {
        Box::new(side.iter())
    };
    it.map(|(p, (_, s))| Level::new(*p, s.parse().expect("sz")))
        .collect()
}

#[test]
fn corpus_books_rebuild_three_ways() {
    for file in ["books.jsonl", "books_l2_tbt.jsonl"] {
        let mut n = normalizer();
        let mut raw: HashMap<String, (Side, Side)> = HashMap::new();
        let mut consumer: HashMap<String, OrderBook> = HashMap::new();
        let mut verified = 0;
        for line in corpus_lines("okx", file) {
            let v: Value = serde_json::from_str(&line).expect("json");
            let inst = v["arg"]["instId"].as_str().expect("instId").to_owned();
            let d = &v["data"][0];
            let (bids, asks) = raw.entry(inst.clone()).or_default();
            if v["action"] == "snapshot" {
                bids.clear();
                asks.clear();
            }
            apply_raw(bids, &d["bids"]);
            apply_raw(asks, &d["asks"]);
            let expected = d["checksum"].as_i64().expect("checksum");
            assert_eq!(
                i64::from(raw_checksum(bids, asks)),
                expected,
                "{file}: {line}"
            );
            verified += 1;

            let l = feed(&mut n, &line);
            assert!(matches!(l.result, Ok(FrameKind::Data)));
            for e in l.events {
                let sym = e.symbol().expect("symbol").as_str().to_owned();
                let book = consumer.entry(sym).or_default();
                match &e {
                    MarketEvent::BookSnapshot(s) => book.apply_snapshot(s),
                    MarketEvent::BookDelta(d) => {
                        book.apply_delta(d).expect("prev_sequence chains");
                        assert_eq!(d.exchange_ts, v_ts(&v) * 1_000_000);
                    }
                    other => panic!("{other:?}"),
                }
                assert!(!book.is_crossed());
            }
        }
        assert_eq!(verified, corpus_lines("okx", file).len());
        for (inst, (bids, asks)) in &raw {
            let ours = n.synced_book(inst).expect("synced");
            let (ob, oa) = ours.top(usize::MAX);
            assert_eq!(ob, levels(bids, true), "{file} {inst} bids");
            assert_eq!(oa, levels(asks, false), "{file} {inst} asks");
            let sym = n
                .instruments()
                .by_native(inst)
                .expect("inst")
                .symbol
                .as_str()
                .to_owned();
            assert_eq!(
                consumer[&sym].top(usize::MAX),
                (ob, oa),
                "{file} {inst} consumer"
            );
        }
    }
}

fn v_ts(v: &Value) -> i64 {
    v["data"][0]["ts"]
        .as_str()
        .expect("ts")
        .parse()
        .expect("ts int")
}

/// A `books` frame with `seqId`s and checksum 0 (absent).
fn frame(
    inst: &str,
    action: &str,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
    prev: i64,
    seq: i64,
) -> String {
    let lv = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(p, s)| format!(r#"["{p}","{s}","0","1"]"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"arg":{{"channel":"books","instId":"{inst}"}},"action":"{action}","data":[{{"asks":[{}],"bids":[{}],"ts":"1700000000000","checksum":0,"prevSeqId":{prev},"seqId":{seq}}}]}}"#,
        lv(asks),
        lv(bids)
    )
}

fn resubscribe(inst: &str) -> Action {
    Action::Resubscribe {
        native_symbol: inst.into(),
        channel: Channel::Book,
    }
}

fn delta_seqs(events: &[MarketEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .map(|e| match e {
            MarketEvent::BookDelta(d) => (d.prev_sequence, d.sequence),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn seq_chain_keepalive_reset_and_gap() {
    let mut n = normalizer();
    let (a, b) = ("BTC-USDT", "ETH-USDT");
    let snap = feed(
        &mut n,
        &frame(a, "snapshot", &[("100", "1")], &[("101", "1")], -1, 10),
    );
    assert!(matches!(&snap.events[..], [MarketEvent::BookSnapshot(s)] if s.sequence == 10));
    feed(
        &mut n,
        &frame(b, "snapshot", &[("10", "1")], &[("11", "1")], -1, 500),
    );
    let b_before = n.synced_book(b).cloned().expect("b synced");

    // Docs chain: update 10 → 15, keep-alive 15 → 15, reset 15 → 3, update 3 → 5.
    let up = feed(&mut n, &frame(a, "update", &[("100", "2")], &[], 10, 15));
    assert_eq!(delta_seqs(&up.events), [(10, 15)]);
    let ka = feed(&mut n, &frame(a, "update", &[], &[], 15, 15));
    assert!(ka.events.is_empty() && ka.actions.is_empty());
    let reset = feed(
        &mut n,
        &frame(a, "update", &[], &[("101", "0"), ("102", "4")], 15, 3),
    );
    assert_eq!(delta_seqs(&reset.events), [(15, 3)]);
    let up = feed(&mut n, &frame(a, "update", &[("99", "1")], &[], 3, 5));
    assert_eq!(delta_seqs(&up.events), [(3, 5)]);
    let before_gap = n.synced_book(a).cloned().expect("a synced");
    assert_eq!(before_gap.sequence(), 5);

    // A lost message: prevSeqId 7 after seqId 5.
    let gap = feed(&mut n, &frame(a, "update", &[("98", "9")], &[], 7, 9));
    assert!(matches!(gap.result, Ok(FrameKind::Data)));
    match &gap.events[..] {
        [MarketEvent::Status(g), MarketEvent::Status(r)] => {
            assert_eq!(
                g.kind,
                StatusKind::Gap {
                    expected: 5,
                    received: 7
                }
            );
            assert!(matches!(&r.kind, StatusKind::BookResync { reason } if reason.contains("gap")));
            assert_eq!(g.symbol.as_ref().map(|s| s.as_str()), Some("BTC-USDT"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(gap.actions, [resubscribe(a)]);
    assert!(n.synced_book(a).is_none(), "not applied across the gap");
    // Later updates of the old subscription are dropped until the new snapshot.
    let after = feed(&mut n, &frame(a, "update", &[("98", "1")], &[], 9, 10));
    assert!(after.events.is_empty() && after.actions.is_empty());
    // The other instrument is untouched and keeps chaining.
    assert_eq!(n.synced_book(b), Some(&b_before));
    let bu = feed(&mut n, &frame(b, "update", &[("10", "3")], &[], 500, 501));
    assert_eq!(delta_seqs(&bu.events), [(500, 501)]);
    // Resubscribed: a fresh snapshot syncs again.
    let snap = feed(
        &mut n,
        &frame(a, "snapshot", &[("100", "1")], &[("101", "1")], -1, 40),
    );
    assert!(matches!(&snap.events[..], [MarketEvent::BookSnapshot(s)] if s.sequence == 40));
    assert!(n.synced_book(a).is_some());
    // A keep-alive whose ids do not chain is a gap too.
    let bad_ka = feed(&mut n, &frame(a, "update", &[], &[], 41, 41));
    assert!(
        matches!(&bad_ka.events[0], MarketEvent::Status(s) if s.kind == StatusKind::Gap { expected: 40, received: 41 })
    );
}

#[test]
fn checksum_mismatch_on_corpus_update_resyncs() {
    let mut n = normalizer();
    let lines = corpus_lines("okx", "books.jsonl");
    feed(&mut n, &lines[0]);
    let before = n.synced_book("BTC-USD-220527").cloned().expect("synced");
    let v: Value = serde_json::from_str(&lines[3]).expect("json");
    let good = v["data"][0]["checksum"].as_i64().expect("checksum");
    let tampered = lines[3].replace(
        &format!(r#""checksum":{good}"#),
        &format!(r#""checksum":{}"#, good + 1),
    );
    assert_ne!(tampered, lines[3]);
    let l = feed(&mut n, &tampered);
    assert!(
        matches!(&l.events[..], [MarketEvent::Status(s)] if matches!(&s.kind, StatusKind::BookResync { reason } if reason.contains("checksum")))
    );
    assert_eq!(l.actions, [resubscribe("BTC-USD-220527")]);
    assert!(n.synced_book("BTC-USD-220527").is_none());
    // The untampered update would have applied to the same book.
    let mut m = normalizer();
    feed(&mut m, &lines[0]);
    assert_eq!(m.synced_book("BTC-USD-220527"), Some(&before));
    assert!(matches!(
        &feed(&mut m, &lines[3]).events[..],
        [MarketEvent::BookDelta(_)]
    ));
    // Dropping a corpus update breaks the next checksum: the stream without seqId is still
    // protected.
    let mut k = normalizer();
    let ids: Vec<usize> = (0..lines.len())
        .filter(|i| lines[*i].contains("BTC-USD-220527"))
        .collect();
    feed(&mut k, &lines[ids[0]]);
    let skipped = feed(&mut k, &lines[ids[2]]);
    assert!(
        skipped.events.iter().any(|e| e.is_status()),
        "{:?}",
        skipped.events
    );
    assert_eq!(skipped.actions, [resubscribe("BTC-USD-220527")]);
}

#[test]
fn crossed_books_resync_instead_of_emitting() {
    let mut n = normalizer();
    let a = "BTC-USDT";
    feed(
        &mut n,
        &frame(a, "snapshot", &[("100", "1")], &[("101", "1")], -1, 1),
    );
    let l = feed(&mut n, &frame(a, "update", &[("101.5", "1")], &[], 1, 2));
    assert!(
        matches!(&l.events[..], [MarketEvent::Status(s)] if matches!(&s.kind, StatusKind::BookResync { reason } if reason.contains("cross")))
    );
    assert_eq!(l.actions, [resubscribe(a)]);
    assert!(n.synced_book(a).is_none());
    let l = feed(
        &mut n,
        &frame(a, "snapshot", &[("102", "1")], &[("101", "1")], -1, 3),
    );
    assert!(matches!(&l.events[..], [MarketEvent::Status(_)]));
    assert_eq!(l.actions, [resubscribe(a)]);
}

#[test]
fn disconnect_unsyncs_every_live_book() {
    let mut n = normalizer();
    feed(
        &mut n,
        &frame(
            "BTC-USDT",
            "snapshot",
            &[("100", "1")],
            &[("101", "1")],
            -1,
            1,
        ),
    );
    feed(
        &mut n,
        &frame(
            "ETH-USDT",
            "snapshot",
            &[("10", "1")],
            &[("11", "1")],
            -1,
            1,
        ),
    );
    let mut out = Output::new();
    n.on_disconnect(LOCAL_TS, &mut out);
    assert_eq!(out.events.len(), 2);
    assert!(out.events.iter().all(|e| matches!(e, MarketEvent::Status(s) if matches!(&s.kind, StatusKind::BookResync { reason } if reason == "disconnected"))));
    assert!(out.actions.is_empty());
    assert!(n.synced_book("BTC-USDT").is_none());
    out.clear();
    n.on_disconnect(LOCAL_TS, &mut out);
    assert!(out.events.is_empty(), "only live books report");
}

#[test]
fn depth_limits_emitted_snapshots_not_the_kept_book() {
    let mut n = crate::okx::OkxNormalizer::new(super::instrument_map(), Some(3));
    let line = &corpus_lines("okx", "books.jsonl")[0];
    let l = feed(&mut n, line);
    match &l.events[..] {
        [MarketEvent::BookSnapshot(s)] => {
            assert_eq!((s.bids.len(), s.asks.len()), (3, 3));
            assert_eq!(s.bids[0].price.to_string(), "30233.6");
            assert_eq!(s.asks[0].price.to_string(), "30238.8");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        n.synced_book("BTC-USD-220527")
            .expect("synced")
            .bids()
            .len()
            > 25
    );
}
