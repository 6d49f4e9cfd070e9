//! The whole platform as separate processes on the real servers: the six service binaries
//! find each other through etcd, the collector reads `marketprism sim` (Binance spot),
//! events go collector → JetStream → storage → ClickHouse + Redis and are served through the
//! gateway (REST and WebSocket). The storage service is SIGKILLed mid-stream and restarted;
//! afterwards ClickHouse holds exactly the trades the simulator produced — none lost, none
//! twice. Every service runs with a service credential (`MARKETPRISM_SERVICE__TOKENS`): a
//! direct call without it is refused while the same data flows through the gateway, and
//! monitoring still scrapes `/health` and `/metrics`.

mod platform;

use std::{collections::BTreeSet, time::Duration};

use futures::StreamExt;
use marketprism_core::testing::{TestServer, require_server};
use platform::{Proc, Procs, SimProc, cleanup, free_port, get_json, unique, wait_for};
use serde_json::Value;

/// `printf %s e2e-read-key | sha256sum`
const API_KEY: &str = "e2e-read-key";
const API_KEY_SHA256: &str = "366c6adfb8e580cd014f081a70eb1596c6861eb8dfa6fdfa8c323084c47a0e14";

/// The shared service credential of all six processes, from the environment.
const SERVICE_TOKENS: (&str, &str) = (
    "MARKETPRISM_SERVICE__TOKENS",
    "e2e-service-token-0123456789abcdef",
);

