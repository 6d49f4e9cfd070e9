//! (1) Every line of every corpus file is handled — events, a control frame, or an `Err` —
//! with the expected category per file, and the counts asserted.

use marketprism_core::model::MarketEvent;

use super::*;
use crate::{RestKind, testing::corpus_lines};

type Counts<'a> = &'a [(&'a str, usize)];

fn expect(
    ex: &str,
    file: &str,
    events: Counts<'_>,
    frames: Counts<'_>,
    errors: Counts<'_>,
    actions: usize,
) {
    let mut n = if ex == "binance-spot" { spot() } else { usdm() };
    let lines = corpus_lines(ex, &format!("{file}.jsonl"));
    let got = tally(&mut n, &lines);
    let owned = |c: Counts<'_>| c.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let want = Tally {
        events: owned(events),
        frames: owned(frames),
        errors: owned(errors),
        actions,
    };
    assert_eq!(got, want, "{ex}/{file}");
    // Every line is accounted for exactly once.
    let handled: usize = got.frames.values().sum::<usize>() + got.errors.values().sum::<usize>();
    assert_eq!(handled, lines.len(), "{ex}/{file}");
}

#[test]
fn spot_ws_files() {
    let ex = "binance-spot";
    expect(ex, "trade", &[("trade", 4)], &[("data", 4)], &[], 0);
    expect(ex, "aggTrade", &[("trade", 56)], &[("data", 56)], &[], 0);
    expect(ex, "bookTicker", &[("bbo", 207)], &[("data", 207)], &[], 0);
    expect(ex, "kline", &[("kline", 41)], &[("data", 41)], &[], 0);
    expect(ex, "ticker_24hr", &[("ticker", 4)], &[("data", 4)], &[], 0);
    expect(ex, "miniTicker", &[("ticker", 1)], &[("data", 1)], &[], 0);
    expect(
        ex,
        "ticker_window",
        &[("ticker", 1)],
        &[("data", 1)],
        &[],
        0,
    );
    // avgPrice: recognized, deliberately no event.
    expect(ex, "avgPrice", &[], &[("data", 1)], &[], 0);
    // Diffs buffer until a snapshot: one FetchSnapshot per symbol (18 symbols), no events.
    expect(ex, "depthUpdate", &[], &[("data", 303)], &[], 18);
    // The raw docs example has no stream name, hence no symbol: rejected.
    expect(
        ex,
        "depth_partial",
        &[("book_snapshot", 1)],
        &[("data", 1)],
        &[("invalid", 1)],
        0,
    );
    expect(ex, "errors", &[], &[("exchange_error", 8)], &[], 0);
    expect(ex, "server_shutdown", &[], &[("shutdown", 2)], &[], 2);
    // 5 replies are acks; the 8 others are client requests, which a server never sends.
    expect(
        ex,
        "ws_control",
        &[],
        &[("subscriptionack", 5)],
        &[("unsupported", 8)],
        0,
    );
}

#[test]
fn usdm_ws_files() {
    let ex = "binance-usdm";
    // Line 4 is the live `"X":"NA"` non-trade: handled, no event.
    expect(ex, "trade", &[("trade", 3)], &[("data", 4)], &[], 0);
    expect(ex, "aggTrade", &[("trade", 154)], &[("data", 154)], &[], 0);
    expect(ex, "bookTicker", &[("bbo", 676)], &[("data", 676)], &[], 0);
    expect(ex, "kline", &[("kline", 99)], &[("data", 99)], &[], 0);
    expect(ex, "ticker_24hr", &[("ticker", 5)], &[("data", 5)], &[], 0);
    // 6 mark prices (one `!markPrice@arr` frame holds 2); funding for the 5 perpetual ones.
    expect(
        ex,
        "markPriceUpdate",
        &[("funding_rate", 5), ("mark_price", 6)],
        &[("data", 5)],
        &[],
        0,
    );
    expect(
        ex,
        "forceOrder",
        &[("liquidation", 5)],
        &[("data", 5)],
        &[],
        0,
    );
    // 10 symbols with diffs: one FetchSnapshot each.
    expect(ex, "depthUpdate", &[], &[("data", 829)], &[], 10);
    // The raw docs partial frame has no stream name: it is a depthUpdate, taken as a diff.
    expect(
        ex,
        "depth_partial",
        &[("book_snapshot", 2)],
        &[("data", 3)],
        &[],
        1,
    );
    expect(
        ex,
        "ws_control",
        &[],
        &[("subscriptionack", 2)],
        &[("unsupported", 4)],
        0,
    );
}

/// REST files go through `on_rest`; fed as WebSocket frames they are rejected, not mistaken.
#[test]
fn rest_files_as_frames_are_rejected() {
    expect(
        "binance-spot",
        "rest_depth_snapshot",
        &[],
        &[],
        &[("invalid", 6)],
        0,
    );
    expect(
        "binance-usdm",
        "rest_depth_snapshot",
        &[],
        &[],
        &[("invalid", 9)],
        0,
    );
    expect(
        "binance-usdm",
        "rest_openInterest",
        &[],
        &[],
        &[("unsupported", 3)],
        0,
    );
}

/// The symbol of each REST snapshot line (from SOURCES.md / the sync verification).
pub(super) const SPOT_SNAPSHOTS: [&str; 6] = [
    "NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR", "BTCUSDT", "BNBBTC",
];
pub(super) const USDM_SNAPSHOTS: [&str; 9] = [
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

#[test]
fn rest_snapshots_install_books() {
    for (ex, symbols) in [
        ("binance-spot", &SPOT_SNAPSHOTS[..]),
        ("binance-usdm", &USDM_SNAPSHOTS[..]),
    ] {
        let mut n = if ex == "binance-spot" { spot() } else { usdm() };
        let lines = corpus_lines(ex, "rest_depth_snapshot.jsonl");
        assert_eq!(lines.len(), symbols.len());
        for (line, sym) in lines.iter().zip(symbols) {
            let raw: serde_json::Value = serde_json::from_str(line).expect("json");
            let mut out = Output::new();
            let kind = RestKind::DepthSnapshot {
                native_symbol: (*sym).to_owned(),
            };
            n.on_rest(&kind, line, LOCAL, &mut out).expect("snapshot");
            let [MarketEvent::BookSnapshot(s)] = out.events.as_slice() else {
                panic!("one snapshot")
            };
            assert_eq!(Some(s.sequence), raw["lastUpdateId"].as_u64());
            assert_eq!(s.bids.len(), raw["bids"].as_array().map_or(0, Vec::len));
            assert_eq!(s.asks.len(), raw["asks"].as_array().map_or(0, Vec::len));
            assert_eq!(
                s.bids[0].price.to_string(),
                raw["bids"][0][0].as_str().unwrap_or_default()
            );
            let ts = raw
                .get("T")
                .and_then(serde_json::Value::as_i64)
                .map_or(LOCAL, |t| t * 1_000_000);
            assert_eq!(s.exchange_ts, ts);
            assert!(out.actions.is_empty());
            assert!(n.book(sym).is_some());
        }
    }
}

#[test]
fn rest_error_body_is_reported() {
    let mut n = spot();
    let mut out = Output::new();
    let kind = RestKind::DepthSnapshot {
        native_symbol: "BTCUSDT".to_owned(),
    };
    let err = n
        .on_rest(
            &kind,
            r#"{"code":-1121,"msg":"Invalid symbol."}"#,
            LOCAL,
            &mut out,
        )
        .expect_err("error body");
    assert!(err.to_string().contains("-1121"), "{err}");
    assert!(out.events.is_empty() && out.actions.is_empty());
}

#[test]
fn error_frames_carry_code_and_message() {
    let mut n = spot();
    let lines = corpus_lines("binance-spot", "errors.jsonl");
    let (r, _) = feed(&mut n, &lines[0]);
    assert_eq!(
        r.expect("handled"),
        FrameKind::ExchangeError {
            code: "-1121".to_owned(),
            message: "Invalid symbol.".to_owned()
        }
    );
    let (r, _) = feed(&mut n, &lines[7]);
    assert_eq!(
        r.expect("handled"),
        FrameKind::ExchangeError {
            code: "2".to_owned(),
            message: "Invalid request: missing field `method`".to_owned()
        }
    );
}

#[test]
fn shutdown_rotates() {
    let mut n = spot();
    for line in corpus_lines("binance-spot", "server_shutdown.jsonl") {
        let (r, out) = feed(&mut n, &line);
        assert_eq!(r.expect("handled"), FrameKind::Shutdown);
        assert_eq!(
            out.actions,
            [crate::Action::Rotate {
                reason: "serverShutdown".to_owned()
            }]
        );
    }
}

#[test]
fn malformed_and_unknown_frames_are_errors_without_state_change() {
    let mut n = spot();
    for (frame, kind) in [
        (
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}"#,
            "malformed",
        ),
        (
            r#"{"e":"trade","E":1,"s":"NOPE","t":1,"p":"1","q":"1","T":1,"m":true}"#,
            "unknown_instrument",
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["x","1"]],"a":[]}"#,
            "malformed",
        ),
        (r#"{"e":"contractInfo","E":1}"#, "unsupported"),
        ("not json", "malformed"),
        ("", "malformed"),
    ] {
        let (r, out) = feed(&mut n, frame);
        assert_eq!(r.expect_err(frame).kind(), kind, "{frame}");
        assert!(out.events.is_empty() && out.actions.is_empty());
    }
    // The failed depth frame did not create or touch a book.
    assert_eq!(n.buffered("BTCUSDT"), 0);
}

