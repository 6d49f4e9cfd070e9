//! Every line of every WebSocket corpus file: category counts, and normalized values checked
//! against the raw text of the file (numbers compared with the literal as written).

use std::collections::HashMap;

use marketprism_core::model::{MarketEvent, MarketType, Side};
use serde_json::value::RawValue;

use super::{Tally, count, count_status, d, feed_file, tally};
use crate::{Action, ExchangeError, FrameKind, testing::corpus_lines};

type RawObject = HashMap<String, Box<RawValue>>;

/// `params.data` of a notification line, as raw fields (numbers keep their literal text).
fn raw_data(line: &str) -> Box<RawValue> {
    #[derive(serde::Deserialize)]
    struct Params {
        data: Box<RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Notification {
        params: Params,
    }
    serde_json::from_str::<Notification>(line)
        .expect("notification")
        .params
        .data
}

fn object(raw: &RawValue) -> RawObject {
    serde_json::from_str(raw.get()).expect("object")
}

/// The decimal written in field `key` of `obj`.
fn num(obj: &RawObject, key: &str) -> rust_decimal::Decimal {
    d(obj.get(key).unwrap_or_else(|| panic!("field {key}")).get())
}

fn text<'a>(obj: &'a RawObject, key: &str) -> &'a str {
    obj[key].get().trim_matches('"')
}

fn ms(obj: &RawObject, key: &str) -> i64 {
    obj[key].get().parse::<i64>().expect("ms") * 1_000_000
}

/// Every corpus file is one of the files these tests cover.
#[test]
fn every_corpus_file_is_covered() {
    let dir = crate::testing::corpus_dir().join("deribit");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".jsonl"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "book.jsonl",
            "book_grouped.jsonl",
            "chart.jsonl",
            "errors.jsonl",
            "index_price.jsonl",
            "quote.jsonl",
            "rest_get_book_summary.jsonl",
            "rest_get_instruments.jsonl",
            "rest_get_order_book.jsonl",
            "ticker.jsonl",
            "trades.jsonl",
            "ws_control.jsonl",
        ]
    );
}

