//! One-process mode (`marketprism demo` in this process, on the in-process bus and the
//! embedded store): the storage status reports the pipeline truly (running, the same event
//! count as stored, events per sink) and `/metrics` has the storage sink metrics.

mod platform;

use std::time::{Duration, Instant};

use marketprism_bins::platform::{Demo, PlatformArgs, PlatformConfigs, run_platform};
use serde_json::Value;

async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_status_and_metrics_are_true_in_one_process_mode() {
    marketprism_bins::common::install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = platform::free_base_port();
    let args = PlatformArgs {
        host: "127.0.0.1".into(),
        base_port: base,
        data_dir: dir.path().to_path_buf(),
        nats_url: None,
        clickhouse_url: None,
        redis_url: None,
        discovery_url: None,
        config_dir: None,
        set: Vec::new(),
        gateway_auth: false,
    };
    let mut configs = PlatformConfigs::load(&args).expect("configs");
    configs.storage.nats.url = None;
    configs.storage.clickhouse.url = None;
    configs.storage.redis.url = None;
    configs.collector.nats.url = None;
    let (demo, exchanges) = Demo::start(50.0).await.expect("simulators");
    // Trades only: each has its own identity, so every event written is one stored row
    // (identical repeats of other kinds are deduplicated by the store).
    configs.collector.exchanges = exchanges
        .into_iter()
        .map(|mut e| {
            e.channels = vec![marketprism_exchanges::Channel::Trades];
            e
        })
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let platform = tokio::spawn(run_platform(
        configs,
        async {
            let _ = stop_rx.await;
        },
        |_| {},
    ));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let status_url = format!("http://127.0.0.1:{base}/api/v1/storage/status");
    let stats_url = format!("http://127.0.0.1:{base}/api/v1/storage/stats");

    // Events flow: the pipeline is running and counts them.
    let started = Instant::now();
    loop {
        let s = get_json(&http, &status_url).await;
        let p = s
            .as_ref()
            .map(|s| s["pipeline"]["pipeline"].clone())
            .unwrap_or_default();
        if p["state"] == "running" && p["events"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "storage pipeline not running with events: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Once the simulators stop, what the status counts is exactly what the store holds.
    demo.stop().await;
    let started = Instant::now();
    let (p, stored) = loop {
        let s = get_json(&http, &status_url).await.unwrap_or_default();
        let t = get_json(&http, &stats_url).await.unwrap_or_default();
        let p = s["pipeline"]["pipeline"].clone();
        let stored = t["total_events"].as_u64();
        if p["events"].as_u64().is_some() && p["events"].as_u64() == stored {
            break (p, stored);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "status {p} never matched the stored count {stored:?}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_ne!(p["state"], "starting", "{p}");
    assert_eq!(p["sinks"]["embedded"].as_u64(), stored, "{p}");

    let metrics = http
        .get(format!("http://127.0.0.1:{}/metrics", base + 2))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let written = marketprism_storage::metrics_names::SINK_WRITTEN;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(written) && l.contains("sink=\"embedded\"")),
        "no {written} for the embedded sink in:\n{metrics}"
    );

    // Issue 13: every exported metric has its HELP text in one-process mode too; the
    // gateway's port renders the same process-wide exposition.
    let exposition = http
        .get(format!("http://127.0.0.1:{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    marketprism_core::testing::promtool_check_metrics(&exposition);

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(30), platform)
        .await
        .expect("platform stops")
        .expect("join")
        .expect("platform");
}
