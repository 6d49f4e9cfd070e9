//! `marketprism demo` as a child process on free ports: trades reach the gateway's REST API
//! and its WebSocket stream within 30 s, with no server and no internet.

mod platform;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use futures::StreamExt;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_trades_through_the_gateway_within_30s() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = platform::free_base_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .args(["demo", "--base-port", &base.to_string(), "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn demo");
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{base}/api/v1/storage/hot/trades/binance/BTC-USDT?limit=5");
    marketprism_bins::common::install_crypto();
    let client = reqwest::Client::new();
    let mut trades = 0;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(&url).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
        {
            trades = v["trades"].as_array().map_or(0, Vec::len);
            if trades > 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        trades > 0,
        "no trades through the gateway REST API within 30 s"
    );

    let ws_url = format!("ws://127.0.0.1:{base}/ws/v1/stream?subjects=trade.binance.%3E");
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("ws connect");
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("subscribed frame");
    assert!(format!("{first:?}").contains("subscribed"), "{first:?}");
    let event = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an event within 10 s")
        .expect("frame")
        .expect("ok");
    let text = event.into_text().expect("text");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["type"], "trade");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // Every service answers /health through its own port.
    for i in 0..6 {
        let r = client
            .get(format!("http://127.0.0.1:{}/health", base + i))
            .send()
            .await
            .expect("health");
        assert!(r.status().is_success(), "port {}", base + i);
    }
    // SIGTERM: graceful stop.
    let pid = child.id().expect("pid");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}
