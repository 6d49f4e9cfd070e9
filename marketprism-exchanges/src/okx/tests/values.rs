//! Normalized values against the raw text of every corpus line: exact decimals (the event's
//! `Decimal` prints exactly the exchange's string), timestamps × 10⁶, sides, symbols.

use marketprism_core::model::{Level, MarketEvent, MarketType, OptionType, RatioKind, Side};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{LOCAL_TS, feed, normalizer};
use crate::{Normalizer, Output, RestKind, okx::OkxNormalizer, testing::corpus_lines};

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn dec_text(d: Decimal) -> String {
    d.to_string()
}

fn opt_text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn ms(v: &Value) -> i64 {
    text(v).parse::<i64>().expect("ms") * 1_000_000
}

fn symbol_of(n: &OkxNormalizer, inst: &str) -> (String, MarketType) {
    let i = n.instruments().by_native(inst).expect("known instrument");
    (i.symbol.as_str().to_owned(), i.market)
}

/// Each line with its events.
fn lines(n: &mut OkxNormalizer, file: &str) -> Vec<(Value, Vec<MarketEvent>)> {
    corpus_lines("okx", file)
        .into_iter()
        .map(|l| {
            let v: Value = serde_json::from_str(&l).expect("json");
            (v, feed(n, &l).events)
        })
        .collect()
}

fn level_texts(levels: &[Level]) -> Vec<(String, String)> {
    levels
        .iter()
        .map(|l| (dec_text(l.price), dec_text(l.size)))
        .collect()
}

fn raw_levels(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("levels")
        .iter()
        .map(|l| (text(&l[0]).to_owned(), text(&l[1]).to_owned()))
        .collect()
}

#[test]
fn trades_match_raw() {
    let mut n = normalizer();
    for (v, events) in lines(&mut n, "trades.jsonl") {
        for (raw, e) in v["data"].as_array().expect("data").iter().zip(&events) {
            let MarketEvent::Trade(t) = e else {
                panic!("{e:?}")
            };
            let (sym, market) = symbol_of(&n, text(&raw["instId"]));
            assert_eq!((t.symbol.as_str(), t.market), (sym.as_str(), market));
            assert_eq!(t.trade_id, text(&raw["tradeId"]));
            assert_eq!(dec_text(t.price), text(&raw["px"]));
            assert_eq!(dec_text(t.size), text(&raw["sz"]));
            let side = if raw["side"] == "buy" {
                Side::Buy
            } else {
                Side::Sell
            };
            assert_eq!(t.side, side);
            assert_eq!((t.exchange_ts, t.local_ts), (ms(&raw["ts"]), LOCAL_TS));
        }
    }
    // Symbol mapping per market.
    let mut n = normalizer();
    let all = lines(&mut n, "trades.jsonl");
    let sym = |i: usize| all[i].1[0].symbol().map(|s| s.as_str().to_owned());
    assert_eq!(sym(0).as_deref(), Some("BTC-USD-20220527"));
    assert_eq!(sym(1).as_deref(), Some("UNI-USD-PERP"));
    assert_eq!(sym(2).as_deref(), Some("BTC-USDT"));
    let option = all
        .iter()
        .find(|(v, _)| v["arg"]["instId"] == "BTC-USD-220325-40000-C")
        .expect("option trade");
    assert_eq!(
        option.1[0].symbol().map(|s| s.as_str()),
        Some("BTC-USD-20220325-40000-C")
    );
    assert_eq!(option.1[0].market(), MarketType::Option);
}

#[test]
fn tickers_match_raw() {
    let mut n = normalizer();
    for (v, events) in lines(&mut n, "tickers.jsonl") {
        let raw = &v["data"][0];
        let [MarketEvent::Ticker(t)] = &events[..] else {
            panic!("{events:?}")
        };
        let (sym, market) = symbol_of(&n, text(&raw["instId"]));
        assert_eq!((t.symbol.as_str(), t.market), (sym.as_str(), market));
        assert_eq!(dec_text(t.last_price), text(&raw["last"]));
        assert_eq!(t.best_bid.map(dec_text), opt_text(&raw["bidPx"]));
        assert_eq!(t.best_ask.map(dec_text), opt_text(&raw["askPx"]));
        assert_eq!(t.open_24h.map(dec_text), opt_text(&raw["open24h"]));
        assert_eq!(t.high_24h.map(dec_text), opt_text(&raw["high24h"]));
        assert_eq!(t.low_24h.map(dec_text), opt_text(&raw["low24h"]));
        assert_eq!(t.volume_24h.map(dec_text), opt_text(&raw["vol24h"]));
        let quote = (market == MarketType::Spot)
            .then(|| opt_text(&raw["volCcy24h"]))
            .flatten();
        assert_eq!(t.quote_volume_24h.map(dec_text), quote);
        assert_eq!(t.exchange_ts, ms(&raw["ts"]));
    }
}

