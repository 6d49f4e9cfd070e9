//! Corpus tests: every line of every OKX corpus file is handled (events, control or `Err`),
//! values match the raw text, books rebuild exactly, and synthetic gaps resync.

mod books;
mod values;

use marketprism_core::model::{MarketEvent, StatusKind};

use super::{Okx, OkxNormalizer};
use crate::{
    Action, ExchangeError, FrameKind, InstrumentMap, Normalizer, Output, RestKind,
    testing::corpus_lines,
};

/// Local receive time used by the tests.
pub(super) const LOCAL_TS: i64 = 1_700_000_000_000_000_000;

/// Our fixture for corpus instruments missing from the 2022 instruments capture.
const EXTRA_INSTRUMENTS: &str = include_str!("../../../tests/fixtures/okx/instruments_extra.jsonl");

/// The instrument table: the corpus REST capture plus our fixture.
pub(super) fn instrument_map() -> InstrumentMap {
    let mut map = InstrumentMap::new();
    let mut counts = Vec::new();
    for body in corpus_lines("okx", "rest_instruments.jsonl")
        .iter()
        .map(String::as_str)
        .chain(EXTRA_INSTRUMENTS.lines().filter(|l| !l.trim().is_empty()))
    {
        let parsed = crate::Exchange::parse_instruments(&Okx, body).expect("instruments body");
        counts.push(parsed.len());
        map.extend(parsed);
    }
    // 513 spot, 166 swap, 104 futures, 346 + 350 options; fixture 2 + 1 + 10 + 10.
    assert_eq!(counts, [513, 166, 104, 346, 350, 2, 1, 10, 10]);
    map
}

pub(super) fn normalizer() -> OkxNormalizer {
    OkxNormalizer::new(instrument_map(), None)
}

/// The result of one line.
pub(super) struct Line {
    pub(super) result: Result<FrameKind, ExchangeError>,
    pub(super) events: Vec<MarketEvent>,
    pub(super) actions: Vec<Action>,
}

/// Feeds every line of `file` to one normalizer, in order.
pub(super) fn run_file(n: &mut OkxNormalizer, file: &str) -> Vec<Line> {
    corpus_lines("okx", file)
        .iter()
        .map(|l| feed(n, l))
        .collect()
}

pub(super) fn feed(n: &mut OkxNormalizer, frame: &str) -> Line {
    let mut out = Output::new();
    let result = n.on_frame(frame, LOCAL_TS, &mut out);
    Line {
        result,
        events: out.events,
        actions: out.actions,
    }
}

fn count(lines: &[Line], f: impl Fn(&MarketEvent) -> bool) -> usize {
    lines
        .iter()
        .flat_map(|l| &l.events)
        .filter(|e| f(e))
        .count()
}

fn all_data_with_events(lines: &[Line], kind: &str) {
    for (i, l) in lines.iter().enumerate() {
        assert!(
            matches!(l.result, Ok(FrameKind::Data)),
            "line {}: {:?}",
            i + 1,
            l.result
        );
        assert!(
            !l.events.is_empty() && l.events.iter().all(|e| e.kind() == kind),
            "line {}: {:?}",
            i + 1,
            l.events
        );
    }
}

#[test]
fn every_data_file_line_yields_its_events() {
    let mut n = normalizer();
    // (file, event kind, lines, events)
    let expected = [
        ("trades.jsonl", "trade", 142, 142),
        ("tickers.jsonl", "ticker", 101, 101),
        ("books5.jsonl", "book_snapshot", 7, 7),
        ("bbo_tbt.jsonl", "bbo", 8, 8),
        ("candles.jsonl", "kline", 7, 7),
        ("index_tickers.jsonl", "mark_price", 7, 7),
        ("mark_price.jsonl", "mark_price", 6, 6),
        ("open_interest.jsonl", "open_interest", 4, 4),
        ("liquidation_orders.jsonl", "liquidation", 5, 5),
    ];
    for (file, kind, lines, events) in expected {
        let got = run_file(&mut n, file);
        assert_eq!(got.len(), lines, "{file}");
        all_data_with_events(&got, kind);
        assert_eq!(count(&got, |_| true), events, "{file}");
        assert!(got.iter().all(|l| l.actions.is_empty()), "{file}");
    }
}

#[test]
fn funding_file_rejects_the_frame_without_funding_rate() {
    let mut n = normalizer();
    let got = run_file(&mut n, "funding_rate.jsonl");
    assert_eq!(got.len(), 6);
    for (i, l) in got.iter().enumerate() {
        if i == 4 {
            // SOS-USDT-SWAP 2021: only nextFundingRate.
            assert!(
                matches!(&l.result, Err(ExchangeError::Invalid { what: "funding-rate", detail, .. }) if detail.contains("fundingRate")),
                "{:?}",
                l.result
            );
            assert!(l.events.is_empty());
        } else {
            assert!(matches!(l.result, Ok(FrameKind::Data)));
            assert_eq!(l.events.len(), 1);
            assert_eq!(l.events[0].kind(), "funding_rate");
        }
    }
}