#[test]
fn key_order_of_wrapper_and_control_does_not_matter() {
    let mut n = usdm();
    let (r, out) = feed(
        &mut n,
        r#"{"data":{"e":"aggTrade","E":1,"a":5,"s":"BTCUSDT","p":"1.0","q":"2","f":1,"l":1,"T":1,"m":false},"stream":"btcusdt@aggTrade"}"#,
    );
    assert_eq!(r.expect("wrapped"), FrameKind::Data);
    assert_eq!(out.events.len(), 1);
    let (r, _) = feed(&mut n, r#"{ "id": 7, "result": null }"#);
    assert_eq!(r.expect("ack"), FrameKind::SubscriptionAck);
}

#[test]
fn all_market_arrays_skip_untracked_instruments() {
    let mut n = usdm();
    let (r, out) = feed(
        &mut n,
        r#"{"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1,"s":"NOTLISTED","p":"1","i":"1","r":"0.0001","T":2},{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"1981.15704420","i":"1978.08197502","r":"0.00059142","T":1617321600000}]}"#,
    );
    assert_eq!(r.expect("array"), FrameKind::Data);
    assert_eq!(
        out.events.len(),
        2,
        "mark price and funding of ETHUSDT only"
    );
    let (r, out) = feed(&mut n, r#"{"stream":"!ticker@arr","data":[]}"#);
    assert_eq!(r.expect("empty array"), FrameKind::Data);
    assert!(out.events.is_empty());
    // A single-instrument frame for an untracked instrument is an error, not a silent drop.
    let (r, _) = feed(
        &mut n,
        r#"{"e":"markPriceUpdate","E":1,"s":"NOTLISTED","p":"1","r":"0","T":2}"#,
    );
    assert_eq!(r.expect_err("unknown").kind(), "unknown_instrument");
}
