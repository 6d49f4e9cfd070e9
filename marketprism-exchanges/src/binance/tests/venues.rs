//! COIN-M (no corpus: frames written in the documented format), long/short ratios (fixtures),
//! and the `Exchange` details of the three venues.

use marketprism_core::model::{MarketEvent, MarketType, RatioKind, Side, StatusKind};
use rust_decimal::Decimal;

use super::*;
use crate::{Action, Channel, Exchange, Keepalive, RestKind, Source, Subscription, Venue};

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn rest(n: &mut BinanceNormalizer, kind: RestKind, body: &str) -> Output {
    let mut out = Output::new();
    n.on_rest(&kind, body, LOCAL, &mut out)
        .expect("rest body accepted");
    out
}

#[test]
fn coinm_market_frames() {
    let mut n = coinm();
    let (r, out) = feed(
        &mut n,
        r#"{"stream":"btcusd_perp@trade","data":{"e":"trade","E":1591261134288,"T":1591261134280,"s":"BTCUSD_PERP","t":123,"p":"9500.0","q":"5","X":"MARKET","m":false}}"#,
    );
    assert_eq!(r.expect("trade"), FrameKind::Data);
    let [MarketEvent::Trade(t)] = out.events.as_slice() else {
        panic!("trade")
    };
    assert_eq!(
        (t.symbol.as_str(), t.side, t.size),
        ("BTC-USD-PERP", Side::Buy, d("5"))
    );
    assert_eq!(t.exchange_ts, 1_591_261_134_280_000_000);

    let (_, out) = feed(
        &mut n,
        r#"{"e":"aggTrade","E":1591261134288,"a":724,"s":"BTCUSD_260626","p":"9643.5","q":"2","f":1,"l":1,"T":1591261134199,"m":true}"#,
    );
    let [MarketEvent::Trade(t)] = out.events.as_slice() else {
        panic!("aggTrade")
    };
    assert_eq!(
        (t.symbol.as_str(), t.trade_id.as_str(), t.side),
        ("BTC-USD-20260626", "724", Side::Sell)
    );
    assert_eq!(t.market, MarketType::Future);

    // `v` is contracts; the quote (USD) volume is v × contractSize (100).
    let (_, out) = feed(
        &mut n,
        r#"{"stream":"btcusd_perp@ticker","data":{"e":"24hrTicker","E":1591268262453,"s":"BTCUSD_PERP","ps":"BTCUSD","p":"-43.4","P":"-0.452","w":"0.00147974","c":"9548.5","Q":"2","o":"9591.9","h":"10000.0","l":"9450.4","v":"1034010","q":"108.88766651","O":1591181820000,"C":1591268262442,"F":512014,"L":615289,"n":103272}}"#,
    );
    let [MarketEvent::Ticker(t)] = out.events.as_slice() else {
        panic!("ticker")
    };
    assert_eq!(
        (t.volume_24h, t.quote_volume_24h),
        (Some(d("1034010")), Some(d("103401000")))
    );

    let (_, out) = feed(
        &mut n,
        r#"{"e":"kline","E":1591267070033,"s":"BTCUSD_PERP","k":{"t":1591267020000,"T":1591267079999,"s":"BTCUSD_PERP","i":"1m","f":606400,"L":606430,"o":"9638.9","c":"9639.8","h":"9639.8","l":"9638.6","v":"156","n":31,"x":false,"q":"1.61836886","V":"73","Q":"0.75731156","B":"0"}}"#,
    );
    let [MarketEvent::Kline(k)] = out.events.as_slice() else {
        panic!("kline")
    };
    assert_eq!(k.quote_volume, Some(d("15600")));

    let (_, out) = feed(
        &mut n,
        r#"{"e":"bookTicker","u":17242169,"s":"BTCUSD_PERP","ps":"BTCUSD","b":"9548.1","B":"52","a":"9548.5","A":"11","T":1591268628155,"E":1591268628166}"#,
    );
    let [MarketEvent::Bbo(b)] = out.events.as_slice() else {
        panic!("bbo")
    };
    assert_eq!(
        (b.bid_size, b.sequence, b.exchange_ts),
        (d("52"), Some(17242169), 1_591_268_628_155_000_000)
    );

    let (_, out) = feed(
        &mut n,
        r#"{"e":"forceOrder","E":1591154240950,"o":{"s":"BTCUSD_PERP","ps":"BTCUSD","S":"SELL","o":"LIMIT","f":"IOC","q":"1","p":"9425.5","ap":"9496.5","X":"FILLED","l":"1","z":"1","T":1591154240949}}"#,
    );
    let [MarketEvent::Liquidation(l)] = out.events.as_slice() else {
        panic!("liquidation")
    };
    assert_eq!((l.side, l.price, l.size), (Side::Sell, d("9496.5"), d("1")));
}