#[test]
fn book_files_apply_without_resync() {
    let mut n = normalizer();
    for (file, snapshots, deltas) in [("books.jsonl", 3, 287), ("books_l2_tbt.jsonl", 6, 227)] {
        let got = run_file(&mut n, file);
        assert!(got.iter().all(|l| matches!(l.result, Ok(FrameKind::Data))));
        assert!(
            got.iter().all(|l| l.actions.is_empty()),
            "{file}: no resync"
        );
        assert_eq!(count(&got, MarketEvent::is_status), 0, "{file}");
        assert_eq!(
            count(&got, |e| e.kind() == "book_snapshot"),
            snapshots,
            "{file}"
        );
        assert_eq!(count(&got, |e| e.kind() == "book_delta"), deltas, "{file}");
    }
}

#[test]
fn unverifiable_book_samples() {
    let mut n = normalizer();
    let got = run_file(&mut n, "books_l2_tbt_unverifiable.jsonl");
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|l| matches!(l.result, Ok(FrameKind::Data))));
    // Lines 1 and 3 are snapshots trimmed by the sample's author (2-3 levels) while keeping
    // the original checksum (computed 1922420218 vs -1971869027, 302131781 vs -44519492): the
    // checksum catches it, so each resyncs instead of emitting a wrong book. The updates (2, 4,
    // 5, 6) follow no snapshot of theirs and are dropped without events.
    let kinds: Vec<Vec<&str>> = got
        .iter()
        .map(|l| l.events.iter().map(|e| e.kind().as_str()).collect())
        .collect();
    assert_eq!(
        kinds,
        [
            vec!["status"],
            vec![],
            vec!["status"],
            vec![],
            vec![],
            vec![]
        ]
    );
    for (i, inst) in [(0, "BTC-DAI"), (2, "ADA-USDT-211224")] {
        assert!(
            matches!(&got[i].events[0], MarketEvent::Status(s) if matches!(&s.kind, StatusKind::BookResync { reason } if reason.contains("checksum")))
        );
        assert_eq!(
            got[i].actions,
            [Action::Resubscribe {
                native_symbol: inst.into(),
                channel: crate::Channel::Book
            }]
        );
    }
    assert!([1, 3, 4, 5].iter().all(|i| got[*i].actions.is_empty()));
}

#[test]
fn docs_book_examples_fail_their_illustrative_checksum() {
    let mut n = normalizer();
    let got = run_file(&mut n, "books_docs_examples.jsonl");
    assert!(got.iter().all(|l| matches!(l.result, Ok(FrameKind::Data))));
    // The docs checksum -855196043 does not match its own 8-level book: resync, no snapshot.
    assert!(matches!(
        &got[0].events[..],
        [MarketEvent::Status(s)] if matches!(&s.kind, StatusKind::BookResync { reason } if reason.contains("-855196043") && reason.contains("-2102840145"))
    ));
    assert_eq!(
        got[0].actions,
        [Action::Resubscribe {
            native_symbol: "BTC-USDT".into(),
            channel: crate::Channel::Book
        }]
    );
    // The update arrives while unsynced: dropped.
    assert!(got[1].events.is_empty() && got[1].actions.is_empty());
}

