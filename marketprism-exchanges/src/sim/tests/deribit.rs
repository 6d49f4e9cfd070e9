use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::Venue;
use crate::sim::Fault;

fn rpc(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[tokio::test]
async fn book_chain_truth_heartbeat_and_shutdown() {
    let config = SimConfig::new(Venue::Deribit)
        .symbols(["BTC-PERPETUAL", "BTC-27JUN25-60000-C"])
        .rate(300.0)
        .periodic_interval(Duration::from_millis(50))
        .min_heartbeat(Duration::from_millis(100))
        .shutdown_grace(Duration::from_millis(100));
    let sim = start(config).await;
    let mut ws = connect(&format!("{}/ws/api/v2", sim.ws_url())).await;
    let chans = [
        "book.BTC-PERPETUAL.100ms",
        "trades.BTC-PERPETUAL.raw",
        "ticker.BTC-PERPETUAL.100ms",
        "ticker.BTC-27JUN25-60000-C.100ms",
        "deribit_price_index.btc_usd",
    ];
    send(
        &mut ws,
        rpc(
            2,
            "public/subscribe",
            json!({"channels": ["book.NOPE.raw"]}),
        ),
    )
    .await;
    let e = wait_json(&mut ws, |v| v["id"] == 2).await;
    assert_eq!(e["error"]["code"], -32602);
    send(
        &mut ws,
        rpc(1, "public/subscribe", json!({"channels": chans})),
    )
    .await;
    let frames = collect_for(&mut ws, Duration::from_millis(200)).await;
    sim.pause();
    let frames: Vec<Value> = frames
        .into_iter()
        .chain(drain(&mut ws, Duration::from_millis(300)).await)
        .collect();
    let r = frames.iter().find(|v| v["id"] == 1).unwrap();
    assert_eq!(r["result"].as_array().unwrap().len(), chans.len());
    let mut book = Book::default();
    let mut seq: Option<u64> = None;
    let mut seen = std::collections::BTreeSet::new();
    for f in &frames {
        let Some(ch) = f["params"]["channel"].as_str() else {
            continue;
        };
        seen.insert(ch.to_owned());
        let d = &f["params"]["data"];
        match ch {
            "book.BTC-PERPETUAL.100ms" => {
                if d["type"] == "snapshot" {
                    assert!(seq.is_none() && d.get("prev_change_id").is_none());
                } else {
                    assert_eq!(d["prev_change_id"].as_u64(), seq);
                }
                seq = d["change_id"].as_u64();
                for (side, key) in [(&mut book.bids, "bids"), (&mut book.asks, "asks")] {
                    for l in d[key].as_array().unwrap() {
                        assert!(l[1].is_number() && l[2].is_number());
                        let size = if l[0] == "delete" {
                            rust_decimal::Decimal::ZERO
                        } else {
                            dec(&l[2])
                        };
                        Book::set(side, dec(&l[1]), size);
                    }
                }
            }
            "ticker.BTC-PERPETUAL.100ms" => {
                assert!(d["current_funding"].is_number() && d["mark_price"].is_number())
            }
            "ticker.BTC-27JUN25-60000-C.100ms" => {
                assert!(d["greeks"]["delta"].is_number() && d["mark_iv"].is_number())
            }
            "trades.BTC-PERPETUAL.raw" => {
                assert!(d[0]["trade_id"].is_string() && d[0]["price"].is_number())
            }
            _ => {}
        }
    }
    assert_eq!(seen.len(), chans.len(), "{seen:?}");
    assert_eq!(
        book.assert_matches(&sim, "BTC-PERPETUAL").await,
        seq.unwrap()
    );
    // Heartbeat: answer the first test_request, then stay silent → closed.
    send(
        &mut ws,
        rpc(3, "public/set_heartbeat", json!({"interval": 0.15})),
    )
    .await;
    assert_eq!(wait_json(&mut ws, |v| v["id"] == 3).await["result"], "ok");
    wait_json(&mut ws, |v| v["params"]["type"] == "test_request").await;
    send(&mut ws, rpc(4, "public/test", json!({}))).await;
    assert!(wait_json(&mut ws, |v| v["id"] == 4).await["result"]["version"].is_string());
    wait_json(&mut ws, |v| v["params"]["type"] == "test_request").await;
    loop {
        match next(&mut ws, Duration::from_secs(2)).await {
            Seen::Close(code) => {
                assert_eq!(code, Some(1000));
                break;
            }
            Seen::Json(_) => {}
            other => panic!("{other:?}"),
        }
    }
    // Shutdown: platform_state maintenance, then close.
    let mut ws = connect(&format!("{}/ws/api/v2", sim.ws_url())).await;
    send(&mut ws, rpc(1, "public/test", json!({}))).await;
    wait_json(&mut ws, |v| v["id"] == 1).await;
    sim.inject(&Fault::Shutdown { conn: None });
    let n = wait_json(&mut ws, |v| v["params"]["channel"] == "platform_state").await;
    assert_eq!(n["params"]["data"]["maintenance"], true);
    assert!(matches!(
        next(&mut ws, Duration::from_secs(2)).await,
        Seen::Close(Some(1001))
    ));
    // REST.
    let i = get_json(
        &sim,
        "/api/v2/public/get_instruments?currency=BTC&kind=option",
    )
    .await;
    assert_eq!(i["result"][0]["instrument_name"], "BTC-27JUN25-60000-C");
    assert_eq!(i["result"][0]["tick_size"].to_string(), "0.0005");
    let b = get_json(
        &sim,
        "/api/v2/public/get_order_book?instrument_name=BTC-PERPETUAL&depth=5",
    )
    .await;
    assert_eq!(b["result"]["change_id"].as_u64(), seq);
    assert_eq!(b["result"]["bids"].as_array().unwrap().len(), 5);
    let s = get_json(
        &sim,
        "/api/v2/public/get_book_summary_by_currency?currency=BTC&kind=future",
    )
    .await;
    assert_eq!(s["result"].as_array().unwrap().len(), 1);
    let v = get_json(
        &sim,
        "/api/v2/public/get_volatility_index_data?currency=BTC&resolution=60",
    )
    .await;
    assert_eq!(v["result"]["data"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn replay_streams_corpus_lines() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/binance-spot");
    let file = dir.join("trade.jsonl");
    if !file.exists() {
        return;
    }
    let lines = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let sim = start(
        SimConfig::new(Venue::BinanceSpot)
            .replay([file], 1000.0)
            .start_paused(true),
    )
    .await;
    let mut ws = connect(&format!("{}/ws", sim.ws_url())).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    sim.resume();
    let frames = collect_for(&mut ws, Duration::from_millis(1500)).await;
    assert_eq!(frames.len(), lines);
    assert_eq!(sim.stats().replayed as usize, lines);
}
