//! Book sync: corpus chains rebuild the exact book; gaps, changes before a snapshot, crossed
//! books and disconnects resync only the instrument concerned.

use std::collections::{BTreeMap, HashMap};

use marketprism_core::{
    book::OrderBook,
    model::{Level, MarketEvent, StatusKind},
};
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::{LOCAL_TS, count, count_status, d, feed, gap_of, instruments, normalizer};
use crate::{
    Action, Channel, ExchangeError, FrameKind, Normalizer, Output, deribit::DeribitNormalizer,
    testing::corpus_lines,
};

/// An independent rebuild from the raw file text: price → size maps per side.
#[derive(Default)]
struct RawBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

#[derive(serde::Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    instrument_name: &'a str,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a RawValue, &'a RawValue)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a RawValue, &'a RawValue)>,
}

#[derive(serde::Deserialize)]
struct RawParams<'a> {
    #[serde(borrow)]
    data: RawData<'a>,
}

#[derive(serde::Deserialize)]
struct RawFrame<'a> {
    #[serde(borrow)]
    params: RawParams<'a>,
}

fn rebuild_raw(lines: &[String]) -> HashMap<String, RawBook> {
    let mut books: HashMap<String, RawBook> = HashMap::new();
    for line in lines {
        let f: RawFrame<'_> = serde_json::from_str(line).expect("book line");
        let data = f.params.data;
        let book = books.entry(data.instrument_name.to_owned()).or_default();
        if data.kind == Some("snapshot") {
            *book = RawBook::default();
        }
        for (side, levels) in [(&mut book.bids, &data.bids), (&mut book.asks, &data.asks)] {
            for (action, price, amount) in levels {
                let price = d(price.get());
                match *action {
                    "delete" => {
                        side.remove(&price);
                    }
                    _ => {
                        side.insert(price, d(amount.get()));
                    }
                }
            }
        }
    }
    books
}

fn levels_of(book: &OrderBook) -> (Vec<Level>, Vec<Level>) {
    book.top(usize::MAX)
}