#[test]
fn coinm_mark_price_funding_only_for_perpetuals() {
    let mut n = coinm();
    let (_, out) = feed(
        &mut n,
        r#"{"stream":"btcusd_perp@markPrice@1s","data":{"e":"markPriceUpdate","E":1596095725000,"s":"BTCUSD_PERP","p":"11012.31359011","P":"10962.17178236","i":"10933.62615417","r":"0.00010000","T":1596096000000}}"#,
    );
    let [MarketEvent::MarkPrice(m), MarketEvent::FundingRate(f)] = out.events.as_slice() else {
        panic!("{:?}", out.events)
    };
    assert_eq!(
        (m.mark_price, m.index_price),
        (Some(d("11012.31359011")), Some(d("10933.62615417")))
    );
    assert_eq!(
        (f.rate, f.next_funding_ts),
        (d("0.00010000"), Some(1_596_096_000_000_000_000))
    );
    // Delivery contract: empty funding rate, no FundingRate event.
    let (_, out) = feed(
        &mut n,
        r#"{"e":"markPriceUpdate","E":1596095725000,"s":"BTCUSD_260626","p":"10934.62615417","P":"10962.17178236","i":"10933.62615417","r":"","T":0}"#,
    );
    assert!(matches!(out.events.as_slice(), [MarketEvent::MarkPrice(_)]));
}

#[test]
fn coinm_book_sync_with_pair_fields() {
    let mut n = coinm();
    let diff = |u0: u64, u1: u64, pu: u64, bid: &str| {
        format!(
            r#"{{"stream":"btcusd_perp@depth@100ms","data":{{"e":"depthUpdate","E":1591270260907,"T":1591270260891,"s":"BTCUSD_PERP","ps":"BTCUSD","U":{u0},"u":{u1},"pu":{pu},"b":[["{bid}","10"]],"a":[["9518.5","45"]]}}}}"#
        )
    };
    let (_, out) = feed(&mut n, &diff(17285600, 17285675, 17285500, "9517.0"));
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "BTCUSD_PERP".to_owned()
        }]
    );
    let (_, out) = feed(&mut n, &diff(17285681, 17285702, 17285675, "9517.6"));
    assert!(out.actions.is_empty(), "one request per instrument");
    let snap = r#"{"lastUpdateId":17285690,"symbol":"BTCUSD_PERP","pair":"BTCUSD","E":1591250106370,"T":1591250106368,"bids":[["9517.6","5"],["9517.0","3"]],"asks":[["9518.5","40"],["9519.0","7"]]}"#;
    let out = rest(
        &mut n,
        RestKind::DepthSnapshot {
            native_symbol: "BTCUSD_PERP".to_owned(),
        },
        snap,
    );
    let [MarketEvent::BookSnapshot(s), MarketEvent::BookDelta(delta)] = out.events.as_slice()
    else {
        panic!("{:?}", out.events)
    };
    assert_eq!(
        (s.sequence, s.exchange_ts),
        (17285690, 1_591_250_106_368_000_000)
    );
    assert_eq!((delta.prev_sequence, delta.sequence), (17285690, 17285702));
    assert_eq!(s.symbol.as_str(), "BTC-USD-PERP");
    let (_, out) = feed(&mut n, &diff(17285703, 17285710, 17285702, "9517.5"));
    assert!(
        matches!(out.events.as_slice(), [MarketEvent::BookDelta(d)] if d.prev_sequence == 17285702)
    );
    let (_, out) = feed(&mut n, &diff(17285720, 17285730, 17285715, "9517.5"));
    assert_eq!(
        statuses(&out)[0],
        &StatusKind::Gap {
            expected: 17285710,
            received: 17285715
        }
    );
    assert_eq!(
        out.actions,
        [Action::FetchSnapshot {
            native_symbol: "BTCUSD_PERP".to_owned()
        }]
    );
}