#[test]
fn trades() {
    let lines = corpus_lines("deribit", "trades.jsonl");
    let steps = feed_file("trades.jsonl");
    assert_eq!(
        tally(&steps),
        Tally {
            data: 7,
            control: 0,
            rejected: 0
        }
    );
    assert_eq!(count(&steps, "trade"), 10);
    assert_eq!(count(&steps, "liquidation"), 2);
    for (line, step) in lines.iter().zip(&steps) {
        let raw: Vec<RawObject> = serde_json::from_str(raw_data(line).get()).expect("array");
        let trades: Vec<_> = step
            .events
            .iter()
            .filter_map(|e| match e {
                MarketEvent::Trade(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(trades.len(), raw.len(), "{line}");
        for (t, r) in trades.iter().zip(&raw) {
            assert_eq!(t.trade_id, text(r, "trade_id"));
            assert_eq!(t.price, num(r, "price"));
            assert_eq!(t.size, num(r, "amount"));
            assert_eq!(t.exchange_ts, ms(r, "timestamp"));
            assert_eq!(t.local_ts, super::LOCAL_TS);
            let side = if text(r, "direction") == "buy" {
                Side::Buy
            } else {
                Side::Sell
            };
            assert_eq!(t.side, side, "taker side = direction");
        }
    }
    // Symbols: inverse future, perpetual, and an option from `trades.option.any.raw`.
    let symbol = |i: usize| steps[i].events[0].symbol().map(|s| s.as_str().to_owned());
    assert_eq!(symbol(0).as_deref(), Some("BTC-USD-20210326"));
    assert_eq!(symbol(1).as_deref(), Some("BTC-USD-PERP"));
    assert_eq!(symbol(2).as_deref(), Some("BTC-USD-20210326-62000-C"));
    assert_eq!(steps[2].events[0].market(), MarketType::Option);
    // `liquidation: "T"` on a sell: the taker's sell was the liquidation order.
    let MarketEvent::Liquidation(l) = &steps[4].events[1] else {
        panic!("liquidation")
    };
    assert_eq!(
        (l.side, l.price, l.size),
        (Side::Sell, d("4469.5"), d("1120"))
    );
    // `liquidation: "M"` on a buy: the maker (seller) was liquidated.
    let MarketEvent::Liquidation(l) = &steps[5].events[1] else {
        panic!("liquidation")
    };
    assert_eq!(l.side, Side::Sell);
}

#[test]
fn ticker() {
    let lines = corpus_lines("deribit", "ticker.jsonl");
    let steps = feed_file("ticker.jsonl");
    // Three combo instruments (BTC-STRD-…, BTC-FS-…, BTC-CSR12-…) have no normalized form.
    assert_eq!(
        tally(&steps),
        Tally {
            data: 192,
            control: 0,
            rejected: 3
        }
    );
    for step in steps.iter().filter(|s| s.result.is_err()) {
        assert!(matches!(
            step.result,
            Err(ExchangeError::UnknownInstrument { .. })
        ));
        assert!(step.events.is_empty());
    }
    assert_eq!(
        count(&steps, "ticker"),
        145,
        "only tickers with a last price"
    );
    assert_eq!(count(&steps, "mark_price"), 192);
    assert_eq!(count(&steps, "open_interest"), 192);
    assert_eq!(count(&steps, "option_summary"), 187);
    assert_eq!(count(&steps, "funding_rate"), 4);
    for (line, step) in lines.iter().zip(&steps) {
        let r = object(&raw_data(line));
        for e in &step.events {
            assert_eq!(e.exchange_ts(), ms(&r, "timestamp"));
            match e {
                MarketEvent::Ticker(t) => {
                    assert_eq!(t.last_price, num(&r, "last_price"));
                    if num(&r, "best_bid_amount").is_zero() {
                        assert_eq!(t.best_bid, None);
                    } else {
                        assert_eq!(t.best_bid, Some(num(&r, "best_bid_price")));
                    }
                }
                MarketEvent::MarkPrice(m) => {
                    assert_eq!(m.mark_price, Some(num(&r, "mark_price")));
                    assert_eq!(m.index_price, Some(num(&r, "index_price")));
                }
                MarketEvent::OpenInterest(o) => {
                    assert_eq!(o.open_interest, num(&r, "open_interest"));
                }
                MarketEvent::FundingRate(f) => {
                    assert_eq!(f.market, MarketType::Perpetual);
                    assert_eq!(f.rate, num(&r, "funding_8h"));
                }
                MarketEvent::OptionSummary(o) => {
                    let greeks = object(&r["greeks"]);
                    assert_eq!(o.mark_iv, Some(num(&r, "mark_iv")));
                    assert_eq!(o.delta, Some(num(&greeks, "delta")));
                    assert_eq!(o.theta, Some(num(&greeks, "theta")));
                    assert_eq!(o.rho, Some(num(&greeks, "rho")));
                    assert_eq!(o.underlying_price, Some(num(&r, "underlying_price")));
                    assert_eq!(
                        o.underlying_index.as_deref(),
                        Some(text(&r, "underlying_index"))
                    );
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    // Line 1: ETH option; symbol and a few exact values.
    let MarketEvent::OptionSummary(o) = &steps[0].events[3] else {
        panic!("option summary")
    };
    assert_eq!(o.symbol.as_str(), "ETH-USD-20210730-2800-C");
    assert_eq!(
        (o.bid_iv, o.ask_iv, o.gamma),
        (Some(d("115.62")), Some(d("125.63")), Some(d("0.0002")))
    );
    // Last line: perpetual with `funding_8h` 0.00001742 and `current_funding` 0.0.
    let funding = steps[194].events.iter().find_map(|e| match e {
        MarketEvent::FundingRate(f) => Some(f),
        _ => None,
    });
    let f = funding.expect("funding");
    assert_eq!(
        (f.symbol.as_str(), f.rate),
        ("BTC-USD-PERP", d("0.00001742"))
    );
    assert_eq!(f.mark_price, Some(d("92281.78")));
    // Linear USDC option with a fractional strike.
    assert_eq!(
        steps[193].events[0].symbol().map(|s| s.as_str()),
        Some("MATIC-USDC-20240309-1d02-C")
    );
}

#[test]
fn quote() {
    let lines = corpus_lines("deribit", "quote.jsonl");
    let steps = feed_file("quote.jsonl");
    assert_eq!(
        tally(&steps),
        Tally {
            data: 4,
            control: 0,
            rejected: 0
        }
    );
    for (line, step) in lines.iter().zip(&steps) {
        let r = object(&raw_data(line));
        let [MarketEvent::Bbo(b)] = step.events.as_slice() else {
            panic!("bbo")
        };
        assert_eq!(b.bid_price, num(&r, "best_bid_price"));
        assert_eq!(b.bid_size, num(&r, "best_bid_amount"));
        assert_eq!(b.ask_price, num(&r, "best_ask_price"));
        assert_eq!(b.ask_size, num(&r, "best_ask_amount"));
        assert_eq!(b.exchange_ts, ms(&r, "timestamp"));
    }
    assert_eq!(
        steps[0].events[0].symbol().map(|s| s.as_str()),
        Some("BTC-USD-20220930")
    );
}

#[test]
fn chart() {
    let lines = corpus_lines("deribit", "chart.jsonl");
    let steps = feed_file("chart.jsonl");
    assert_eq!(
        tally(&steps),
        Tally {
            data: 3,
            control: 0,
            rejected: 0
        }
    );
    let expected = [
        ("BTC-USD-20230331", "1"),
        ("BTC-USD-PERP", "1"),
        ("BTC-USD-20230325-26500-P", "3"),
    ];
    for ((line, step), (symbol, interval)) in lines.iter().zip(&steps).zip(expected) {
        let r = object(&raw_data(line));
        let [MarketEvent::Kline(k)] = step.events.as_slice() else {
            panic!("kline")
        };
        assert_eq!((k.symbol.as_str(), k.interval.as_str()), (symbol, interval));
        assert_eq!(k.open_ts, ms(&r, "tick"));
        assert_eq!(
            (k.open, k.high, k.low, k.close, k.volume),
            (
                num(&r, "open"),
                num(&r, "high"),
                num(&r, "low"),
                num(&r, "close"),
                num(&r, "volume")
            )
        );
        assert_eq!(k.quote_volume, Some(num(&r, "cost")));
    }
}

#[test]
fn index_price() {
    let steps = feed_file("index_price.jsonl");
    assert_eq!(
        tally(&steps),
        Tally {
            data: 1,
            control: 0,
            rejected: 0
        }
    );
    let [MarketEvent::MarkPrice(m)] = steps[0].events.as_slice() else {
        panic!("mark price")
    };
    assert_eq!(
        (m.market, m.symbol.as_str()),
        (MarketType::Index, "BTC-USD")
    );
    assert_eq!((m.index_price, m.mark_price), (Some(d("6521.17")), None));
    assert_eq!(m.exchange_ts, 1_535_098_298_227_000_000);
}

#[test]
fn book_grouped() {
    let lines = corpus_lines("deribit", "book_grouped.jsonl");
    let steps = feed_file("book_grouped.jsonl");
    assert_eq!(
        tally(&steps),
        Tally {
            data: 4,
            control: 0,
            rejected: 0
        }
    );
    for (line, step) in lines.iter().zip(&steps) {
        let r = object(&raw_data(line));
        let [MarketEvent::BookSnapshot(b)] = step.events.as_slice() else {
            panic!("snapshot")
        };
        assert_eq!(b.sequence.to_string(), r["change_id"].get());
        assert_eq!(b.exchange_ts, ms(&r, "timestamp"));
        for (levels, key) in [(&b.bids, "bids"), (&b.asks, "asks")] {
            let raw: Vec<(Box<RawValue>, Box<RawValue>)> =
                serde_json::from_str(r[key].get()).expect("levels");
            assert_eq!(levels.len(), raw.len());
            for (l, (p, s)) in levels.iter().zip(&raw) {
                assert_eq!((l.price, l.size), (d(p.get()), d(s.get())), "best first");
            }
        }
    }
}

#[test]
fn errors() {
    let steps = feed_file("errors.jsonl");
    assert_eq!(
        tally(&steps),
        Tally {
            data: 0,
            control: 4,
            rejected: 0
        }
    );
    let codes: Vec<(String, String)> = steps
        .iter()
        .map(|s| match &s.result {
            Ok(FrameKind::ExchangeError { code, message }) => (code.clone(), message.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        codes[0],
        ("10028".to_owned(), "too_many_requests".to_owned())
    );
    assert_eq!(
        codes[1],
        (
            "-32602".to_owned(),
            "Invalid params: instrument not found (instrument_name)".to_owned()
        )
    );
    assert_eq!(codes[2].0, "-32602");
    assert_eq!(codes[3], ("13009".to_owned(), "unauthorized".to_owned()));
}

#[test]
fn ws_control() {
    let steps = feed_file("ws_control.jsonl");
    // Lines 1, 3, 7, 9 are client requests (recorded client→server): rejected.
    assert_eq!(
        tally(&steps),
        Tally {
            data: 0,
            control: 5,
            rejected: 4
        }
    );
    let kinds: Vec<Option<FrameKind>> = steps
        .iter()
        .map(|s| s.result.as_ref().ok().cloned())
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(FrameKind::SubscriptionAck),
            None,
            Some(FrameKind::SubscriptionAck),
            Some(FrameKind::Control),
            Some(FrameKind::Heartbeat),
            None,
            Some(FrameKind::SubscriptionAck),
            None,
        ]
    );
    // The test_request is answered with `public/test`.
    let [Action::Send(reply)] = steps[4].actions.as_slice() else {
        panic!("send")
    };
    let v: serde_json::Value = serde_json::from_str(reply).expect("json");
    assert_eq!(
        (v["jsonrpc"].as_str(), v["method"].as_str()),
        (Some("2.0"), Some("public/test"))
    );
    assert!(v["id"].is_u64());
    assert!(steps.iter().all(|s| s.events.is_empty()));
}

#[test]
fn book_counts() {
    let steps = feed_file("book.jsonl");
    // Every line is a book frame: the isolated samples produce resyncs, not errors.
    assert_eq!(
        tally(&steps),
        Tally {
            data: 111,
            control: 0,
            rejected: 0
        }
    );
    assert_eq!(count(&steps, "book_snapshot"), 25);
    assert_eq!(count(&steps, "book_delta"), 82);
    assert_eq!(count_status(&steps, "gap"), 3);
    assert_eq!(count_status(&steps, "book_resync"), 4);
    let resubscribes = steps
        .iter()
        .flat_map(|s| &s.actions)
        .filter(|a| {
            matches!(
                a,
                Action::Resubscribe {
                    channel: crate::Channel::Book,
                    ..
                }
            )
        })
        .count();
    assert_eq!(resubscribes, 4);
}
