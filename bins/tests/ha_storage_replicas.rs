//! Storage replicas: two data-storage-service processes share one durable JetStream consumer
//! (each gets part of every book's deltas) and write one Redis hot store. The collector reads
//! `marketprism sim` (Binance spot, trades and books of three symbols) and publishes periodic
//! top-N book images. At two quiescent checkpoints (the market paused), the Redis top-N book
//! of every symbol must equal the simulator's truth book at its last sequence, and the
//! newest trade must be in Redis's recent trades. Both replicas must have stored a share of
//! the events, so the test really runs two consumers. Prints the figures docs/scaling.md
//! quotes.

mod platform;

use platform::{http_client, secs};

use std::{
    path::Path,
    time::{Duration, Instant},
};

use marketprism_core::{
    Decimal,
    model::{ExchangeId, Level, MarketType, Symbol},
    testing::{TestServer, require_server},
};
use marketprism_storage::{
    query::{HotStore, InstrumentKey},
    redis::{RedisConfig, RedisStore},
};
use platform::{Proc, SimProc, free_port, get_json, post_ok, sim_trade_ids, unique, wait_for};

const NATIVE: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
const SYMBOL: [&str; 3] = ["BTC-USDT", "ETH-USDT", "SOL-USDT"];
/// Levels per side of the hot book (the storage's default) and of the collector's images.
const DEPTH: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_storage_replicas_keep_the_redis_book_equal_to_the_truth() {
    let (Some(nats), Some(redis)) = (
        require_server(TestServer::Nats),
        require_server(TestServer::Redis),
    ) else {
        return;
    };
    marketprism_bins::common::install_crypto();
    let test_start = Instant::now();
    let http = http_client();
    let run = unique();
    let dir = tempfile::tempdir().expect("tempdir");
    let stream = format!("HOT_{}", run.to_uppercase());
    let prefix = format!("hot{run}");
    let nats_toml =
        format!("[nats]\nurl = \"{nats}\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n");

    let mut sim = SimProc::start("binance-spot", &NATIVE.join(","), 300, 21).await;
    let sim_url = format!("http://{}", sim.addr);
    post_ok(&http, &format!("{sim_url}/_sim/pause")).await;

    let mut procs = Vec::new();
    let mut storage_ports = Vec::new();
    for r in 0..2 {
        let sub = dir.path().join(format!("storage{r}"));
        std::fs::create_dir_all(&sub).expect("dir");
        let port = free_port();
        procs.push(storage_replica(port, &nats_toml, &redis, &prefix, &sub));
        storage_ports.push(port);
    }
    let col = free_port();
    let collector = format!(
        "book_image_ms = 300\nbook_image_depth = {DEPTH}\n\n\
         [service]\nlisten = \"127.0.0.1:{col}\"\n\n{nats_toml}\n\
         [[exchanges]]\nvenue = \"binance-spot\"\nchannels = [\"trades\", \"book\"]\n\
         symbols = [\"{}\"]\nws_url = \"ws://{addr}\"\nrest_url = \"http://{addr}\"\n",
        SYMBOL.join("\", \""),
        addr = sim.addr
    );
    procs.push(Proc::service(
        "market-data-collector",
        col,
        &collector,
        dir.path(),
    ));
    let guard = Guard(procs);
    for p in &guard.0 {
        let url = format!("http://127.0.0.1:{}/health", p.port);
        wait_for(&format!("{} answers", p.name), secs(60), || async {
            http.get(&url).send().await.ok().map(|_| ())
        })
        .await;
    }
    wait_for("collector subscribed", secs(30), || async {
        let stats = get_json(&http, &format!("{sim_url}/_sim/stats")).await?;
        let text = stats["connections"].to_string();
        NATIVE
            .iter()
            .all(|n| text.contains(&format!("{}@depth", n.to_lowercase())))
            .then_some(())
    })
    .await;
    eprintln!("pipeline up in {:.1} s", test_start.elapsed().as_secs_f64());

    let store = RedisStore::connect(RedisConfig::new(redis.as_str()).key_prefix(prefix.as_str()))
        .await
        .expect("redis");
    let mut converged = Vec::new();
    for checkpoint in 0..2 {
        post_ok(&http, &format!("{sim_url}/_sim/resume")).await;
        tokio::time::sleep(secs(4)).await;
        post_ok(&http, &format!("{sim_url}/_sim/pause")).await;
        let paused = Instant::now();
        for (native, symbol) in NATIVE.iter().zip(SYMBOL) {
            let truth = truth_book(&http, &sim_url, native).await;
            let key =
                InstrumentKey::new(ExchangeId::BINANCE, MarketType::Spot, Symbol::new(symbol));
            // Poll until the stored book reaches the truth's sequence; then it must equal it.
            let started = Instant::now();
            let book = loop {
                let book = store.book(&key).await.expect("read the book");
                let done = book.as_ref().is_some_and(|b| b.sequence >= truth.0);
                if done || started.elapsed() > secs(15) {
                    break book;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let book = book.unwrap_or_else(|| {
                panic!(
                    "checkpoint {checkpoint}: no book of {symbol} in Redis{}",
                    logs(&guard)
                )
            });
            assert_eq!(
                book.sequence,
                truth.0,
                "checkpoint {checkpoint}: {symbol}: stored sequence vs the truth's{}",
                logs(&guard)
            );
            assert_eq!(levels(&book.bids), truth.1, "{symbol}: bids");
            assert_eq!(levels(&book.asks), truth.2, "{symbol}: asks");
            assert!(book.top_n.is_some(), "the stored book is a top-N image");
        }
        converged.push(paused.elapsed());
        // The newest trade is among the newest stored: newest by exchange time, whichever
        // replica stored it.
        let ids = sim_trade_ids(&http, &sim_url, &NATIVE).await;
        for (symbol, (_, last)) in SYMBOL.iter().zip(ids) {
            let last = last.expect("trades produced").to_string();
            let key =
                InstrumentKey::new(ExchangeId::BINANCE, MarketType::Spot, Symbol::new(*symbol));
            wait_for("the last trade in Redis", secs(15), || async {
                let recent = store.recent_trades(&key, 5).await.ok()?;
                recent.iter().any(|t| t.trade_id == last).then_some(())
            })
            .await;
        }
    }

    // Both replicas consumed a share.
    let mut shares = Vec::new();
    for port in &storage_ports {
        let status = get_json(
            &http,
            &format!("http://127.0.0.1:{port}/api/v1/storage/status"),
        )
        .await
        .expect("storage status");
        shares.push(
            status["pipeline"]["pipeline"]["events"]
                .as_u64()
                .unwrap_or(0),
        );
    }
    eprintln!(
        "FIGURES: events stored per replica {shares:?}; paused → every book equal to the \
         truth in {:?}; whole test {:.1} s",
        converged,
        test_start.elapsed().as_secs_f64()
    );
    assert!(
        shares.iter().all(|s| *s > 0),
        "a replica stored nothing: {shares:?}"
    );

    sim.stop().await;
    drop(guard);
    delete_keys(&redis, &prefix).await;
    if let Ok(client) = async_nats::connect(nats.as_str()).await {
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(&stream).await;
        let _ = js.delete_stream(format!("{stream}_DEADLETTER")).await;
    }
}

/// A storage service on the shared durable consumer, writing the shared Redis, with its own
/// embedded history store in `dir`.
fn storage_replica(port: u16, nats: &str, redis: &str, prefix: &str, dir: &Path) -> Proc {
    let config = format!(
        "[service]\nlisten = \"127.0.0.1:{port}\"\n\n{nats}\n\
         [consumer]\nbatch_size = 50\nbatch_timeout_ms = 50\nack_wait_ms = 5000\n\n\
         [redis]\nurl = \"{redis}\"\nkey_prefix = \"{prefix}\"\n\n\
         [embedded]\npath = \"{}\"\n",
        dir.join("store.redb").display()
    );
    Proc::service("data-storage-service", port, &config, dir)
}

/// Deletes the run's Redis keys (best effort; they would expire anyway).
async fn delete_keys(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

type Side = Vec<(Decimal, Decimal)>;

/// The truth book's sequence and best `DEPTH` levels per side.
async fn truth_book(http: &reqwest::Client, sim: &str, native: &str) -> (u64, Side, Side) {
    let t = get_json(
        http,
        &format!("{sim}/_sim/book?symbol={native}&depth={DEPTH}"),
    )
    .await
    .expect("truth book");
    let side = |v: &serde_json::Value| -> Side {
        v.as_array()
            .expect("levels")
            .iter()
            .map(|l| {
                let d = |x: &serde_json::Value| -> Decimal {
                    let s = x.as_str().map_or_else(|| x.to_string(), str::to_owned);
                    s.parse::<Decimal>().expect("decimal").normalize()
                };
                (d(&l[0]), d(&l[1]))
            })
            .collect()
    };
    (
        t["sequence"].as_u64().expect("sequence"),
        side(&t["bids"]),
        side(&t["asks"]),
    )
}

fn levels(side: &[Level]) -> Side {
    side.iter()
        .map(|l| (l.price.normalize(), l.size.normalize()))
        .collect()
}

/// Stops every process on drop (kill_on_drop), also when an assertion fails.
struct Guard(Vec<Proc>);

fn logs(guard: &Guard) -> String {
    guard
        .0
        .iter()
        .map(|p| format!("\n--- {} ---\n{}", p.name, p.log_tail(15)))
        .collect()
}