#[test]
fn coinm_open_interest_is_valued() {
    let mut n = coinm();
    let out = rest(
        &mut n,
        RestKind::OpenInterest {
            native_symbol: "BTCUSD_PERP".to_owned(),
        },
        r#"{"symbol":"BTCUSD_PERP","pair":"BTCUSD","openInterest":"15004","contractType":"PERPETUAL","time":1591261042378}"#,
    );
    let [MarketEvent::OpenInterest(oi)] = out.events.as_slice() else {
        panic!("oi")
    };
    assert_eq!(
        (oi.open_interest, oi.open_interest_value),
        (d("15004"), Some(d("1500400")))
    );
}

#[test]
fn long_short_ratios() {
    let mut n = usdm();
    for (endpoint, body, kind, count) in [
        (
            "topLongShortPositionRatio",
            include_str!("../../../tests/fixtures/binance/topLongShortPositionRatio_usdm.json"),
            RatioKind::TopTraderPositions,
            2,
        ),
        (
            "topLongShortAccountRatio",
            include_str!("../../../tests/fixtures/binance/topLongShortAccountRatio_usdm.json"),
            RatioKind::TopTraderAccounts,
            1,
        ),
        (
            "globalLongShortAccountRatio",
            include_str!("../../../tests/fixtures/binance/globalLongShortAccountRatio_usdm.json"),
            RatioKind::AllAccounts,
            1,
        ),
    ] {
        let k = RestKind::LongShortRatio {
            native_symbol: "BTCUSDT".to_owned(),
            endpoint: endpoint.to_owned(),
        };
        let out = rest(&mut n, k, body);
        assert_eq!(out.events.len(), count);
        let MarketEvent::LongShortRatio(r) = &out.events[0] else {
            panic!("ratio")
        };
        assert_eq!(
            (r.kind, r.period.as_str(), r.symbol.as_str()),
            (kind, "5m", "BTC-USDT-PERP")
        );
        assert_eq!(r.exchange_ts, 1_583_139_600_000_000_000);
        assert!(r.long_share.is_some() && r.short_share.is_some());
    }
    let out = rest(
        &mut n,
        RestKind::LongShortRatio {
            native_symbol: "BTCUSDT".to_owned(),
            endpoint: "/futures/data/topLongShortPositionRatio?period=1h".to_owned(),
        },
        include_str!("../../../tests/fixtures/binance/topLongShortPositionRatio_usdm.json"),
    );
    let MarketEvent::LongShortRatio(r) = &out.events[0] else {
        panic!("ratio")
    };
    assert_eq!((r.period.as_str(), r.ratio), ("1h", d("1.4342")));
    // COIN-M answers per pair; the ratio is attributed to the pair's perpetual.
    let mut c = coinm();
    let out = rest(
        &mut c,
        RestKind::LongShortRatio {
            native_symbol: "BTCUSD".to_owned(),
            endpoint: "topLongShortPositionRatio".to_owned(),
        },
        include_str!("../../../tests/fixtures/binance/topLongShortPositionRatio_coinm.json"),
    );
    let [MarketEvent::LongShortRatio(r)] = out.events.as_slice() else {
        panic!("ratio")
    };
    assert_eq!(
        (r.symbol.as_str(), r.long_share, r.short_share),
        ("BTC-USD-PERP", Some(d("0.6442")), Some(d("0.4404")))
    );
    let mut o = Output::new();
    let bad = RestKind::LongShortRatio {
        native_symbol: "BTCUSDT".to_owned(),
        endpoint: "takerlongshortRatio".to_owned(),
    };
    assert!(n.on_rest(&bad, "[]", LOCAL, &mut o).is_err());
}