#[test]
fn book_images_and_bbo_match_raw() {
    let mut n = normalizer();
    for (v, events) in lines(&mut n, "books5.jsonl") {
        let raw = &v["data"][0];
        let [MarketEvent::BookSnapshot(s)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(
            s.symbol.as_str(),
            symbol_of(&n, text(&v["arg"]["instId"])).0
        );
        assert_eq!(level_texts(&s.bids), raw_levels(&raw["bids"]));
        assert_eq!(level_texts(&s.asks), raw_levels(&raw["asks"]));
        assert_eq!(s.exchange_ts, ms(&raw["ts"]));
        let seq = raw["seqId"]
            .as_u64()
            .unwrap_or(s.exchange_ts as u64 / 1_000_000);
        assert_eq!(s.sequence, seq);
    }
    for (v, events) in lines(&mut n, "bbo_tbt.jsonl") {
        let raw = &v["data"][0];
        let [MarketEvent::Bbo(b)] = &events[..] else {
            panic!("{events:?}")
        };
        let first = |side: &str| {
            raw_levels(&raw[side])
                .first()
                .cloned()
                .unwrap_or(("0".into(), "0".into()))
        };
        assert_eq!((dec_text(b.bid_price), dec_text(b.bid_size)), first("bids"));
        assert_eq!((dec_text(b.ask_price), dec_text(b.ask_size)), first("asks"));
        assert_eq!(b.sequence, raw["seqId"].as_u64());
        assert_eq!(b.exchange_ts, ms(&raw["ts"]));
    }
}

#[test]
fn candles_match_raw() {
    let mut n = normalizer();
    for (v, events) in lines(&mut n, "candles.jsonl") {
        let row = v["data"][0].as_array().expect("row");
        let [MarketEvent::Kline(k)] = &events[..] else {
            panic!("{events:?}")
        };
        let channel = text(&v["arg"]["channel"]);
        assert_eq!(k.interval, channel.trim_start_matches("candle"));
        assert_eq!(k.open_ts, ms(&row[0]));
        let ohlcv = [k.open, k.high, k.low, k.close, k.volume].map(dec_text);
        assert_eq!(
            ohlcv.iter().map(String::as_str).collect::<Vec<_>>(),
            row[1..6].iter().map(text).collect::<Vec<_>>()
        );
        let quote = match (row.len(), k.market) {
            (9, _) => Some(text(&row[7]).to_owned()),
            (_, MarketType::Spot) => Some(text(&row[6]).to_owned()),
            _ => None,
        };
        assert_eq!(k.quote_volume.map(dec_text), quote);
        assert_eq!(k.closed, row.get(8).is_some_and(|c| c == "1"));
    }
}

#[test]
fn funding_oi_mark_index_liquidations_match_raw() {
    let mut n = normalizer();
    for (v, events) in lines(&mut n, "funding_rate.jsonl") {
        let raw = &v["data"][0];
        if raw.get("fundingRate").is_none() {
            assert!(events.is_empty());
            continue;
        }
        let [MarketEvent::FundingRate(f)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(dec_text(f.rate), text(&raw["fundingRate"]));
        assert_eq!(f.next_rate.map(dec_text), opt_text(&raw["nextFundingRate"]));
        assert_eq!(f.next_funding_ts, Some(ms(&raw["fundingTime"])));
        let ts = raw.get("ts").map_or(LOCAL_TS, ms);
        assert_eq!(f.exchange_ts, ts);
    }
    for (v, events) in lines(&mut n, "open_interest.jsonl") {
        let raw = &v["data"][0];
        let [MarketEvent::OpenInterest(o)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(dec_text(o.open_interest), text(&raw["oi"]));
        assert_eq!(o.open_interest_value.map(dec_text), opt_text(&raw["oiUsd"]));
        assert_eq!(o.exchange_ts, ms(&raw["ts"]));
    }
    for (v, events) in lines(&mut n, "mark_price.jsonl") {
        let raw = &v["data"][0];
        let [MarketEvent::MarkPrice(m)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(m.symbol.as_str(), symbol_of(&n, text(&raw["instId"])).0);
        assert_eq!(
            m.mark_price.map(dec_text).as_deref(),
            Some(text(&raw["markPx"]))
        );
        assert_eq!((m.index_price, m.exchange_ts), (None, ms(&raw["ts"])));
    }
    for (v, events) in lines(&mut n, "index_tickers.jsonl") {
        let raw = &v["data"][0];
        let [MarketEvent::MarkPrice(m)] = &events[..] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (m.symbol.as_str(), m.market),
            (text(&raw["instId"]), MarketType::Index)
        );
        assert_eq!(
            m.index_price.map(dec_text).as_deref(),
            Some(text(&raw["idxPx"]))
        );
        assert_eq!(m.mark_price, None);
    }
    for (v, events) in lines(&mut n, "liquidation_orders.jsonl") {
        let raw = &v["data"][0];
        let details = raw["details"].as_array().expect("details");
        assert_eq!(details.len(), events.len());
        for (d, e) in details.iter().zip(&events) {
            let MarketEvent::Liquidation(l) = e else {
                panic!("{e:?}")
            };
            assert_eq!(l.symbol.as_str(), symbol_of(&n, text(&raw["instId"])).0);
            assert_eq!(dec_text(l.price), text(&d["bkPx"]));
            assert_eq!(dec_text(l.size), text(&d["sz"]));
            assert_eq!(
                l.side,
                if d["side"] == "buy" {
                    Side::Buy
                } else {
                    Side::Sell
                }
            );
            assert_eq!(l.exchange_ts, ms(&d["ts"]));
        }
    }
}

#[test]
fn instruments_map_real_and_fixture_rows() {
    let n = normalizer();
    let get = |s: &str| n.instruments().by_native(s).expect(s).clone();
    let fut = get("BTC-USD-220527");
    assert_eq!(
        (fut.symbol.as_str(), fut.market),
        ("BTC-USD-20220527", MarketType::Future)
    );
    assert_eq!(fut.settle.as_deref(), Some("BTC"));
    assert_eq!(fut.contract_size, Some(Decimal::from(100)));
    assert_eq!(fut.expiry, Some(1_653_638_400_000_000_000));
    let opt = get("BTC-USD-220514-22000-C");
    assert_eq!(opt.symbol.as_str(), "BTC-USD-20220514-22000-C");
    assert_eq!(
        (opt.strike, opt.option_type),
        (Some(Decimal::from(22000)), Some(OptionType::Call))
    );
    assert_eq!(opt.contract_size.map(dec_text).as_deref(), Some("0.1"));
    let swap = get("BTC-USDT-SWAP");
    assert_eq!(
        (
            swap.symbol.as_str(),
            swap.base.as_str(),
            swap.quote.as_str()
        ),
        ("BTC-USDT-PERP", "BTC", "USDT")
    );
    let spot = get("BTC-USDT");
    assert_eq!(
        (
            spot.tick_size.map(dec_text).as_deref(),
            spot.lot_size.map(dec_text).as_deref()
        ),
        (Some("0.1"), Some("0.00000001"))
    );
    assert_eq!(get("FUN-BTC").symbol.as_str(), "FUN-BTC");
    assert_eq!(get("LTC-USD-190628").symbol.as_str(), "LTC-USD-20190628");
    assert_eq!(
        get("ETH-USD-220325-8800-P").symbol.as_str(),
        "ETH-USD-20220325-8800-P"
    );
    assert_eq!(
        get("BTC-USD_UM_XPERP-310404").symbol.as_str(),
        "BTC-USD_UM_XPERP-20310404"
    );
    assert_eq!(n.instruments().len(), 1479 + 23);
}

#[test]
fn rest_bodies_match_raw() {
    let mut n = normalizer();
    let mut out = Output::new();
    let body = &corpus_lines("okx", "rest_books.jsonl")[0];
    let kind = RestKind::DepthSnapshot {
        native_symbol: "BTC-USDT".into(),
    };
    n.on_rest(&kind, body, LOCAL_TS, &mut out).expect("books");
    let v: Value = serde_json::from_str(body).expect("json");
    let [MarketEvent::BookSnapshot(s)] = &out.events[..] else {
        panic!("{:?}", out.events)
    };
    assert_eq!(level_texts(&s.bids), raw_levels(&v["data"][0]["bids"]));
    assert_eq!(level_texts(&s.asks), raw_levels(&v["data"][0]["asks"]));
    assert_eq!(
        (s.exchange_ts, s.sequence),
        (ms(&v["data"][0]["ts"]), 1_654_328_918_680)
    );
    out.clear();

    let body = &corpus_lines("okx", "rest_open_interest.jsonl")[5];
    let kind = RestKind::OpenInterest {
        native_symbol: "BTC-USD-220520-18000-C".into(),
    };
    n.on_rest(&kind, body, LOCAL_TS, &mut out).expect("oi");
    let v: Value = serde_json::from_str(body).expect("json");
    for (raw, e) in v["data"].as_array().expect("data").iter().zip(&out.events) {
        let MarketEvent::OpenInterest(o) = e else {
            panic!("{e:?}")
        };
        assert_eq!(o.symbol.as_str(), symbol_of(&n, text(&raw["instId"])).0);
        assert_eq!(dec_text(o.open_interest), text(&raw["oi"]));
        assert_eq!(o.exchange_ts, ms(&raw["ts"]));
    }
    out.clear();

    let err = n.on_rest(
        &kind,
        r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#,
        LOCAL_TS,
        &mut out,
    );
    assert!(
        matches!(err, Err(crate::ExchangeError::Invalid { detail, .. }) if detail.contains("51001"))
    );
    let unknown = r#"{"code":"0","msg":"","data":[{"instId":"NOPE-USD-SWAP","instType":"SWAP","oi":"1","oiCcy":"1","ts":"1"}]}"#;
    assert!(matches!(
        n.on_rest(&kind, unknown, LOCAL_TS, &mut out),
        Err(crate::ExchangeError::UnknownInstrument { .. })
    ));
    assert!(out.events.is_empty());
}

#[test]
fn long_short_ratio_fixture() {
    let body = include_str!("../../../tests/fixtures/okx/long_short_ratio.json");
    let mut n = normalizer();
    let mut out = Output::new();
    for (endpoint, kind) in [
        ("long-short-account-ratio-contract", RatioKind::AllAccounts),
        (
            "long-short-account-ratio-contract-top-trader",
            RatioKind::TopTraderAccounts,
        ),
        (
            "long-short-position-ratio-contract-top-trader",
            RatioKind::TopTraderPositions,
        ),
    ] {
        out.clear();
        let rk = RestKind::LongShortRatio {
            native_symbol: "BTC-USDT-SWAP".into(),
            endpoint: endpoint.into(),
        };
        n.on_rest(&rk, body, LOCAL_TS, &mut out).expect("ratio");
        let [MarketEvent::LongShortRatio(r)] = &out.events[..] else {
            panic!("{:?}", out.events)
        };
        assert_eq!(
            (r.symbol.as_str(), r.market, r.kind),
            ("BTC-USDT-PERP", MarketType::Perpetual, kind)
        );
        assert_eq!(
            (dec_text(r.ratio).as_str(), r.period.as_str()),
            ("1.1739", "5m")
        );
        assert_eq!(r.exchange_ts, 1_701_417_600_000_000_000);
    }
    out.clear();
    let rk = RestKind::LongShortRatio {
        native_symbol: "BTC".into(),
        endpoint: "long-short-account-ratio?ccy=BTC&period=1H".into(),
    };
    n.on_rest(&rk, body, LOCAL_TS, &mut out).expect("ccy ratio");
    let [MarketEvent::LongShortRatio(r)] = &out.events[..] else {
        panic!("{:?}", out.events)
    };
    assert_eq!(
        (r.symbol.as_str(), r.market, r.period.as_str()),
        ("BTC", MarketType::Index, "1H")
    );
    let bad = RestKind::LongShortRatio {
        native_symbol: "BTC".into(),
        endpoint: "taker-volume".into(),
    };
    assert!(n.on_rest(&bad, body, LOCAL_TS, &mut out).is_err());
}
