use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::Venue;
use crate::sim::Fault;
use crate::testing::okx_docs_checksum;

fn checksum(book: &Book) -> i32 {
    let text = |(p, s): (&Decimal, &Decimal)| format!("{}:{}", p.normalize(), s.normalize());
    okx_docs_checksum(book.bids.iter().rev().map(text), book.asks.iter().map(text))
}

#[tokio::test]
async fn books_snapshot_updates_checksums_and_truth() {
    let sim = start(
        SimConfig::new(Venue::Okx)
            .symbols(["BTC-USDT-SWAP", "ETH-USDT"])
            .rate(300.0)
            .seed(9),
    )
    .await;
    let mut ws = connect(&format!("{}/ws/v5/public", sim.ws_url())).await;
    let args = json!([{"channel": "books", "instId": "BTC-USDT-SWAP"}, {"channel": "trades", "instId": "BTC-USDT-SWAP"}, {"channel": "nope", "instId": "BTC-USDT-SWAP"}]);
    send(
        &mut ws,
        json!({"id": "42", "op": "subscribe", "args": args}),
    )
    .await;
    let ack = wait_json(&mut ws, |v| v["event"] == "subscribe").await;
    assert_eq!((&ack["arg"], &ack["id"]), (&args[0], &json!("42")));
    assert!(ack["connId"].is_string());
    let frames = collect_for(&mut ws, Duration::from_millis(200)).await;
    sim.pause();
    let mut frames: Vec<Value> = frames
        .into_iter()
        .chain(drain(&mut ws, Duration::from_millis(300)).await)
        .collect();
    frames.retain(|f| f["event"] != "subscribe" || f["arg"]["channel"] != "books");
    assert!(
        frames
            .iter()
            .any(|f| f["event"] == "subscribe" && f["arg"]["channel"] == "trades")
    );
    let err = frames.iter().find(|f| f["event"] == "error").unwrap();
    assert_eq!(err["code"], "60018");
    let mut book = Book::default();
    let mut seq: Option<i64> = None;
    let mut updates = 0;
    let mut trades = Vec::new();
    for f in &frames {
        match f["arg"]["channel"].as_str() {
            Some("books") => {
                let d = &f["data"][0];
                if f["action"] == "snapshot" {
                    assert_eq!(d["prevSeqId"], -1);
                    assert!(seq.is_none());
                } else {
                    assert_eq!(d["prevSeqId"].as_i64(), seq, "chain");
                    updates += 1;
                }
                seq = d["seqId"].as_i64();
                for (side, key) in [(&mut book.bids, "bids"), (&mut book.asks, "asks")] {
                    for l in d[key].as_array().unwrap() {
                        assert_eq!(l.as_array().unwrap().len(), 4);
                        Book::set(side, dec(&l[0]), dec(&l[1]));
                    }
                }
                assert_eq!(d["checksum"].as_i64(), Some(checksum(&book) as i64));
            }
            Some("trades") if f.get("data").is_some() => trades.push(
                f["data"][0]["tradeId"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            ),
            _ => {}
        }
    }
    assert!(updates > 5);
    assert_eq!(
        Some(book.assert_matches(&sim, "BTC-USDT-SWAP").await as i64),
        seq
    );
    assert!(trades.windows(2).all(|w| w[1] == w[0] + 1));
    // Ping/pong, notice, REST.
    ws.send(tokio_tungstenite::tungstenite::Message::Text("ping".into()))
        .await
        .unwrap();
    loop {
        if let Seen::Text(t) = next(&mut ws, Duration::from_secs(2)).await {
            assert_eq!(t, "pong");
            break;
        }
    }
    sim.inject(&Fault::Shutdown { conn: None });
    let n = wait_json(&mut ws, |v| v["event"] == "notice").await;
    assert_eq!(n["code"], "64008");
    let inst = get_json(&sim, "/api/v5/public/instruments?instType=SWAP").await;
    assert_eq!(inst["data"][0]["instId"], "BTC-USDT-SWAP");
    assert_eq!(inst["data"][0]["tickSz"], "0.1");
    let b = get_json(&sim, "/api/v5/market/books?instId=ETH-USDT&sz=5").await;
    assert_eq!(b["data"][0]["asks"].as_array().unwrap().len(), 5);
    let oi = get_json(&sim, "/api/v5/public/open-interest?instType=SWAP").await;
    assert_eq!(oi["data"].as_array().unwrap().len(), 1);
    let r = get_json(
        &sim,
        "/api/v5/rubik/stat/contracts/long-short-account-ratio?ccy=BTC&period=5m",
    )
    .await;
    assert!(r["data"][0][1].is_string());
}

#[tokio::test]
async fn checksum_zero_gap_and_other_channels() {
    let config = SimConfig::new(Venue::Okx)
        .symbols(["BTC-USDT-SWAP"])
        .rate(200.0)
        .okx_checksum(false)
        .periodic_interval(Duration::from_millis(50));
    let sim = start(config).await;
    let mut ws = connect(&format!("{}/ws/v5/business", sim.ws_url())).await;
    let chans = [
        "books",
        "books5",
        "bbo-tbt",
        "tickers",
        "funding-rate",
        "open-interest",
        "mark-price",
        "candle1m",
    ];
    let args: Vec<Value> = chans
        .iter()
        .map(|c| json!({"channel": c, "instId": "BTC-USDT-SWAP"}))
        .collect();
    let mut args = args;
    args.push(json!({"channel": "liquidation-orders", "instType": "SWAP"}));
    send(&mut ws, json!({"op": "subscribe", "args": args})).await;
    let snap = wait_json(&mut ws, |v| v["action"] == "snapshot").await;
    let mut seq = snap["data"][0]["seqId"].as_i64().unwrap();
    sim.inject(&Fault::Gap {
        symbol: None,
        skip: 4,
    });
    let mut seen = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut gap = false;
    while tokio::time::Instant::now() < deadline && (!gap || seen.len() < chans.len() + 1) {
        let f = wait_json(&mut ws, |v| v.get("data").is_some()).await;
        let ch = f["arg"]["channel"].as_str().unwrap().to_owned();
        if ch == "books" {
            let d = &f["data"][0];
            assert_eq!(d["checksum"], 0);
            if d["prevSeqId"].as_i64() != Some(seq) {
                assert_eq!(d["prevSeqId"].as_i64(), Some(seq + 4));
                gap = true;
            }
            seq = d["seqId"].as_i64().unwrap();
        }
        seen.insert(ch);
    }
    assert!(gap, "no gap seen");
    assert_eq!(seen.len(), chans.len() + 1, "{seen:?}");
    assert_eq!(
        sim.stats().connections[0].subscriptions.len(),
        chans.len() + 1
    );
}

/// A real exchange sends every connection the same frames: a snapshot of one book state
/// carries that state's time (not the time of sending), and streamed updates are stamped
/// once. Redundant collectors rely on it (their events must have one identity).
#[tokio::test]
async fn every_connection_gets_the_same_frames() {
    let sim = start(
        SimConfig::new(Venue::Okx)
            .symbols(["BTC-USDT"])
            .rate(200.0)
            .seed(5),
    )
    .await;
    let url = format!("{}/ws/v5/public", sim.ws_url());
    let args = json!([{"channel": "books", "instId": "BTC-USDT"}, {"channel": "trades", "instId": "BTC-USDT"}]);
    // Let the book move, then freeze it: two subscriptions 300 ms apart see one book state.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.pause();
    let mut a = connect(&url).await;
    send(&mut a, json!({"op": "subscribe", "args": args})).await;
    let snap_a = wait_json(&mut a, |v| v["action"] == "snapshot").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut b = connect(&url).await;
    send(&mut b, json!({"op": "subscribe", "args": args})).await;
    let snap_b = wait_json(&mut b, |v| v["action"] == "snapshot").await;
    assert_eq!(
        snap_a["data"], snap_b["data"],
        "one book state, one snapshot"
    );
    // Streamed updates: the same frames on both connections.
    sim.resume();
    let frames_a = collect_for(&mut a, Duration::from_millis(400)).await;
    let frames_b = collect_for(&mut b, Duration::from_millis(600)).await;
    let data = |frames: &[Value]| -> Vec<Value> {
        frames
            .iter()
            .filter(|f| f["data"].is_array())
            .map(|f| f["data"].clone())
            .collect()
    };
    let (da, db) = (data(&frames_a), data(&frames_b));
    assert!(da.len() > 10, "{} frames", da.len());
    let n = da.len().min(db.len());
    assert_eq!(da[..n], db[..n]);
}
