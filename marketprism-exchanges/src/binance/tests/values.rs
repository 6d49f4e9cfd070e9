//! (2) Normalized values against the raw fields, for every line of every message type:
//! exact decimal text, timestamps × 1e6, side and symbol mapping.

use marketprism_core::model::{MarketEvent, MarketType, Side};
use serde_json::Value;

use super::*;
use crate::testing::corpus_lines;

/// The payload objects of a corpus line (unwrapping `data`, flattening arrays).
fn payloads(line: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(line).expect("corpus line is JSON");
    let data = v.get("data").cloned().unwrap_or(v);
    match data {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string `{key}` in {v}"))
}

fn ms(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("no integer `{key}` in {v}"))
        * 1_000_000
}

/// Lines of `file` fed to a fresh normalizer, each with its raw payloads and events.
fn each(ex: &str, file: &str, mut check: impl FnMut(&[Value], &[MarketEvent])) -> usize {
    let mut n = if ex == "binance-spot" { spot() } else { usdm() };
    let lines = corpus_lines(ex, file);
    for line in &lines {
        let (r, out) = feed(&mut n, line);
        r.unwrap_or_else(|e| panic!("{ex}/{file}: {e} in {line}"));
        check(&payloads(line), &out.events);
    }
    lines.len()
}

#[test]
fn trades_match_raw() {
    for (ex, file, agg) in [
        ("binance-spot", "trade.jsonl", false),
        ("binance-spot", "aggTrade.jsonl", true),
        ("binance-usdm", "trade.jsonl", false),
        ("binance-usdm", "aggTrade.jsonl", true),
    ] {
        let mut seen = 0;
        each(ex, file, |raw, events| {
            let p = &raw[0];
            if p.get("X").and_then(Value::as_str) == Some("NA") {
                assert!(events.is_empty(), "X:NA is not a trade");
                return;
            }
            let [MarketEvent::Trade(t)] = events else {
                panic!("one trade expected: {events:?}")
            };
            assert_eq!(t.price.to_string(), text(p, "p"));
            assert_eq!(t.size.to_string(), text(p, "q"));
            assert_eq!(t.exchange_ts, ms(p, "T"));
            assert_eq!(t.local_ts, LOCAL);
            let maker = p["m"].as_bool().expect("m");
            assert_eq!(t.side, if maker { Side::Sell } else { Side::Buy });
            let id_key = if agg { "a" } else { "t" };
            match p.get(id_key).and_then(Value::as_u64) {
                Some(id) => assert_eq!(t.trade_id.as_str(), id.to_string()),
                None => assert_eq!(t.trade_id.as_str(), format!("{}-{}", p["f"], p["l"])),
            }
            let native = text(p, "s");
            let spot_market = ex == "binance-spot";
            let expected_market = if spot_market {
                MarketType::Spot
            } else if native.contains('_') {
                MarketType::Future
            } else {
                MarketType::Perpetual
            };
            assert_eq!(t.market, expected_market);
            if native == "BTCUSDT" {
                let sym = if spot_market {
                    "BTC-USDT"
                } else {
                    "BTC-USDT-PERP"
                };
                assert_eq!(t.symbol.as_str(), sym);
            }
            seen += 1;
        });
        assert!(seen > 0);
    }
}

#[test]
fn bbo_matches_raw() {
    for ex in ["binance-spot", "binance-usdm"] {
        each(ex, "bookTicker.jsonl", |raw, events| {
            let p = &raw[0];
            let [MarketEvent::Bbo(b)] = events else {
                panic!("one bbo expected")
            };
            assert_eq!(b.bid_price.to_string(), text(p, "b"));
            assert_eq!(b.bid_size.to_string(), text(p, "B"));
            assert_eq!(b.ask_price.to_string(), text(p, "a"));
            assert_eq!(b.ask_size.to_string(), text(p, "A"));
            assert_eq!(b.sequence, p["u"].as_u64());
            // Spot stamps no time: local time stands in.
            let ts = if ex == "binance-spot" {
                LOCAL
            } else {
                ms(p, "T")
            };
            assert_eq!(b.exchange_ts, ts);
        });
    }
}

#[test]
fn tickers_match_raw() {
    for (ex, file) in [
        ("binance-spot", "ticker_24hr.jsonl"),
        ("binance-spot", "miniTicker.jsonl"),
        ("binance-spot", "ticker_window.jsonl"),
        ("binance-usdm", "ticker_24hr.jsonl"),
    ] {
        each(ex, file, |raw, events| {
            assert_eq!(raw.len(), events.len());
            for (p, e) in raw.iter().zip(events) {
                let MarketEvent::Ticker(t) = e else {
                    panic!("ticker expected")
                };
                assert_eq!(t.last_price.to_string(), text(p, "c"));
                assert_eq!(
                    t.open_24h.map(|d| d.to_string()).as_deref(),
                    Some(text(p, "o"))
                );
                assert_eq!(
                    t.high_24h.map(|d| d.to_string()).as_deref(),
                    Some(text(p, "h"))
                );
                assert_eq!(
                    t.low_24h.map(|d| d.to_string()).as_deref(),
                    Some(text(p, "l"))
                );
                assert_eq!(
                    t.volume_24h.map(|d| d.to_string()).as_deref(),
                    Some(text(p, "v"))
                );
                assert_eq!(
                    t.quote_volume_24h.map(|d| d.to_string()).as_deref(),
                    Some(text(p, "q"))
                );
                let bid = p.get("b").and_then(Value::as_str);
                assert_eq!(t.best_bid.map(|d| d.to_string()).as_deref(), bid);
                assert_eq!(t.exchange_ts, ms(p, "E"));
            }
        });
    }
}

