//! REST bodies (corpus and documented-format fixtures) and control frames without a corpus
//! line (DVOL, perpetual interest, platform state, plain heartbeats).

use marketprism_core::model::{MarketEvent, MarketType, OptionType};

use super::{LOCAL_TS, d, feed, instruments, normalizer};
use crate::{
    Action, Exchange, ExchangeError, FrameKind, Normalizer, Output, RestKind,
    deribit::{Deribit, parse_instruments},
    testing::corpus_lines,
};

fn on_rest(kind: &RestKind, body: &str) -> Result<Vec<MarketEvent>, ExchangeError> {
    let mut n = normalizer();
    let mut out = Output::new();
    n.on_rest(kind, body, LOCAL_TS, &mut out)?;
    Ok(out.events)
}

#[test]
fn instruments_corpus() {
    let lines = corpus_lines("deribit", "rest_get_instruments.jsonl");
    let per_line: Vec<usize> = lines
        .iter()
        .map(|l| Deribit.parse_instruments(l).expect("instruments").len())
        .collect();
    // All futures, perpetuals and options of the 2021 capture (no combos then).
    assert_eq!(per_line, [398, 426, 177, 16]);
    let map = instruments();
    let get = |n: &str| map.by_native(n).unwrap_or_else(|| panic!("{n}")).clone();

    let perp = get("BTC-PERPETUAL");
    assert_eq!(
        (perp.symbol.as_str(), perp.market),
        ("BTC-USD-PERP", MarketType::Perpetual)
    );
    assert_eq!(
        (perp.tick_size, perp.lot_size, perp.contract_size),
        (Some(d("0.5")), Some(d("10")), Some(d("10")))
    );
    assert_eq!((perp.settle.as_deref(), perp.expiry), (Some("BTC"), None));

    let linear = get("BTC_USDC-PERPETUAL");
    assert_eq!(linear.symbol.as_str(), "BTC-USDC-PERP");
    assert_eq!(
        (linear.base.as_str(), linear.settle.as_deref()),
        ("BTC", Some("USDC"))
    );
    assert_eq!(linear.contract_size, Some(d("0.001")));

    let future = get("BTC-24JUN22");
    assert_eq!(future.symbol.as_str(), "BTC-USD-20220624");
    assert_eq!(future.expiry, Some(1_656_057_600_000_000_000));

    let option = get("ETH-30JUL21-2800-C");
    assert_eq!(option.symbol.as_str(), "ETH-USD-20210730-2800-C");
    assert_eq!(
        (option.strike, option.option_type),
        (Some(d("2800")), Some(OptionType::Call))
    );
    assert_eq!(option.settle.as_deref(), Some("ETH"));

    // Fixture: a 2022-format inverse option and a linear option with a fractional strike.
    assert_eq!(
        get("BTC-30DEC22-90000-P").symbol.as_str(),
        "BTC-USD-20221230-90000-P"
    );
    let matic = get("MATIC_USDC-9MAR24-1d02-C");
    assert_eq!(matic.symbol.as_str(), "MATIC-USDC-20240309-1d02-C");
    assert_eq!(matic.strike, Some(d("1.02")));
}

#[test]
fn order_book_corpus() {
    let lines = corpus_lines("deribit", "rest_get_order_book.jsonl");
    let expected = [
        ("BTC-USD-20220930", 45_305_026_640, "30718.5", "30723.0"),
        ("BTC-USD-PERP", 45_305_261_539, "30434.5", "30435.0"),
        ("ETH-USD-20220624-1600-P", 24_460_060_432, "0.033", "0.034"),
    ];
    for (line, (symbol, seq, bid, ask)) in lines.iter().zip(expected) {
        let kind = RestKind::DepthSnapshot {
            native_symbol: String::new(),
        };
        let events = on_rest(&kind, line).expect("order book");
        let [MarketEvent::BookSnapshot(s)] = events.as_slice() else {
            panic!("snapshot")
        };
        assert_eq!((s.symbol.as_str(), s.sequence), (symbol, seq));
        assert_eq!((s.bids.len(), s.asks.len()), (3, 3));
        assert_eq!((s.bids[0].price, s.asks[0].price), (d(bid), d(ask)));
        assert!(s.bids[0].price > s.bids[1].price && s.asks[0].price < s.asks[1].price);
    }
}