#[test]
fn venue_specs() {
    assert_eq!(BinanceSpot::VENUE, Venue::BinanceSpot);
    assert_eq!(
        (
            BinanceSpot.max_streams_per_connection(),
            BinanceSpot.max_subscribe_messages_per_sec()
        ),
        (1024, 5)
    );
    assert_eq!(
        (
            BinanceUsdm.max_streams_per_connection(),
            BinanceUsdm.max_subscribe_messages_per_sec()
        ),
        (200, 10)
    );
    assert_eq!(
        (
            BinanceSpot.rest_weight_per_minute(),
            BinanceCoinm.rest_weight_per_minute()
        ),
        (6000, 2400)
    );
    assert_eq!(BinanceUsdm.keepalive(), Keepalive::ServerPing);
    assert_eq!(
        BinanceCoinm.max_connection_lifetime(),
        Some(std::time::Duration::from_secs(86_400))
    );
    assert_eq!(BinanceUsdm.rest_base_url(), "https://fapi.binance.com");
    assert_eq!(BinanceCoinm.ws_base_url(), "wss://dstream.binance.com");
    assert_eq!(
        BinanceCoinm.ws_url(BinanceCoinm.ws_base_url(), &[]),
        "wss://dstream.binance.com/stream"
    );
    assert_eq!(
        BinanceUsdm.instruments_requests()[0].path_and_query,
        "/fapi/v1/exchangeInfo"
    );
    assert_eq!(
        BinanceUsdm.snapshot_request("BTCUSDT").map(|r| r.weight),
        Some(20)
    );
    assert!(BinanceSpot.on_connect_frames(1).is_empty());
    assert_eq!(
        BinanceSpot.unsubscribe_frames(&[Subscription::new(Channel::Book, "BTCUSDT")], 9),
        [r#"{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms"],"id":9}"#]
    );
    let many: Vec<_> = (0..250)
        .map(|i| Subscription::new(Channel::Trades, format!("S{i}USDT")))
        .collect();
    assert_eq!(BinanceSpot.subscribe_frames(&many, 1).len(), 3);

    let usdm_map = super::map::<BinanceUsdm>(USDM_INFO);
    let perp = usdm_map.by_native("BTCUSDT").expect("perp");
    let fut = usdm_map.by_native("BTCUSDT_220624").expect("future");
    assert_eq!(
        BinanceUsdm.source(Channel::Funding, perp),
        Source::WebSocket
    );
    assert_eq!(
        BinanceUsdm.source(Channel::Funding, fut),
        Source::Unsupported
    );
    assert_eq!(
        BinanceUsdm.source(Channel::OpenInterest, fut),
        Source::Poll(crate::binance::OPEN_INTEREST_POLL)
    );
    assert_eq!(
        BinanceUsdm.source(Channel::LongShortRatio, perp),
        Source::Poll(crate::binance::RATIO_POLL)
    );
    assert_eq!(
        BinanceUsdm.source(Channel::OptionSummary, perp),
        Source::Unsupported
    );
    let spot_map = super::map::<BinanceSpot>(SPOT_INFO);
    let btc = spot_map.by_native("BTCUSDT").expect("spot");
    assert_eq!(BinanceSpot.source(Channel::Book, btc), Source::WebSocket);
    assert_eq!(
        BinanceSpot.source(Channel::Liquidations, btc),
        Source::Unsupported
    );
    let polls = BinanceUsdm.poll_requests(&Subscription::new(Channel::OpenInterest, "BTCUSDT"));
    assert_eq!(
        polls[0].0.path_and_query,
        "/fapi/v1/openInterest?symbol=BTCUSDT"
    );
    assert_eq!(
        polls[0].1,
        RestKind::OpenInterest {
            native_symbol: "BTCUSDT".to_owned()
        }
    );
    assert_eq!(
        BinanceUsdm
            .poll_requests(&Subscription::new(Channel::LongShortRatio, "BTCUSDT"))
            .len(),
        3
    );
    assert!(
        BinanceSpot
            .poll_requests(&Subscription::new(Channel::OpenInterest, "BTCUSDT"))
            .is_empty()
    );
}
