use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::Venue;
use crate::sim::Fault;

fn data(v: &Value) -> &Value {
    v.get("data").unwrap_or(v)
}

fn is_depth(v: &Value) -> bool {
    data(v)["e"] == "depthUpdate"
}

/// Subscribes, bridges a REST snapshot into the diff stream, pauses, and checks the
/// rebuilt book equals the truth; also checks trade ids and stats.
async fn book_equality(venue: Venue, symbol: &str, prefix: &str) {
    let sim = start(
        SimConfig::new(venue)
            .symbols([symbol])
            .rate(300.0)
            .seed(3)
            .book_depth(30),
    )
    .await;
    let lower = symbol.to_lowercase();
    let mut ws = connect(&format!(
        "{}/stream?streams={lower}@depth@100ms",
        sim.ws_url()
    ))
    .await;
    send(
        &mut ws,
        json!({"method": "SUBSCRIBE", "params": [format!("{lower}@aggTrade")], "id": 7}),
    )
    .await;
    let ack = wait_json(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(ack, json!({"result": null, "id": 7}));
    let mut frames = vec![wait_json(&mut ws, is_depth).await];
    let (status, headers, body) = http(
        &sim,
        "GET",
        &format!("{prefix}/depth?symbol={symbol}&limit=1000"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("x-mbx-used-weight-1m"));
    let snap: Value = serde_json::from_str(&body).unwrap();
    frames.extend(collect_for(&mut ws, Duration::from_millis(150)).await);
    sim.pause();
    frames.extend(drain(&mut ws, Duration::from_millis(300)).await);

    let last_id = snap["lastUpdateId"].as_u64().unwrap();
    let mut book = Book::default();
    Book::apply_levels(&mut book.bids, &snap["bids"]);
    Book::apply_levels(&mut book.asks, &snap["asks"]);
    let spot = venue == Venue::BinanceSpot;
    let mut prev_u: Option<u64> = None;
    let mut applied = 0;
    let mut trades = Vec::new();
    for f in &frames {
        let d = data(f);
        if d["e"] == "aggTrade" {
            trades.push(d["a"].as_u64().unwrap());
            continue;
        }
        if !is_depth(f) {
            continue;
        }
        assert!(f["stream"].as_str().unwrap().ends_with("@depth@100ms"));
        let (first, last) = (d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap());
        match prev_u {
            None if spot && last <= last_id => continue,
            None if !spot && last < last_id => continue,
            None if spot => assert!(
                first <= last_id + 1 && last_id < last,
                "bridge {first} {last} {last_id}"
            ),
            None => assert!(
                first <= last_id && last_id <= last,
                "bridge {first} {last} {last_id}"
            ),
            Some(p) if spot => assert_eq!(first, p + 1),
            Some(p) => assert_eq!(d["pu"].as_u64().unwrap(), p),
        }
        prev_u = Some(last);
        Book::apply_levels(&mut book.bids, &d["b"]);
        Book::apply_levels(&mut book.asks, &d["a"]);
        applied += 1;
    }
    assert!(applied > 5, "only {applied} diffs applied");
    let seq = book.assert_matches(&sim, symbol).await;
    assert_eq!(Some(seq), prev_u);
    // Trades: strictly increasing by one; the stats agree.
    assert!(trades.windows(2).all(|w| w[1] == w[0] + 1), "{trades:?}");
    let stats = sim.stats();
    let s = &stats.symbols[symbol];
    assert_eq!(s.last_trade_id, trades.last().copied());
    assert_eq!(
        s.trades,
        s.last_trade_id.unwrap() - s.first_trade_id.unwrap() + 1
    );
    assert_eq!(s.sequence, seq);
    assert_eq!(stats.connections.len(), 1);
    assert_eq!(stats.connections[0].subscriptions.len(), 2);
    let ids = get_json(&sim, &format!("/_sim/trades?symbol={symbol}")).await;
    assert_eq!(ids["ids"].as_array().unwrap().len() as u64, s.trades);
}

#[tokio::test]
async fn spot_snapshot_and_diffs_rebuild_the_truth_book() {
    book_equality(Venue::BinanceSpot, "BTCUSDT", "/api/v3").await;
}

#[tokio::test]
async fn usdm_snapshot_and_diffs_rebuild_the_truth_book() {
    book_equality(Venue::BinanceUsdm, "ETHUSDT", "/fapi/v1").await;
}

#[tokio::test]
async fn coinm_snapshot_and_diffs_rebuild_the_truth_book() {
    book_equality(Venue::BinanceCoinm, "BTCUSD_PERP", "/dapi/v1").await;
}

#[tokio::test]
async fn control_errors_and_limits() {
    let sim = start(
        SimConfig::new(Venue::BinanceUsdm)
            .symbols(["BTCUSDT"])
            .max_streams(2),
    )
    .await;
    let mut ws = connect(&format!("{}/public/ws", sim.ws_url())).await;
    send(
        &mut ws,
        json!({"method": "SUBSCRIBE", "params": ["btcusdt@nope"], "id": 1}),
    )
    .await;
    let e = wait_json(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(
        e,
        json!({"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1})
    );
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        "{nope".into(),
    ))
    .await
    .unwrap();
    let e = wait_json(&mut ws, |v| v.get("error").is_some()).await;
    assert_eq!(
        (e["error"]["code"].as_i64(), &e["id"]),
        (Some(3), &Value::Null)
    );
    let three = ["btcusdt@depth", "btcusdt@trade", "btcusdt@markPrice@1s"];
    send(
        &mut ws,
        json!({"method": "SUBSCRIBE", "params": three, "id": 2}),
    )
    .await;
    let e = wait_json(&mut ws, |v| v.get("id").is_some()).await;
    assert!(
        e["error"]["msg"]
            .as_str()
            .unwrap()
            .contains("too many streams"),
        "{e}"
    );
    send(&mut ws, json!({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s", "!forceOrder@arr"], "id": 3})).await;
    assert_eq!(
        wait_json(&mut ws, |v| v.get("id").is_some()).await,
        json!({"result": null, "id": 3})
    );
    send(&mut ws, json!({"method": "LIST_SUBSCRIPTIONS", "id": 4})).await;
    let l = wait_json(&mut ws, |v| v.get("id").is_some()).await;
    assert_eq!(
        l["result"],
        json!(["btcusdt@markPrice@1s", "!forceOrder@arr"])
    );
    let m = wait_json(&mut ws, |v| v["e"] == "markPriceUpdate").await;
    assert!(
        m["p"].is_string() && m["r"].is_string() && m["T"].is_i64(),
        "{m}"
    );
    // REST extras.
    let info = get_json(&sim, "/fapi/v1/exchangeInfo").await;
    let s = &info["symbols"][0];
    assert_eq!(
        (s["symbol"].as_str(), s["contractType"].as_str()),
        (Some("BTCUSDT"), Some("PERPETUAL"))
    );
    assert_eq!(s["filters"][0]["tickSize"], "0.1");
    let oi = get_json(&sim, "/fapi/v1/openInterest?symbol=BTCUSDT").await;
    assert!(oi["openInterest"].is_string());
    let r = get_json(
        &sim,
        "/futures/data/globalLongShortAccountRatio?symbol=BTCUSDT&period=5m&limit=3",
    )
    .await;
    assert_eq!(r.as_array().unwrap().len(), 3);
    let p = get_json(&sim, "/fapi/v1/premiumIndex?symbol=BTCUSDT").await;
    assert!(p["lastFundingRate"].is_string());
    let (status, _, body) = http(&sim, "GET", "/fapi/v1/depth?symbol=NOPE", "").await;
    assert_eq!((status, body.contains("-1121")), (400, true));
}

#[tokio::test]
async fn faults_gap_malformed_shutdown_drop() {
    let config = SimConfig::new(Venue::BinanceSpot)
        .symbols(["BTCUSDT"])
        .rate(200.0)
        .shutdown_grace(Duration::from_millis(200));
    let sim = start(config).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@depth", sim.ws_url())).await;
    let first = wait_json(&mut ws, is_depth).await;
    let mut prev = first["u"].as_u64().unwrap();
    let targets = post(
        &sim,
        "/_sim/faults",
        json!({"type": "gap", "symbol": "BTCUSDT", "skip": 5}),
    )
    .await;
    assert_eq!(targets["targets"], 1);
    loop {
        let d = wait_json(&mut ws, is_depth).await;
        let u = d["U"].as_u64().unwrap();
        if u != prev + 1 {
            assert_eq!(u, prev + 1 + 5);
            break;
        }
        prev = d["u"].as_u64().unwrap();
    }
    sim.inject(&Fault::Malformed { conn: None });
    loop {
        match next(&mut ws, Duration::from_secs(2)).await {
            Seen::Text(t) => {
                assert!(serde_json::from_str::<Value>(&t).is_err());
                break;
            }
            Seen::Json(_) | Seen::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    sim.inject(&Fault::Shutdown { conn: None });
    wait_json(&mut ws, |v| v["e"] == "serverShutdown").await;
    loop {
        match next(&mut ws, Duration::from_secs(2)).await {
            Seen::Close(code) => {
                assert_eq!(code, Some(1001));
                break;
            }
            Seen::Json(_) | Seen::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    let mut ws = connect(&format!("{}/ws/btcusdt@trade", sim.ws_url())).await;
    wait_json(&mut ws, |v| v["e"] == "trade").await;
    let id = sim.stats().connections[0].id;
    assert_eq!(
        sim.inject(&Fault::Drop {
            conn: Some(id + 100),
            symbol: None
        }),
        0
    );
    assert_eq!(
        sim.inject(&Fault::Drop {
            conn: None,
            symbol: Some("BTCUSDT".into())
        }),
        1
    );
    loop {
        match next(&mut ws, Duration::from_secs(2)).await {
            Seen::Dropped => break,
            Seen::Json(_) | Seen::Ping => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn faults_stall_lifetime_and_rest_rate_limit() {
    let config = SimConfig::new(Venue::BinanceUsdm)
        .symbols(["BTCUSDT"])
        .rate(200.0)
        .ping_interval(Duration::from_millis(50));
    let sim = start(config).await;
    let mut ws = connect(&format!(
        "{}/market/stream?streams=btcusdt@aggTrade",
        sim.ws_url()
    ))
    .await;
    let mut pings = 0;
    while pings < 2 {
        if let Seen::Ping = next(&mut ws, Duration::from_secs(1)).await {
            pings += 1;
        }
    }
    sim.inject(&Fault::Stall {
        conn: None,
        duration_ms: 400,
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    drain(&mut ws, Duration::from_millis(1)).await;
    // Nothing at all (no data, no ping) during the stall.
    let t0 = tokio::time::Instant::now();
    match next(&mut ws, Duration::from_millis(300)).await {
        Seen::Timeout => {}
        other => panic!("during stall: {other:?} after {:?}", t0.elapsed()),
    }
    wait_json(&mut ws, |v| v["data"]["e"] == "aggTrade").await;
    // Max lifetime applies to open connections.
    post(
        &sim,
        "/_sim/faults",
        json!([{"type": "max_lifetime", "ms": 200}]),
    )
    .await;
    loop {
        match next(&mut ws, Duration::from_secs(2)).await {
            Seen::Close(code) => {
                assert_eq!(code, Some(1000));
                break;
            }
            Seen::Json(_) | Seen::Ping => {}
            other => panic!("{other:?}"),
        }
    }
    sim.inject(&Fault::RestRateLimit {
        status: 429,
        retry_after_s: 7,
        count: 2,
    });
    for _ in 0..2 {
        let (status, headers, _) = http(&sim, "GET", "/fapi/v1/depth?symbol=BTCUSDT", "").await;
        assert_eq!(
            (status, headers.get("retry-after").map(String::as_str)),
            (429, Some("7"))
        );
        assert!(headers.contains_key("x-mbx-used-weight-1m"));
    }
    let (status, _, _) = http(&sim, "GET", "/fapi/v1/depth?symbol=BTCUSDT", "").await;
    assert_eq!(status, 200);
    sim.inject(&Fault::RestRateLimit {
        status: 418,
        retry_after_s: 60,
        count: 1,
    });
    assert_eq!(http(&sim, "GET", "/fapi/v1/exchangeInfo", "").await.0, 418);
    let stats = get_json(&sim, "/_sim/stats").await;
    assert_eq!(
        (
            stats["rest"]["calls"].as_u64(),
            stats["rest"]["rate_limited"].as_u64()
        ),
        (Some(4), Some(3))
    );
}