#[test]
fn book_summary_corpus() {
    let lines = corpus_lines("deribit", "rest_get_book_summary.jsonl");
    let oi = RestKind::OpenInterest {
        native_symbol: "BTC".to_owned(),
    };
    let events: Vec<Vec<MarketEvent>> = lines
        .iter()
        .map(|l| on_rest(&oi, l).expect("summary"))
        .collect();
    let kinds: Vec<Vec<&str>> = events
        .iter()
        .map(|e| e.iter().map(|e| e.kind().as_str()).collect())
        .collect();
    assert_eq!(
        kinds,
        [
            vec!["open_interest"],
            vec![
                "open_interest",
                "option_summary",
                "open_interest",
                "option_summary"
            ],
            vec!["open_interest"],
            vec!["open_interest", "option_summary"],
        ]
    );
    let MarketEvent::OpenInterest(o) = &events[0][0] else {
        panic!("oi")
    };
    assert_eq!(
        (o.symbol.as_str(), o.open_interest),
        ("BTC-USD-20220624", d("272308070"))
    );
    assert_eq!(o.exchange_ts, 1_654_341_687_529_000_000);
    let MarketEvent::OptionSummary(s) = &events[1][3] else {
        panic!("summary")
    };
    assert_eq!(s.symbol.as_str(), "BTC-USD-20221230-90000-P");
    assert_eq!(
        (s.open_interest, s.mark_price),
        (Some(d("8.1")), Some(d("1.98432769")))
    );
    assert_eq!(s.underlying_index.as_deref(), Some("BTC-30DEC22"));

    // The perpetual's summary also carries funding.
    let funding = RestKind::FundingRate {
        native_symbol: "BTC-PERPETUAL".to_owned(),
    };
    let events = on_rest(&funding, &lines[2]).expect("funding");
    let [MarketEvent::FundingRate(f)] = events.as_slice() else {
        panic!("funding")
    };
    assert_eq!(
        (f.symbol.as_str(), f.rate),
        ("BTC-USD-PERP", d("0.00000214"))
    );
}

#[test]
fn rest_errors() {
    let kind = RestKind::DepthSnapshot {
        native_symbol: "BTC-PERPETUAL".to_owned(),
    };
    let error = &corpus_lines("deribit", "errors.jsonl")[1];
    assert!(matches!(
        on_rest(&kind, error),
        Err(ExchangeError::Invalid { .. })
    ));
    assert!(matches!(
        on_rest(&kind, "{"),
        Err(ExchangeError::Malformed { .. })
    ));
    let ratio = RestKind::LongShortRatio {
        native_symbol: "BTC".to_owned(),
        endpoint: String::new(),
    };
    assert!(matches!(
        on_rest(&ratio, "{}"),
        Err(ExchangeError::Unsupported { .. })
    ));
}

/// `public/get_volatility_index_data` in the documented format (no corpus line exists).
#[test]
fn dvol_rest() {
    let body = r#"{"jsonrpc":"2.0","id":5,"result":{"data":[[1598019300000,0.210084879,0.212860821,0.210084879,0.212860821],[1598019360000,0.212860821,0.212860821,0.208702805,0.208702805],[1598019420000,0.209631514,0.209631514,0.209631514,0.209631514]],"continuation":null},"usIn":1598019475000000,"usOut":1598019475000210,"usDiff":210,"testnet":false}"#;
    let kind = RestKind::VolatilityIndex {
        currency: "BTC".to_owned(),
    };
    let events = on_rest(&kind, body).expect("dvol");
    let [MarketEvent::VolatilityIndex(v)] = events.as_slice() else {
        panic!("dvol")
    };
    assert_eq!(
        (v.symbol.as_str(), v.market),
        ("BTC-DVOL", MarketType::Index)
    );
    assert_eq!(
        (v.value, v.exchange_ts),
        (d("0.209631514"), 1_598_019_420_000_000_000)
    );
    let empty = r#"{"jsonrpc":"2.0","result":{"data":[],"continuation":null}}"#;
    assert!(on_rest(&kind, empty).expect("empty").is_empty());
}