#[test]
fn klines_match_raw() {
    for ex in ["binance-spot", "binance-usdm"] {
        each(ex, "kline.jsonl", |raw, events| {
            let p = &raw[0];
            let k = &p["k"];
            let [MarketEvent::Kline(e)] = events else {
                panic!("one kline expected")
            };
            assert_eq!(e.interval.as_str(), text(k, "i"));
            assert_eq!(e.open_ts, ms(k, "t"));
            for (got, key) in [
                (e.open, "o"),
                (e.high, "h"),
                (e.low, "l"),
                (e.close, "c"),
                (e.volume, "v"),
            ] {
                assert_eq!(got.to_string(), text(k, key));
            }
            assert_eq!(
                e.quote_volume.map(|d| d.to_string()).as_deref(),
                Some(text(k, "q"))
            );
            assert_eq!(e.closed, k["x"].as_bool().expect("x"));
            assert_eq!(e.exchange_ts, ms(p, "E"));
        });
    }
}

#[test]
fn mark_price_and_funding_match_raw() {
    let mut funding = 0;
    each("binance-usdm", "markPriceUpdate.jsonl", |raw, events| {
        let mut events = events.iter();
        for p in raw {
            let Some(MarketEvent::MarkPrice(m)) = events.next() else {
                panic!("mark price first")
            };
            assert_eq!(
                m.mark_price.map(|d| d.to_string()).as_deref(),
                Some(text(p, "p"))
            );
            assert_eq!(
                m.index_price.map(|d| d.to_string()),
                p.get("i").and_then(Value::as_str).map(str::to_owned)
            );
            assert_eq!(m.exchange_ts, ms(p, "E"));
            if text(p, "s").contains('_') {
                // A delivery contract: no funding.
                assert_eq!(m.market, MarketType::Future);
                continue;
            }
            let Some(MarketEvent::FundingRate(f)) = events.next() else {
                panic!("funding for a perpetual")
            };
            assert_eq!(f.rate.to_string(), text(p, "r"));
            assert_eq!(f.next_funding_ts, Some(ms(p, "T")));
            assert_eq!(f.mark_price, m.mark_price);
            funding += 1;
        }
        assert!(events.next().is_none());
    });
    assert_eq!(funding, 5);
}

#[test]
fn liquidations_match_raw() {
    each("binance-usdm", "forceOrder.jsonl", |raw, events| {
        let o = &raw[0]["o"];
        let [MarketEvent::Liquidation(l)] = events else {
            panic!("one liquidation")
        };
        assert_eq!(
            l.side,
            if text(o, "S") == "BUY" {
                Side::Buy
            } else {
                Side::Sell
            }
        );
        assert_eq!(l.price.to_string(), text(o, "ap"));
        assert_eq!(l.size.to_string(), text(o, "z"));
        assert_eq!(l.exchange_ts, ms(o, "T"));
        assert_eq!(l.symbol.as_str(), "BTC-USDT-PERP");
    });
}

#[test]
fn partial_depth_images_match_raw() {
    for ex in ["binance-spot", "binance-usdm"] {
        let mut n = if ex == "binance-spot" { spot() } else { usdm() };
        for line in corpus_lines(ex, "depth_partial.jsonl") {
            if !line.starts_with(r#"{"stream""#) {
                continue; // raw docs example: no stream name (see corpus test)
            }
            let (r, out) = feed(&mut n, &line);
            assert_eq!(r.expect("handled"), FrameKind::Data);
            let p = &payloads(&line)[0];
            let [MarketEvent::BookSnapshot(s)] = out.events.as_slice() else {
                panic!("snapshot")
            };
            let (bids, asks, seq) = match p.get("lastUpdateId") {
                Some(id) => (&p["bids"], &p["asks"], id.as_u64()),
                None => (&p["b"], &p["a"], p["u"].as_u64()),
            };
            assert_eq!(Some(s.sequence), seq);
            let raw_levels = |v: &Value| -> Vec<(String, String)> {
                v.as_array()
                    .expect("levels")
                    .iter()
                    .map(|l| {
                        (
                            l[0].as_str().unwrap_or("").to_owned(),
                            l[1].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            };
            let got = |v: &[marketprism_core::model::Level]| -> Vec<(String, String)> {
                v.iter()
                    .map(|l| (l.price.to_string(), l.size.to_string()))
                    .collect()
            };
            assert_eq!(got(&s.bids), raw_levels(bids));
            assert_eq!(got(&s.asks), raw_levels(asks));
        }
    }
}

#[test]
fn open_interest_matches_raw() {
    let mut n = usdm();
    for line in corpus_lines("binance-usdm", "rest_openInterest.jsonl") {
        let p: Value = serde_json::from_str(&line).expect("json");
        let kind = crate::RestKind::OpenInterest {
            native_symbol: text(&p, "symbol").to_owned(),
        };
        let mut out = Output::new();
        n.on_rest(&kind, &line, LOCAL, &mut out)
            .expect("open interest");
        let [MarketEvent::OpenInterest(oi)] = out.events.as_slice() else {
            panic!("one OI")
        };
        assert_eq!(oi.open_interest.to_string(), text(&p, "openInterest"));
        assert_eq!(oi.exchange_ts, ms(&p, "time"));
        assert_eq!(oi.open_interest_value, None);
        let sym = if text(&p, "symbol") == "BTCUSDT" {
            "BTC-USDT-PERP"
        } else {
            "BTC-USDT-20220624"
        };
        assert_eq!(oi.symbol.as_str(), sym);
    }
}