const SYMBOLS: [(&str, &str); 2] = [("BTCUSDT", "BTC-USDT"), ("ETHUSDT", "ETH-USDT")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_processes_survive_a_storage_sigkill_with_every_trade_stored_once() {
    let (Some(nats), Some(clickhouse), Some(redis), Some(etcd)) = (
        require_server(TestServer::Nats),
        require_server(TestServer::ClickHouse),
        require_server(TestServer::Redis),
        require_server(TestServer::Etcd),
    ) else {
        return;
    };
    marketprism_bins::common::install_crypto();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", API_KEY.parse().expect("header"));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .default_headers(headers)
        .build()
        .expect("client");
    let run = unique();
    let dir = tempfile::tempdir().expect("tempdir");
    let etcd_host = etcd.trim_start_matches("http://").trim_end_matches('/');
    let database = format!("mpt_e2e_{run}");
    let stream = format!("E2E_{}", run.to_uppercase());
    let discovery = format!(
        "[discovery]\nurl = \"etcd://{etcd_host}?namespace=e2e{run}\"\nttl_secs = 3\n\
         health_check_interval_secs = 1\n"
    );
    let nats_section =
        format!("[nats]\nurl = \"{nats}\"\nstream = \"{stream}\"\nsubject_prefix = \"e2e{run}\"\n");
    // Top-level keys (`top`) come before the first table; monitoring has no [nats].
    let config = |port: u16, top: &str, nats: bool| {
        let nats = if nats { nats_section.as_str() } else { "" };
        format!("{top}\n[service]\nlisten = \"127.0.0.1:{port}\"\n\n{discovery}\n{nats}")
    };
    let service = |port: u16, top: &str| config(port, top, true);

    let mut sim = SimProc::start("binance-spot", "BTCUSDT,ETHUSDT", 300, 11).await;
    let sim_url = format!("http://{}", sim.addr);
    // Nothing is produced until the collector is subscribed, so the simulator's trade count
    // from here on is exactly what the platform must store.
    post(&http, &format!("{sim_url}/_sim/pause")).await;

    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let [gw, col, sto, mon, sch, bro] = ports[..] else {
        unreachable!()
    };
    let mut procs = Procs(Vec::new());
    let broker = service(bro, "poll_ms = 1000");
    procs.start("message-broker-service", bro, &broker, dir.path());
    wait_healthy(&http, procs.get("message-broker-service")).await;
    let storage = format!(
        "{}\n[consumer]\nbatch_size = 200\nbatch_timeout_ms = 100\nack_wait_ms = 2000\n\n\
         [clickhouse]\nurl = \"{clickhouse}/?database={database}\"\n\n\
         [redis]\nurl = \"{redis}\"\nkey_prefix = \"e2e{run}\"\n",
        service(sto, "")
    );
    procs.start("data-storage-service", sto, &storage, dir.path());
    let collector = format!(
        "{}\n[[exchanges]]\nvenue = \"binance-spot\"\nchannels = [\"trades\", \"book\"]\n\
         symbols = [\"BTC-USDT\", \"ETH-USDT\"]\nws_url = \"ws://{addr}\"\nrest_url = \"{sim_url}\"\n",
        service(col, ""),
        addr = sim.addr
    );
    procs.start("market-data-collector", col, &collector, dir.path());
    // Auth stays on (the default): a read key, stored as its SHA-256.
    let gateway_config = format!(
        "{}\n[[gateway.auth.api_keys]]\nname = \"e2e\"\nsha256 = \"{API_KEY_SHA256}\"\n\
         roles = [\"read\"]\n",
        service(gw, "")
    );
    procs.start("api-gateway", gw, &gateway_config, dir.path());
    let monitoring = config(
        mon,
        "services = [\"api-gateway\", \"market-data-collector\", \"data-storage-service\", \
         \"scheduler-service\", \"message-broker-service\"]\nscrape_interval_ms = 1000",
        false,
    );
    procs.start("monitoring-service", mon, &monitoring, dir.path());
    let scheduler = format!(
        "{}\n[redis]\nurl = \"{redis}\"\n\n[store]\nprefix = \"e2e{run}:scheduler\"\n\n\
         [builtin]\nenabled = false\n",
        service(sch, "")
    );
    procs.start("scheduler-service", sch, &scheduler, dir.path());
    for p in &mut procs.0 {
        wait_healthy(&http, p).await;
    }

    // Discovery through etcd: monitoring found every other service, healthy (it scrapes the
    // public /health and /metrics, which need no service credential).
    let gateway = format!("http://127.0.0.1:{gw}");
    wait_for(
        "monitoring sees five healthy services",
        secs(30),
        || async {
            let v = get_json(&http, &format!("{gateway}/api/v1/services")).await?;
            let healthy: BTreeSet<String> = v["services"]
                .as_array()?
                .iter()
                .filter(|i| i["status"] == "healthy")
                .filter_map(|i| i["service"].as_str().map(str::to_owned))
                .collect();
            (healthy.len() >= 5).then_some(())
        },
    )
    .await;

    // The collector is subscribed to both trade streams: start the market.
    wait_for(
        "collector subscribed to both trade streams",
        secs(30),
        || async {
            let stats = get_json(&http, &format!("{sim_url}/_sim/stats")).await?;
            let subscribed = stats["connections"].as_array()?.iter().fold(0, |n, c| {
                let text = format!("{} {}", c["path"], c["subscriptions"]);
                n + SYMBOLS
                    .iter()
                    .filter(|(native, _)| {
                        text.contains(&format!("{}@trade", native.to_lowercase()))
                    })
                    .count()
            });
            (subscribed >= SYMBOLS.len()).then_some(())
        },
    )
    .await;
    let before = trade_ids(&http, &sim_url).await;
    post(&http, &format!("{sim_url}/_sim/resume")).await;

    // Live through the gateway's WebSocket (NATS with the subject prefix behind it).
    let ws_url = format!("ws://127.0.0.1:{gw}/ws/v1/stream?subjects=trade.binance.*.BTC-USDT");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            ws_url.as_str(),
        )
        .expect("request");
    request
        .headers_mut()
        .insert("x-api-key", API_KEY.parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("ws connect");
    let live = tokio::time::timeout(secs(20), async {
        loop {
            let frame = ws.next().await.expect("open").expect("frame");
            if let Ok(v) = serde_json::from_str::<Value>(frame.to_text().unwrap_or_default())
                && v["type"] == "trade"
            {
                break v;
            }
        }
    })
    .await
    .expect("a trade on the gateway WebSocket within 20 s");
    assert_eq!(live["symbol"], "BTC-USDT", "{live}");
    assert_eq!(live["exchange"], "binance", "{live}");

    // Redis through the storage API through the gateway.
    let hot = format!("{gateway}/api/v1/storage/hot/trades/binance/BTC-USDT?limit=5");
    wait_for("hot trades through the gateway", secs(30), || async {
        let v = get_json(&http, &hot).await?;
        let newest = v["trades"].as_array()?.iter().find_map(trade_id)?;
        (Some(newest) > before["BTCUSDT"].1).then_some(())
    })
    .await;

    // The services refuse direct calls without the service credential (the read API key is
    // no credential for them); the same data comes through the gateway, which sends it.
    let direct_hot =
        format!("http://127.0.0.1:{sto}/api/v1/storage/hot/trades/binance/BTC-USDT?limit=5");
    assert_eq!(
        status_of(http.get(&direct_hot)).await,
        401,
        "direct storage read"
    );
    assert_eq!(
        status_of(http.get(&hot)).await,
        200,
        "storage read through the gateway"
    );
    let direct_stop = format!("http://127.0.0.1:{sch}/api/v1/scheduler/stop");
    assert_eq!(
        status_of(http.post(&direct_stop)).await,
        401,
        "direct scheduler stop"
    );
    let forged = http.post(&direct_stop).header(
        "x-marketprism-service-token",
        "guessed-token-0123456789abcdef",
    );
    assert_eq!(status_of(forged).await, 401, "a wrong service token");
    let status = "/api/v1/scheduler/status";
    assert_eq!(
        status_of(http.get(format!("http://127.0.0.1:{sch}{status}"))).await,
        401,
        "direct scheduler status"
    );
    assert_eq!(
        status_of(http.get(format!("{gateway}{status}"))).await,
        200,
        "scheduler status through the gateway"
    );
    for port in [sto, sch, bro, col, mon] {
        for path in ["/health", "/metrics"] {
            let url = format!("http://127.0.0.1:{port}{path}");
            assert_eq!(status_of(http.get(&url)).await, 200, "{url} stays public");
        }
    }

    // SIGKILL storage mid-stream; the collector keeps publishing into JetStream meanwhile.
    tokio::time::sleep(secs(2)).await;
    let at_kill = trade_ids(&http, &sim_url).await;
    procs.get("data-storage-service").kill().await;
    tokio::time::sleep(secs(3)).await;
    let at_restart = trade_ids(&http, &sim_url).await;
    assert!(
        at_restart["BTCUSDT"].1 > at_kill["BTCUSDT"].1,
        "trades were produced while storage was down"
    );
    let storage = procs.get("data-storage-service");
    storage.restart();
    wait_healthy(&http, storage).await;
    tokio::time::sleep(secs(2)).await;
    post(&http, &format!("{sim_url}/_sim/pause")).await;
    let after = trade_ids(&http, &sim_url).await;

    // Exactly the produced trades, each once, in ClickHouse.
    let mut expected = BTreeSet::new();
    for (native, symbol) in SYMBOLS {
        // Ids are contiguous per symbol: everything after the last one before the start.
        let (first, last) = after[native];
        let from = before[native]
            .1
            .map_or(first.expect("trades produced"), |id| id + 1);
        for id in from..=last.expect("trades produced") {
            expected.insert((symbol.to_owned(), id));
        }
    }
    // Wait for the backlog to drain, then exactly the produced trades, each once.
    platform::assert_trades_stored_once(
        &http,
        &clickhouse,
        &database,
        &expected,
        secs(90),
        Duration::from_millis(500),
    )
    .await;
    eprintln!(
        "{} trades produced and stored exactly once across a storage SIGKILL",
        expected.len()
    );

    // The newest trade is also the hot store's newest, served through the gateway.
    let v = get_json(&http, &hot).await.expect("hot trades");
    let newest = v["trades"]
        .as_array()
        .expect("trades")
        .iter()
        .find_map(trade_id);
    assert_eq!(newest, after["BTCUSDT"].1, "{v}");

    // Graceful stop of every service.
    for p in procs.0.iter_mut().rev() {
        let status = p.terminate(secs(20)).await;
        assert!(status.success(), "{} exited with {status:?}", p.name);
    }
    procs.0.clear();
    sim.stop().await;
    cleanup(&http, &clickhouse, &database, &nats, &stream).await;
}

impl Procs {
    /// Starts a service with the shared service credential.
    fn start(&mut self, name: &'static str, port: u16, config: &str, dir: &std::path::Path) {
        self.0.push(Proc::service_with_env(
            name,
            port,
            config,
            dir,
            &[SERVICE_TOKENS],
        ));
    }
    fn get(&mut self, name: &str) -> &mut Proc {
        self.0.iter_mut().find(|p| p.name == name).expect("started")
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

async fn wait_healthy(http: &reqwest::Client, proc: &mut Proc) {
    let url = format!("http://127.0.0.1:{}/health", proc.port);
    let started = std::time::Instant::now();
    while http.get(&url).send().await.is_err() {
        if let Some(status) = proc.exited() {
            panic!("{} exited ({status}):\n{}", proc.name, proc.log_tail(20));
        }
        assert!(started.elapsed() < secs(60), "{url} does not answer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.expect("send").status().as_u16()
}

async fn post(http: &reqwest::Client, url: &str) {
    let r = http.post(url).send().await.expect("POST");
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
}

/// The simulator's `(first, last)` trade ids per native symbol (`None` before the first).
async fn trade_ids(
    http: &reqwest::Client,
    sim_url: &str,
) -> std::collections::BTreeMap<&'static str, (Option<u64>, Option<u64>)> {
    let stats = get_json(http, &format!("{sim_url}/_sim/stats"))
        .await
        .expect("sim stats");
    SYMBOLS
        .iter()
        .map(|(native, _)| {
            let s = &stats["symbols"][native];
            assert!(s.is_object(), "sim has no {native}: {stats}");
            let id = |k: &str| s[k].as_u64();
            (*native, (id("first_trade_id"), id("last_trade_id")))
        })
        .collect()
}

fn trade_id(trade: &Value) -> Option<u64> {
    trade["trade_id"].as_str()?.parse().ok()
}