/// Notifications in the documented format for channels without a corpus line.
#[test]
fn documented_notifications() {
    let mut n = normalizer();
    let steps = feed(
        &mut n,
        [
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_volatility_index.btc_usd","data":{"volatility":129.36,"timestamp":1619777946007,"index_name":"btc_usd"}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"perpetual.BTC-PERPETUAL.raw","data":{"interest":0.004999511380756577,"timestamp":1571386349530,"index_price":7872.88}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"platform_state","data":{"price_index":"sol_usdc","locked":true}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"announcements","data":{"action":"new","body":"Scheduled \"maintenance\"","id":1532593832021,"important":true,"publication_timestamp":1532593832021,"title":"Example"}}}"#,
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"markprice.options.btc_usd","data":[]}}"#,
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#,
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#,
        ],
    );
    let [MarketEvent::VolatilityIndex(v)] = steps[0].events.as_slice() else {
        panic!("dvol")
    };
    assert_eq!((v.symbol.as_str(), v.value), ("BTC-DVOL", d("129.36")));
    assert_eq!(v.exchange_ts, 1_619_777_946_007_000_000);
    let [MarketEvent::FundingRate(f)] = steps[1].events.as_slice() else {
        panic!("funding")
    };
    assert_eq!(
        (f.symbol.as_str(), f.rate),
        ("BTC-USD-PERP", d("0.004999511380756577"))
    );
    assert_eq!(f.index_price, Some(d("7872.88")));
    assert_eq!(steps[2].result.as_ref().ok(), Some(&FrameKind::Control));
    assert_eq!(steps[3].result.as_ref().ok(), Some(&FrameKind::Control));
    assert_eq!(steps[4].result.as_ref().ok(), Some(&FrameKind::Heartbeat));
    assert!(matches!(
        steps[5].result,
        Err(ExchangeError::Unsupported { .. })
    ));
    // Each test_request gets its own `public/test` with a fresh id.
    let ids: Vec<u64> = steps[6..]
        .iter()
        .map(|s| match s.actions.as_slice() {
            [Action::Send(text)] => {
                let v: serde_json::Value = serde_json::from_str(text).expect("json");
                v["id"].as_u64().expect("id")
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn venue_spec() {
    use crate::{Channel, Keepalive, Source, Subscription};
    let map = instruments();
    let perp = map.by_native("BTC-PERPETUAL").expect("perp");
    let option = map.by_native("ETH-30JUL21-2800-C").expect("option");
    assert_eq!(Deribit.source(Channel::Funding, perp), Source::WebSocket);
    assert_eq!(
        Deribit.source(Channel::Funding, option),
        Source::Unsupported
    );
    assert_eq!(
        Deribit.source(Channel::OptionSummary, option),
        Source::WebSocket
    );
    assert_eq!(
        Deribit.source(Channel::LongShortRatio, perp),
        Source::Unsupported
    );
    assert_eq!(
        Deribit.keepalive(),
        Keepalive::Heartbeat {
            interval: std::time::Duration::from_secs(10)
        }
    );
    assert_eq!(
        Deribit.ws_url("wss://www.deribit.com/ws/api/v2/", &[]),
        "wss://www.deribit.com/ws/api/v2"
    );
    let on_connect: serde_json::Value =
        serde_json::from_str(&Deribit.on_connect_frames(9)[0]).expect("json");
    assert_eq!(
        (on_connect["id"].as_u64(), on_connect["method"].as_str()),
        (Some(9), Some("public/set_heartbeat"))
    );
    assert_eq!(on_connect["params"]["interval"], 10);
    let subs: Vec<Subscription> = (0..250)
        .map(|i| Subscription::new(Channel::Trades, format!("BTC-{i}")))
        .collect();
    let frames = Deribit.unsubscribe_frames(&subs, 100);
    assert_eq!(frames.len(), 3);
    assert!(frames[2].contains(r#""id":102,"method":"public/unsubscribe""#));
    let requests = Deribit.instruments_requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| {
        r.path_and_query
            .starts_with("/api/v2/public/get_instruments?currency=any&kind=")
    }));
    assert!(Deribit.snapshot_request("BTC-PERPETUAL").is_none());
    // Index names select the index channel; DVOL is per currency.
    assert!(
        Deribit.subscribe_frames(&[Subscription::new(Channel::MarkPrice, "eth_usd")], 1)[0]
            .contains("deribit_price_index.eth_usd")
    );
    let body = corpus_lines("deribit", "rest_get_instruments.jsonl");
    assert_eq!(parse_instruments(&body[3]).map(|v| v.len()).ok(), Some(16));
}
