//! The reference collector with Bybit added (`Collector::exchange` via
//! `run_with_exchanges`), the storage service writing to ClickHouse and the gateway, over one
//! in-process bus: every trade the local Bybit server sent is stored, exactly once, and read
//! back through the gateway's storage API. Without ClickHouse the test is skipped, except
//! under `CI=true`, where it fails.

mod server;

use std::{sync::Arc, time::Duration};

use marketprism_bins::{
    collector::{self, CollectorConfig, ExchangeConfig},
    gateway_service::{self, GatewayServiceConfig},
    storage_service::{self, StorageConfig},
};
use marketprism_core::{
    bus::Bus,
    testing::{TestServer, require_server},
};
use marketprism_example_bybit::Bybit;
use marketprism_exchanges::{Channel, Exchange};
use server::BybitServer;
use tokio::{net::TcpListener, time::Instant};
use tokio_util_shim::Stop;

/// A tiny one-shot stop signal (the services take any `Future<Output = ()>`).
mod tokio_util_shim {
    use tokio::sync::watch;

    pub(crate) struct Stop(watch::Sender<bool>);

    impl Stop {
        pub(crate) fn new() -> Self {
            Stop(watch::channel(false).0)
        }
        pub(crate) fn signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
            let mut rx = self.0.subscribe();
            async move {
                let _ = rx.wait_for(|v| *v).await;
            }
        }
        pub(crate) fn fire(&self) {
            let _ = self.0.send(true);
        }
    }
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    (l, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_trades_are_stored_in_clickhouse_and_served_by_the_gateway() {
    let Some(clickhouse) = require_server(TestServer::ClickHouse) else {
        return;
    };
    let run = std::process::id();
    let database = format!(
        "mpt_bybit_{run}_{}",
        marketprism_core::model::now_ns() % 1_000_000
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let dir = tempfile_dir();
    let server = BybitServer::start(&["BTCUSDT"]).await;
    let bybit: Arc<dyn Exchange> = Arc::new(Bybit::new().expect("bybit"));

    let bus = Bus::new();
    let stop = Stop::new();
    let (storage_l, storage_addr) = listener().await;
    let (collector_l, collector_addr) = listener().await;
    let (gateway_l, gateway_addr) = listener().await;

    let mut storage = StorageConfig::default();
    storage.service.listen = storage_addr.clone();
    storage.clickhouse.url = Some(format!("{clickhouse}/?database={database}"));
    storage.embedded.path = dir.join("store.redb");
    let mut collector = CollectorConfig::default();
    collector.service.listen = collector_addr;
    collector.exchanges = vec![ExchangeConfig {
        venue: "bybit".into(),
        channels: vec![Channel::Trades, Channel::Book],
        symbols: vec!["BTC-USDT".into()],
        markets: Vec::new(),
        ws_url: Some(server.ws_url()),
        rest_url: Some(server.http_url()),
    }];
    let mut gateway = GatewayServiceConfig::default();
    gateway.service.listen = gateway_addr.clone();
    gateway.services.storage_url = Some(format!("http://{storage_addr}"));
    gateway.gateway.auth.enabled = false;

    let storage_task = tokio::spawn(storage_service::run_with_bus(
        storage,
        storage_l,
        bus.clone(),
        stop.signal(),
    ));
    // The storage service subscribes to the bus before it serves HTTP: once it answers, no
    // event published from now on is missed.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = http
            .get(format!("http://{storage_addr}/health"))
            .send()
            .await;
        if health.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "storage service not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let collector_task = tokio::spawn(collector::run_with_exchanges(
        collector,
        collector_l,
        bus.clone(),
        [bybit],
        stop.signal(),
    ));
    let gateway_task = tokio::spawn(gateway_service::run_with_bus(
        gateway,
        gateway_l,
        bus.clone(),
        stop.signal(),
    ));

    // Nothing is sent before the collector subscribed: what the server sends from here on is
    // exactly what must be stored.
    server.wait_subscribes("publicTrade.BTCUSDT", 1).await;
    server.wait_subscribes("orderbook.50.BTCUSDT", 1).await;
    for i in 0..120 {
        server.step_book("BTCUSDT").await;
        if i % 2 == 0 {
            server.trade("BTCUSDT").await;
        }
    }
    let sent = server.trades_sent("BTCUSDT").await;
    assert_eq!(sent.len(), 60);

    let url = format!("http://{gateway_addr}/api/v1/storage/cold/trades/bybit/BTC-USDT?limit=1000");
    let stored = |body: &serde_json::Value| -> Vec<String> {
        body["events"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["trade_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ids = Vec::new();
    let mut last = String::new();
    while ids.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "stored {} of {} trades; last answer: {last}",
            ids.len(),
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        match http.get(&url).send().await {
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                if let Ok(body) = serde_json::from_str::<serde_json::Value>(&text)
                    && status.is_success()
                {
                    ids = stored(&body);
                }
                last = format!("{status} {}", text.chars().take(300).collect::<String>());
            }
            Err(e) => last = e.to_string(),
        }
    }
    // Exactly what was sent: no loss, no duplicate, even after the pipeline settles.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let body: serde_json::Value = http
        .get(&url)
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(body["count"], sent.len(), "{body}");
    let mut stored_ids = stored(&body);
    let mut sent_ids = sent.clone();
    stored_ids.sort();
    sent_ids.sort();
    assert_eq!(stored_ids, sent_ids);
    stop.fire();
    for t in [collector_task, gateway_task, storage_task] {
        let r = tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("service stops");
        r.expect("join").expect("service ran cleanly");
    }
    let _ = http
        .post(&clickhouse)
        .body(format!("DROP DATABASE IF EXISTS `{database}`"))
        .send()
        .await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mp-bybit-{}-{}",
        std::process::id(),
        marketprism_core::model::now_ns()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