/// The two cryptofeed recordings (lines 1–102) chain perfectly: 20 books, no gap, and each
/// final book equals (a) an independent rebuild from the raw levels and (b) a downstream
/// book fed only the emitted events through the generic `apply_delta` check.
#[test]
fn corpus_chains_rebuild_exact_books() {
    let lines: Vec<String> = corpus_lines("deribit", "book.jsonl")
        .into_iter()
        .take(102)
        .collect();
    let mut n = normalizer();
    let steps = feed(&mut n, lines.iter().map(String::as_str));
    assert_eq!(count_status(&steps, "gap"), 0);
    assert_eq!(count_status(&steps, "book_resync"), 0);
    assert_eq!(count(&steps, "book_snapshot"), 20);
    assert_eq!(count(&steps, "book_delta"), 82);

    let mut downstream: HashMap<String, OrderBook> = HashMap::new();
    for e in steps.iter().flat_map(|s| &s.events) {
        match e {
            MarketEvent::BookSnapshot(s) => {
                downstream
                    .entry(s.symbol.to_string())
                    .or_default()
                    .apply_snapshot(s);
            }
            MarketEvent::BookDelta(delta) => {
                let book = downstream
                    .get_mut(delta.symbol.as_str())
                    .expect("snapshot first");
                book.apply_delta(delta).expect("prev_sequence chains");
                assert!(!book.is_crossed());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    let raw = rebuild_raw(&lines);
    assert_eq!(raw.len(), 20);
    let map = instruments();
    for (name, expected) in &raw {
        let book = n.book(name).expect("live book");
        let (bids, asks) = levels_of(book);
        let want_bids: Vec<Level> = expected
            .bids
            .iter()
            .rev()
            .map(|(p, s)| Level::new(*p, *s))
            .collect();
        let want_asks: Vec<Level> = expected
            .asks
            .iter()
            .map(|(p, s)| Level::new(*p, *s))
            .collect();
        assert_eq!(bids, want_bids, "{name} bids");
        assert_eq!(asks, want_asks, "{name} asks");
        let symbol = map.by_native(name).expect("instrument").symbol.to_string();
        assert_eq!(
            levels_of(&downstream[&symbol]),
            (bids, asks),
            "{name} downstream"
        );
    }
}

fn book_frame(
    kind: &str,
    inst: &str,
    prev: Option<u64>,
    id: u64,
    bids: &str,
    asks: &str,
) -> String {
    let prev = prev
        .map(|p| format!(r#""prev_change_id":{p},"#))
        .unwrap_or_default();
    format!(
        r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"book.{inst}.100ms","data":{{"type":"{kind}","timestamp":1622627433440,{prev}"instrument_name":"{inst}","change_id":{id},"bids":{bids},"asks":{asks}}}}}}}"#
    )
}

fn snapshot(inst: &str, id: u64) -> String {
    book_frame(
        "snapshot",
        inst,
        None,
        id,
        r#"[["new",100.0,1.0],["new",99.5,2.0]]"#,
        r#"[["new",101.0,3.0],["new",101.5,4.0]]"#,
    )
}

fn change(inst: &str, prev: u64, id: u64, bids: &str, asks: &str) -> String {
    book_frame("change", inst, Some(prev), id, bids, asks)
}

fn live_pair() -> DeribitNormalizer {
    let mut n = normalizer();
    let steps = feed(
        &mut n,
        [
            snapshot("BTC-PERPETUAL", 10).as_str(),
            snapshot("ETH-PERPETUAL", 50).as_str(),
        ],
    );
    assert_eq!(count(&steps, "book_snapshot"), 2);
    n
}

fn resubscribe(native: &str) -> Action {
    Action::Resubscribe {
        native_symbol: native.to_owned(),
        channel: Channel::Book,
    }
}

#[test]
fn gap_resyncs_only_that_instrument() {
    let mut n = live_pair();
    let eth_before = levels_of(n.book("ETH-PERPETUAL").expect("eth"));
    let btc_before = levels_of(n.book("BTC-PERPETUAL").expect("btc"));

    // prev_change_id 11 instead of 10: one message was missed.
    let gap = change("BTC-PERPETUAL", 11, 12, r#"[["change",100.0,9.0]]"#, "[]");
    let steps = feed(&mut n, [gap.as_str()]);
    assert_eq!(steps[0].result.as_ref().ok(), Some(&FrameKind::Data));
    assert_eq!(steps[0].events.len(), 2);
    assert_eq!(gap_of(&steps[0].events[0]), Some((10, 11)));
    assert!(matches!(
        &steps[0].events[1],
        MarketEvent::Status(s) if matches!(&s.kind, StatusKind::BookResync { reason } if reason == "sequence gap")
            && s.symbol.as_ref().map(|s| s.as_str()) == Some("BTC-USD-PERP")
    ));
    assert_eq!(steps[0].actions, [resubscribe("BTC-PERPETUAL")]);
    // Nothing applied across the gap, the book is no longer served, the other is untouched.
    assert!(n.book("BTC-PERPETUAL").is_none());
    let (stale, live) = n.book_state("BTC-PERPETUAL").expect("state");
    assert!(!live && stale.bids().is_empty() && stale.asks().is_empty());
    assert_ne!(btc_before.0.first().map(|l| l.size), Some(d("9")));
    assert_eq!(levels_of(n.book("ETH-PERPETUAL").expect("eth")), eth_before);

    // Late changes of the old subscription are dropped quietly; the other book keeps going.
    let steps = feed(
        &mut n,
        [
            change("BTC-PERPETUAL", 12, 13, r#"[["new",99.0,1.0]]"#, "[]").as_str(),
            change("ETH-PERPETUAL", 50, 51, "[]", r#"[["delete",101.5,0.0]]"#).as_str(),
        ],
    );
    assert!(steps[0].events.is_empty() && steps[0].actions.is_empty());
    let [MarketEvent::BookDelta(delta)] = steps[1].events.as_slice() else {
        panic!("delta")
    };
    assert_eq!((delta.prev_sequence, delta.sequence), (50, 51));
    assert_eq!(delta.asks, [Level::new(d("101.5"), Decimal::ZERO)]);

    // The resubscription's snapshot brings the book back.
    let steps = feed(&mut n, [snapshot("BTC-PERPETUAL", 20).as_str()]);
    assert_eq!(count(&steps, "book_snapshot"), 1);
    assert_eq!(n.book("BTC-PERPETUAL").map(OrderBook::sequence), Some(20));
}

#[test]
fn change_before_snapshot_requests_one() {
    let mut n = normalizer();
    let c = change("BTC-PERPETUAL", 5, 6, r#"[["new",100.0,1.0]]"#, "[]");
    let steps = feed(&mut n, [c.as_str(), c.as_str()]);
    assert_eq!(count_status(&steps, "gap"), 0);
    assert_eq!(count_status(&steps[..1], "book_resync"), 1);
    assert_eq!(steps[0].actions, [resubscribe("BTC-PERPETUAL")]);
    // Only one request while waiting.
    assert!(steps[1].events.is_empty() && steps[1].actions.is_empty());
    assert!(n.book("BTC-PERPETUAL").is_none());
}

#[test]
fn crossing_change_resyncs_instead_of_emitting() {
    let mut n = live_pair();
    // A bid at 102 crosses the best ask 101.
    let cross = change("BTC-PERPETUAL", 10, 11, r#"[["new",102.0,1.0]]"#, "[]");
    let steps = feed(&mut n, [cross.as_str()]);
    assert_eq!(count(&steps, "book_delta"), 0);
    assert!(matches!(
        steps[0].events.as_slice(),
        [MarketEvent::Status(s)] if matches!(&s.kind, StatusKind::BookResync { reason } if reason == "crossed book")
    ));
    assert_eq!(steps[0].actions, [resubscribe("BTC-PERPETUAL")]);
    assert!(n.book("BTC-PERPETUAL").is_none());
    assert!(n.book("ETH-PERPETUAL").is_some());

    // A crossed snapshot is not emitted either.
    let crossed = book_frame(
        "snapshot",
        "BTC-PERPETUAL",
        None,
        30,
        r#"[["new",105.0,1.0]]"#,
        r#"[["new",104.0,1.0]]"#,
    );
    let steps = feed(&mut n, [crossed.as_str()]);
    assert_eq!(count(&steps, "book_snapshot"), 0);
    assert_eq!(count_status(&steps, "book_resync"), 1);
    assert_eq!(steps[0].actions, [resubscribe("BTC-PERPETUAL")]);
}

#[test]
fn corpus_gap_line_edited() {
    // book.jsonl lines 45 and 46: consecutive changes of BTC-24SEP21-8000-P. Break the chain
    // of line 46 and check nothing of it is applied.
    let lines: Vec<String> = corpus_lines("deribit", "book.jsonl")
        .into_iter()
        .take(46)
        .collect();
    let mut n = normalizer();
    feed(&mut n, lines[..45].iter().map(String::as_str));
    let before = levels_of(n.book("BTC-24SEP21-8000-P").expect("live"));
    let broken = lines[45].replace(
        r#""prev_change_id":33195898165"#,
        r#""prev_change_id":33195898164"#,
    );
    assert_ne!(broken, lines[45]);
    let steps = feed(&mut n, [broken.as_str()]);
    assert_eq!(
        gap_of(&steps[0].events[0]),
        Some((33_195_898_165, 33_195_898_164))
    );
    assert_eq!(steps[0].actions, [resubscribe("BTC-24SEP21-8000-P")]);
    assert!(n.book("BTC-24SEP21-8000-P").is_none());
    assert!(
        !before.1.is_empty(),
        "the ask 0.001 the lost change would delete"
    );
    // The other 9 books of the recording are still live.
    let live = [
        "ETH-30JUL21-2800-C",
        "BTC-31DEC21-34000-P",
        "ETH-23JUL21-2300-C",
    ];
    assert!(live.iter().all(|i| n.book(i).is_some()));
}

#[test]
fn malformed_or_unknown_changes_nothing() {
    let mut n = live_pair();
    let before = levels_of(n.book("BTC-PERPETUAL").expect("btc"));
    let mut out = Output::new();
    let truncated = change("BTC-PERPETUAL", 10, 11, r#"[["new",99.0,1.0]]"#, "[]");
    let truncated = &truncated[..truncated.len() - 10];
    assert!(matches!(
        n.on_frame(truncated, LOCAL_TS, &mut out),
        Err(ExchangeError::Malformed { .. })
    ));
    let bad_action = change("BTC-PERPETUAL", 10, 11, r#"[["move",99.0,1.0]]"#, "[]");
    assert!(n.on_frame(&bad_action, LOCAL_TS, &mut out).is_err());
    let unknown = snapshot("XRP-PERPETUAL", 1);
    assert!(matches!(
        n.on_frame(&unknown, LOCAL_TS, &mut out),
        Err(ExchangeError::UnknownInstrument { .. })
    ));
    assert!(out.events.is_empty() && out.actions.is_empty());
    assert_eq!(levels_of(n.book("BTC-PERPETUAL").expect("btc")), before);
    // The chain continues from where it was.
    let ok = change("BTC-PERPETUAL", 10, 11, r#"[["new",99.0,1.0]]"#, "[]");
    assert_eq!(
        n.on_frame(&ok, LOCAL_TS, &mut out).ok(),
        Some(FrameKind::Data)
    );
    assert_eq!(out.events.len(), 1);
}

#[test]
fn disconnect_resyncs_every_live_book() {
    let mut n = live_pair();
    let mut out = Output::new();
    n.on_disconnect(LOCAL_TS, &mut out);
    let reasons: Vec<&str> = out
        .events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Status(s) => match &s.kind {
                StatusKind::BookResync { reason } => Some(reason.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["disconnected", "disconnected"]);
    assert!(
        out.actions.is_empty(),
        "the reconnect resubscribes everything"
    );
    assert!(n.book("BTC-PERPETUAL").is_none() && n.book("ETH-PERPETUAL").is_none());
    // Changes before the new snapshot are dropped; the snapshot restores the book.
    let steps = feed(
        &mut n,
        [
            change("ETH-PERPETUAL", 50, 51, "[]", "[]").as_str(),
            snapshot("ETH-PERPETUAL", 60).as_str(),
            change("ETH-PERPETUAL", 60, 61, r#"[["change",100.0,5.0]]"#, "[]").as_str(),
        ],
    );
    assert!(steps[0].events.is_empty());
    assert_eq!(count(&steps, "book_snapshot"), 1);
    assert_eq!(count(&steps, "book_delta"), 1);
    assert_eq!(
        n.book("ETH-PERPETUAL")
            .and_then(|b| b.best_bid())
            .map(|l| l.size),
        Some(d("5"))
    );
}

#[test]
fn depth_limit_is_respected() {
    let mut n = DeribitNormalizer::new(instruments(), Some(1));
    let steps = feed(&mut n, [snapshot("BTC-PERPETUAL", 10).as_str()]);
    let [MarketEvent::BookSnapshot(s)] = steps[0].events.as_slice() else {
        panic!("snapshot")
    };
    assert_eq!(s.bids, [Level::new(d("100"), d("1"))]);
    assert_eq!(s.asks, [Level::new(d("101"), d("3"))]);
    assert_eq!(n.book("BTC-PERPETUAL").map(|b| b.bids().len()), Some(1));
}

/// Frames the fast scanner declines (an extra field here) take the serde path, under the
/// same chain rules.
#[test]
fn serde_path_keeps_the_same_rules() {
    let with_extra =
        |f: String| f.replace(r#""timestamp":"#, r#""extra":[1,{"a":null}],"timestamp":"#);
    let frames = [
        with_extra(snapshot("BTC-PERPETUAL", 10)),
        with_extra(change(
            "BTC-PERPETUAL",
            10,
            11,
            r#"[["change",100.0,7.0]]"#,
            "[]",
        )),
        with_extra(change(
            "BTC-PERPETUAL",
            12,
            13,
            r#"[["change",100.0,8.0]]"#,
            "[]",
        )),
    ];
    assert!(
        frames
            .iter()
            .all(|f| crate::deribit::wire::fast::scan(f).is_none())
    );
    let mut n = normalizer();
    let steps = feed(&mut n, frames.iter().map(String::as_str));
    assert_eq!(count(&steps, "book_snapshot"), 1);
    let [MarketEvent::BookDelta(delta)] = steps[1].events.as_slice() else {
        panic!("delta")
    };
    assert_eq!((delta.prev_sequence, delta.sequence), (10, 11));
    assert_eq!(delta.bids, [Level::new(d("100.0"), d("7.0"))]);
    assert_eq!(gap_of(&steps[2].events[0]), Some((11, 12)));
    assert_eq!(steps[2].actions, [resubscribe("BTC-PERPETUAL")]);
}