#[test]
fn control_files() {
    let mut n = normalizer();
    let errors = run_file(&mut n, "errors.jsonl");
    let codes: Vec<String> = errors
        .iter()
        .map(|l| match &l.result {
            Ok(FrameKind::ExchangeError { code, .. }) => code.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "60018",
            "60012",
            "60012",
            "60012",
            "60012",
            "channel-conn-count-error",
            "60009"
        ]
    );
    assert!(
        matches!(&errors[1].result, Ok(FrameKind::ExchangeError { message, .. }) if message.contains(r#""argss":[{ "channel" : "tickers""#))
    );

    let control = run_file(&mut n, "ws_control.jsonl");
    assert_eq!(control.len(), 92);
    let (mut acks, mut requests, mut shutdowns, mut other) = (0, 0, 0, 0);
    for l in &control {
        match &l.result {
            Ok(FrameKind::SubscriptionAck) => acks += 1,
            Err(ExchangeError::Unsupported { detail, .. })
                if detail.starts_with("client request") =>
            {
                requests += 1;
            }
            Ok(FrameKind::Shutdown) => {
                shutdowns += 1;
                assert!(
                    matches!(&l.actions[..], [Action::Rotate { reason }] if reason.contains("64008"))
                );
            }
            Ok(FrameKind::Control) => other += 1,
            r => panic!("{r:?}"),
        }
        assert!(l.events.is_empty());
    }
    assert_eq!((acks, requests, shutdowns, other), (75, 15, 1, 1));

    let keepalive = run_file(&mut n, "keepalive.txt");
    assert_eq!(keepalive.len(), 2);
    assert!(
        keepalive
            .iter()
            .all(|l| matches!(l.result, Ok(FrameKind::Heartbeat)))
    );
}

#[test]
fn rest_files() {
    let mut n = normalizer();
    let mut out = Output::new();
    // rest_books.jsonl: crypto-msg-parser's spot, inverse future, linear future, inverse swap,
    // linear swap and option samples (the lines do not name them), then the docs example.
    let symbols = [
        "BTC-USDT",
        "BTC-USD-220624",
        "BTC-USDT-220624",
        "BTC-USD-SWAP",
        "BTC-USDT-SWAP",
        "BTC-USD-220624-50000-C",
        "BTC-USDT",
    ];
    let books = corpus_lines("okx", "rest_books.jsonl");
    assert_eq!(books.len(), symbols.len());
    for (body, sym) in books.iter().zip(symbols) {
        let kind = RestKind::DepthSnapshot {
            native_symbol: sym.into(),
        };
        n.on_rest(&kind, body, LOCAL_TS, &mut out)
            .expect("rest books");
    }
    assert_eq!(out.events.len(), 7);
    assert!(out.events.iter().all(|e| e.kind() == "book_snapshot"));
    out.clear();

    let oi = corpus_lines("okx", "rest_open_interest.jsonl");
    assert_eq!(oi.len(), 6);
    for body in &oi {
        let kind = RestKind::OpenInterest {
            native_symbol: "BTC-USD-220520".into(),
        };
        n.on_rest(&kind, body, LOCAL_TS, &mut out).expect("rest oi");
    }
    assert_eq!(out.events.len(), 11);
    assert!(out.events.iter().all(|e| e.kind() == "open_interest"));
}

#[test]
fn malformed_and_unknown_frames_are_rejected_without_state_change() {
    let mut n = normalizer();
    let snapshot = &corpus_lines("okx", "books.jsonl")[0];
    assert_eq!(feed(&mut n, snapshot).events.len(), 1);
    for bad in [
        "",
        "{",
        "not json",
        r#"{"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[["x","1","0","1"]],"bids":[],"ts":"1"}]}"#,
        r#"{"arg":{"channel":"books","instId":"BTC-USD-220527"},"data":[{"asks":[],"bids":[],"ts":"1"}]}"#,
        r#"{"arg":{"channel":"trades","instId":"NOPE-USDT"},"data":[{"instId":"NOPE-USDT","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}]}"#,
        r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"},{"instId":"NOPE-USDT","tradeId":"2","px":"1","sz":"1","side":"buy","ts":"1"}]}"#,
        r#"{"arg":{"channel":"opt-summary","instFamily":"BTC-USD"},"data":[]}"#,
        r#"{"event":"mystery"}"#,
    ] {
        let l = feed(&mut n, bad);
        assert!(l.result.is_err(), "{bad}: {:?}", l.result);
        assert!(l.events.is_empty() && l.actions.is_empty(), "{bad}");
    }
    assert!(matches!(
        feed(&mut n, r#"{"arg":{"channel":"trades","instId":"NOPE-USDT"},"data":[{"instId":"NOPE-USDT","tradeId":"1","px":"1","sz":"1","side":"buy","ts":"1"}]}"#).result,
        Err(ExchangeError::UnknownInstrument { native_symbol, .. }) if native_symbol == "NOPE-USDT"
    ));
    // The book survived: the next real update applies.
    let update = &corpus_lines("okx", "books.jsonl")[3];
    assert!(update.contains("BTC-USD-220527"));
    let l = feed(&mut n, update);
    assert!(
        matches!(&l.events[..], [MarketEvent::BookDelta(_)]),
        "{:?}",
        l.events
    );
}

/// Acks and errors whose first key is `arg` (key order is not fixed) are control frames, not
/// malformed pushes.
#[test]
fn control_frames_with_arg_first() {
    let mut n = normalizer();
    let ack = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"9e3779b9","event":"subscribe","id":"7"}"#;
    let line = feed(&mut n, ack);
    assert_eq!(line.result.expect("ack"), FrameKind::SubscriptionAck);
    assert!(line.events.is_empty() && line.actions.is_empty());
    // A real push without `data` is still rejected.
    let broken = r#"{"arg":{"channel":"trades","instId":"BTC-USDT"}}"#;
    assert!(matches!(
        feed(&mut n, broken).result,
        Err(ExchangeError::Malformed { .. })
    ));
}
