//! Pipeline benchmark: `marketprism sim` → `market-data-collector` → JetStream →
//! `data-storage-service` → ClickHouse, as separate processes on the real servers, at stepped
//! event rates. Prints per step: offered and sustained events/s (published to NATS, written
//! to ClickHouse), latency percentiles (collector receipt → NATS delivery; exchange time →
//! NATS delivery; collector receipt → visible in ClickHouse), and each process's RSS. In the
//! same run it measures raw JetStream publishing (async-nats, pipelined acks) and raw
//! `clickhouse` crate inserts, and prints our rates as ratios of those. The last line is the
//! machine-readable `pipeline-summary:` (see `summary.rs`).
//!
//! `scripts/services.sh start && cargo bench -p marketprism-bins --bench pipeline`
//! Env: `MP_BENCH_RATES` (events/s per symbol per step, default `200,300,1000,2500`; 300 is
//! about 10 k events/s in all, the rate the summary's latencies are quoted at),
//! `MP_BENCH_SYMBOLS` (default 20), `MP_BENCH_STEP_SECS` (default 10),
//! `MP_BENCH_COLLECTOR_BATCH` / `MP_BENCH_STORAGE_BATCH` (the services' `batch_size` and
//! `consumer.batch_size`, default theirs), `MP_BENCH_COLLECTOR_BATCH_MS` /
//! `MP_BENCH_COLLECTOR_IN_FLIGHT` (the collector's `batch_ms` and `batches_in_flight`),
//! `MP_BENCH_STORAGE_TIMEOUT_MS` (storage's
//! `consumer.batch_timeout_ms`, default its own), `MP_BENCH_COLLECTORS` (collector processes
//! splitting the symbols by static `shard.index`/`shard.count`, default 1),
//! `MP_BENCH_STORAGES` (storage processes on the one durable consumer, default 1),
//! `MP_BENCH_STREAM_LAYOUT` (`nats.stream_layout` of the services, default `per_symbol`;
//! with `bulk_only` the latencies are measured on the `bulk.>` messages),
//! `MP_BENCH_SERVICE_ENV` (`K=V,...` for the collector and storage processes, which start
//! with a cleared environment), `MP_BENCH_MEMORY=0` (skip the memory case), `MP_BENCH_SLOW_LOG=FILE` (append every event
//! later than `MP_BENCH_SLOW_MS`, default 3, from receipt to NATS as `receipt_ns local_ts_ns
//! latency_us subject payload_bytes`: to see when and where the tail happens),
//! `MARKETPRISM_TEST_BIN_DIR` (run the service
//! binaries from that folder, e.g. a copy of another build, to compare two builds in one
//! session), and the servers' `MARKETPRISM_TEST_{NATS,CLICKHOUSE}_URL` (default the local
//! ports). With several collectors or storage services, their CPU is summed per kind and RSS
//! is the largest one.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

mod group;
#[path = "../../tests/platform/mod.rs"]
mod platform;
mod raw;
mod summary;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use group::{Group, rss_kib};
use marketprism_core::framing::{EVENTS_HEADER, event_ranges};
use platform::{Proc, SimProc, cpu_secs, env_or, free_port, get_json, server_pid, unique};

fn now_ns() -> i64 {
    marketprism_core::model::now_ns()
}

/// Latency samples in microseconds.
#[derive(Default)]
struct Samples(Vec<u64>);

impl Samples {
    fn pct(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() - 1) as f64 * p).round() as usize;
        self.0[i] as f64 / 1000.0
    }
    fn summary(&mut self) -> String {
        format!(
            "p50 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms  (n={})",
            self.pct(0.50),
            self.pct(0.99),
            self.pct(0.999),
            self.0.len()
        )
    }
}

/// What the NATS subscriber saw while `recording`.
#[derive(Default)]
struct Observed {
    /// Events (a message may carry several).
    count: AtomicU64,
    /// NATS messages.
    messages: AtomicU64,
    recording: AtomicBool,
    receipt_to_nats: Mutex<Samples>,
    exchange_to_nats: Mutex<Samples>,
}

async fn ch(http: &reqwest::Client, url: &str, sql: String) -> String {
    let r = http.post(url).body(sql).send().await.expect("clickhouse");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "clickhouse: {text}");
    text
}

async fn stored_rows(http: &reqwest::Client, url: &str, db: &str) -> u64 {
    let sql = format!("SELECT sum(rows) FROM system.parts WHERE database = '{db}' AND active");
    ch(http, url, sql).await.trim().parse().unwrap_or(0)
}

async fn sim_events(http: &reqwest::Client, sim_url: &str) -> u64 {
    let stats = get_json(http, &format!("{sim_url}/_sim/stats"))
        .await
        .expect("sim stats");
    stats["symbols"]
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|s| s["events"].as_object().into_iter().flatten())
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nats = env_or("MARKETPRISM_TEST_NATS_URL", "nats://127.0.0.1:4222");
    let clickhouse = env_or("MARKETPRISM_TEST_CLICKHOUSE_URL", "http://127.0.0.1:8123");
    let rates: Vec<u32> = env_or("MP_BENCH_RATES", "200,300,1000,2500")
        .split(',')
        .map(|r| r.trim().parse().expect("MP_BENCH_RATES"))
        .collect();
    let n_symbols: usize = env_or("MP_BENCH_SYMBOLS", "20").parse().expect("symbols");
    let step = Duration::from_secs(env_or("MP_BENCH_STEP_SECS", "10").parse().expect("secs"));
    let collector_batch: usize = env_or("MP_BENCH_COLLECTOR_BATCH", "2000")
        .parse()
        .expect("batch");
    // Keys the environment sets; the services' defaults otherwise (the services start with
    // a cleared environment, so `MARKETPRISM_*` overrides do not reach them).
    let keys_from_env = |pairs: &[(&str, &str)]| -> String {
        pairs
            .iter()
            .filter_map(|(var, key)| {
                let v: u64 = std::env::var(var).ok()?.trim().parse().expect(var);
                Some(format!("{key} = {v}\n"))
            })
            .collect()
    };
    let storage_consumer = keys_from_env(&[
        ("MP_BENCH_STORAGE_BATCH", "batch_size"),
        ("MP_BENCH_STORAGE_TIMEOUT_MS", "batch_timeout_ms"),
    ]);
    let collector_keys = keys_from_env(&[
        ("MP_BENCH_COLLECTOR_BATCH_MS", "batch_ms"),
        ("MP_BENCH_COLLECTOR_IN_FLIGHT", "batches_in_flight"),
    ]);
    // `MP_BENCH_SERVICE_ENV="K=V,K2=V2"`: environment of the collector and storage services
    // (e.g. `TOKIO_WORKER_THREADS=1`), which otherwise start with a cleared one.
    let service_env_text = env_or("MP_BENCH_SERVICE_ENV", "");
    let service_env: Vec<(&str, &str)> = service_env_text
        .split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| kv.split_once('=').expect("MP_BENCH_SERVICE_ENV: K=V,..."))
        .collect();
    let n_collectors = group::count("MP_BENCH_COLLECTORS");
    let n_storages = group::count("MP_BENCH_STORAGES");
    marketprism_bins::common::install_crypto();
    let http = reqwest::Client::new();

    println!("== baselines (same run) ==");
    let raw_js = raw::jetstream_publish(&nats, 200_000).await;
    println!("raw JetStream publish (async-nats, 2048 in flight): {raw_js:>10.0} msg/s");
    let raw_ch = raw::clickhouse_insert(&clickhouse, 500_000).await;
    println!("raw ClickHouse insert (clickhouse crate, 10k rows/batch): {raw_ch:>10.0} rows/s");

    let run = unique();
    let db = format!("mpt_bench_{run}");
    let stream = format!("BENCH_{}", run.to_uppercase());
    let prefix = format!("bench{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = env_or("MP_BENCH_STREAM_LAYOUT", "per_symbol");
    let stream_layout: marketprism_storage::nats::StreamLayout =
        serde_json::from_value(serde_json::Value::String(layout.clone()))
            .expect("MP_BENCH_STREAM_LAYOUT: per_symbol, bulk or bulk_only");
    let service = |port: u16| {
        format!(
            "[service]\nlisten = \"127.0.0.1:{port}\"\n\n[nats]\nurl = \"{nats}\"\n\
             stream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\nstream_layout = \"{layout}\"\n"
        )
    };
    // Each process in a folder of its own (config, log, embedded store); every storage
    // service binds the same durable consumer and they split the stream.
    let proc_dir = |name: String| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).expect("process dir");
        d
    };
    let mut storage = Group::default();
    for i in 0..n_storages {
        let sto_dir = proc_dir(format!("storage{i}"));
        let sto_port = free_port();
        let config = format!(
            "{}\n[consumer]\n{storage_consumer}\n[clickhouse]\nurl = \"{clickhouse}/?database={db}\"\n\n\
             [embedded]\npath = \"{}\"\n",
            service(sto_port),
            sto_dir.join("store.redb").display()
        );
        storage.0.push(Proc::service_with_env(
            "data-storage-service",
            sto_port,
            &config,
            &sto_dir,
            &service_env,
        ));
    }

    // Every event the collector publishes, as delivered by NATS to a plain subscriber.
    let observed = Arc::new(Observed::default());
    let client = async_nats::connect(&nats).await.expect("nats");
    // The per-symbol subjects only (in the bulk layout the stream's `bulk.>` messages hold
    // the same events again), or `bulk.>` where no per-symbol subject carries them.
    let mut sub = futures::stream::SelectAll::new();
    let tokens: &[&str] = if stream_layout.has_symbol_subjects() {
        &marketprism_storage::nats::TYPE_TOKENS
    } else {
        &[marketprism_storage::nats::BULK_TOKEN]
    };
    for t in tokens {
        sub.push(
            client
                .subscribe(format!("{prefix}.{t}.>"))
                .await
                .expect("subscribe"),
        );
    }
    let obs = Arc::clone(&observed);
    // Unbuffered (one write a slow event): the subscriber task is never joined.
    let mut slow_log = std::env::var_os("MP_BENCH_SLOW_LOG").map(|path| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("MP_BENCH_SLOW_LOG")
    });
    let slow_us: u64 = env_or("MP_BENCH_SLOW_MS", "3")
        .parse::<u64>()
        .expect("MP_BENCH_SLOW_MS")
        * 1000;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let recv = now_ns();
            obs.messages.fetch_add(1, Ordering::Relaxed);
            let header = msg
                .headers
                .as_ref()
                .and_then(|h| h.get(EVENTS_HEADER))
                .map(|v| v.as_str());
            for range in event_ranges(&msg.payload, header) {
                obs.count.fetch_add(1, Ordering::Relaxed);
                if !obs.recording.load(Ordering::Relaxed) {
                    continue;
                }
                #[derive(serde::Deserialize)]
                struct Times {
                    exchange_ts: i64,
                    local_ts: i64,
                }
                if let Ok(t) = serde_json::from_slice::<Times>(&msg.payload[range.clone()]) {
                    let us = |from: i64| u64::try_from((recv - from) / 1000).unwrap_or(0);
                    if let Some(log) = slow_log.as_mut().filter(|_| us(t.local_ts) > slow_us) {
                        use std::io::Write;
                        let line = format!(
                            "{recv} {} {} {} {}\n",
                            t.local_ts,
                            us(t.local_ts),
                            msg.subject,
                            range.len()
                        );
                        let _ = log.write_all(line.as_bytes());
                    }
                    obs.receipt_to_nats.lock().unwrap().0.push(us(t.local_ts));
                    obs.exchange_to_nats
                        .lock()
                        .unwrap()
                        .0
                        .push(us(t.exchange_ts));
                }
            }
        }
    });

    let symbols: Vec<String> = (0..n_symbols).map(|i| format!("S{i:03}USDT")).collect();
    let normalized: Vec<String> = (0..n_symbols)
        .map(|i| format!("\"S{i:03}-USDT\""))
        .collect();
    println!(
        "\n== pipeline: {n_symbols} symbols, Binance spot trades + book + bbo, {} s steps, \
         {n_collectors} collector(s), {n_storages} storage service(s) ==",
        step.as_secs()
    );
    let mut best = 0.0_f64;
    let (mut top_published, mut top_stored) = (0.0_f64, 0.0_f64);
    let mut steps: Vec<summary::StepResult> = Vec::new();
    for rate in rates {
        let mut sim = SimProc::start("binance-spot", &symbols.join(","), rate, 3).await;
        let mut collector = Group::default();
        for i in 0..n_collectors {
            let col_port = free_port();
            let config = format!(
                "batch_size = {collector_batch}\n{collector_keys}{}\n[shard]\nindex = {i}\ncount = {n_collectors}\n\n\
                 [[exchanges]]\nvenue = \"binance-spot\"\nchannels = [\"trades\", \"book\", \"bbo\"]\n\
                 symbols = [{}]\nws_url = \"ws://{addr}\"\nrest_url = \"http://{addr}\"\n",
                service(col_port),
                normalized.join(", "),
                addr = sim.addr
            );
            let col_dir = proc_dir(format!("collector{rate}-{i}"));
            collector.0.push(Proc::service_with_env(
                "market-data-collector",
                col_port,
                &config,
                &col_dir,
                &service_env,
            ));
        }
        tokio::time::sleep(Duration::from_secs(4)).await; // connect, sync books, warm up
        let sim_url = format!("http://{}", sim.addr);
        let m0 = observed.messages.load(Ordering::Relaxed);
        let (e0, n0, s0) = (
            sim_events(&http, &sim_url).await,
            observed.count.load(Ordering::Relaxed),
            stored_rows(&http, &clickhouse, &db).await,
        );
        *observed.receipt_to_nats.lock().unwrap() = Samples::default();
        *observed.exchange_to_nats.lock().unwrap() = Samples::default();
        let pids = [sim.pid(), server_pid("nats"), server_pid("clickhouse")];
        let cpu_now = |collector: &Group, storage: &Group| -> Vec<f64> {
            let servers: Vec<f64> = pids.iter().map(|p| p.map_or(0.0, cpu_secs)).collect();
            vec![
                servers[0],
                collector.cpu_secs(),
                storage.cpu_secs(),
                servers[1],
                servers[2],
            ]
        };
        let cpu0 = cpu_now(&collector, &storage);
        observed.recording.store(true, Ordering::Relaxed);
        let started = Instant::now();
        let watermark = now_ns();
        let mut visible = Samples::default();
        let mut seen_to = watermark;
        let mut rss = [0_u64; 3];
        while started.elapsed() < step {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let polled = now_ns();
            let sql = format!(
                "SELECT local_ts FROM `{db}`.trade WHERE local_ts > {seen_to} FORMAT TabSeparated"
            );
            for ts in ch(&http, &clickhouse, sql).await.lines() {
                if let Ok(ts) = ts.parse::<i64>() {
                    visible
                        .0
                        .push(u64::try_from((polled - ts) / 1000).unwrap_or(0));
                    seen_to = seen_to.max(ts);
                }
            }
            let now = [
                sim.pid().map_or(0, rss_kib),
                collector.max_rss_kib(),
                storage.max_rss_kib(),
            ];
            for (slot, kib) in rss.iter_mut().zip(now) {
                *slot = (*slot).max(kib);
            }
        }
        observed.recording.store(false, Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        let cpu: Vec<f64> = cpu_now(&collector, &storage)
            .iter()
            .zip(&cpu0)
            .map(|(c, c0)| c - c0)
            .collect();
        let offered = (sim_events(&http, &sim_url).await - e0) as f64 / secs;
        let published = (observed.count.load(Ordering::Relaxed) - n0) as f64 / secs;
        let messages = (observed.messages.load(Ordering::Relaxed) - m0) as f64 / secs;
        let stored = (stored_rows(&http, &clickhouse, &db).await - s0) as f64 / secs;
        println!(
            "\nstep {rate}/s/symbol: sim {offered:>8.0} ev/s  published {published:>8.0} ev/s \
             in {messages:>8.0} msg/s ({:.2} ev/msg)  stored {stored:>8.0} rows/s",
            published / messages.max(1e-9)
        );
        println!(
            "  receipt → NATS     {}",
            observed.receipt_to_nats.lock().unwrap().summary()
        );
        println!(
            "  exchange → NATS    {}  (exchange time has ms resolution)",
            observed.exchange_to_nats.lock().unwrap().summary()
        );
        println!(
            "  receipt → ClickHouse visible {}  (polled every 100 ms)",
            visible.summary()
        );
        println!(
            "  RSS max: sim {} MiB, collector {} MiB, storage {} MiB",
            rss[0] / 1024,
            rss[1] / 1024,
            rss[2] / 1024
        );
        // Cores used, and events per CPU-second: how far one core would carry each process.
        println!(
            "  CPU: sim {:.2} cores, collector {:.2} cores ({:.0} ev per CPU-s), storage {:.2} cores ({:.0} rows per CPU-s)",
            cpu[0] / secs,
            cpu[1] / secs,
            published * secs / cpu[1].max(1e-9),
            cpu[2] / secs,
            stored * secs / cpu[2].max(1e-9)
        );
        println!(
            "  CPU: nats-server {:.2} cores, clickhouse {:.2} cores (of 2)",
            cpu[3] / secs,
            cpu[4] / secs
        );
        steps.push(summary::StepResult {
            offered,
            published,
            stored,
            platform_cores: (cpu[1] + cpu[2] + cpu[3] + cpu[4]) / secs,
            p99_receipt_to_nats_ms: observed.receipt_to_nats.lock().unwrap().pct(0.99),
            p99_ch_visible_ms: visible.pct(0.99),
        });
        top_published = top_published.max(published);
        top_stored = top_stored.max(stored);
        if published >= 0.95 * offered && stored >= 0.9 * published {
            best = best.max(published);
        }
        collector.terminate(Duration::from_secs(20)).await;
        sim.stop().await;
    }
    if env_or("MP_BENCH_MEMORY", "1") != "0" {
        memory_case(&http, &clickhouse, &db, &service, dir.path()).await;
    }
    summarize(best, top_published, top_stored, raw_js, raw_ch);
    let js = async_nats::jetstream::new(client.clone());
    if let Ok(mut s) = js.get_stream(&stream).await
        && let Ok(info) = s.info().await
    {
        let delivered = observed.count.load(Ordering::Relaxed);
        println!(
            "stream: {} messages stored for {delivered} events delivered live (layout {layout})",
            info.state.messages
        );
    }
    storage.terminate(Duration::from_secs(20)).await;
    platform::cleanup(&http, &clickhouse, &db, &nats, &stream).await;
    let batch_ms = env_or("MP_BENCH_COLLECTOR_BATCH_MS", "default");
    println!(
        "pipeline-shape: collectors={n_collectors} storages={n_storages} layout={layout} \
         collector_batch_ms={batch_ms}"
    );
    println!("{}", summary::line(&steps));
}

/// Memory: 100 symbols with 1000-level books on one collector.
async fn memory_case(
    http: &reqwest::Client,
    clickhouse: &str,
    db: &str,
    service: &dyn Fn(u16) -> String,
    dir: &std::path::Path,
) {
    let symbols: Vec<String> = (0..100).map(|i| format!("M{i:03}USDT")).collect();
    let normalized: Vec<String> = (0..100).map(|i| format!("\"M{i:03}-USDT\"")).collect();
    let mut sim = SimProc::start_with(
        "binance-spot",
        &symbols.join(","),
        20,
        5,
        &["--book-depth", "1000"],
    )
    .await;
    let col_port = free_port();
    let collector = format!(
        "book_depth = 1000\n{}\n[[exchanges]]\nvenue = \"binance-spot\"\nchannels = [\"trades\", \"book\"]\n\
         symbols = [{}]\nws_url = \"ws://{addr}\"\nrest_url = \"http://{addr}\"\n",
        service(col_port),
        normalized.join(", "),
        addr = sim.addr
    );
    let mut collector = Proc::service("market-data-collector", col_port, &collector, dir);
    let mut synced = 0;
    // Snapshots of 1000 levels weigh 50 on Binance: the weight budget spreads 100 of them
    // over about a minute (as against the real exchange).
    for _ in 0..240 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sql =
            format!("SELECT uniqExact(symbol) FROM `{db}`.book_snapshot WHERE symbol LIKE 'M%'");
        synced = ch(http, clickhouse, sql).await.trim().parse().unwrap_or(0);
        if synced >= 100 {
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = collector.pid().map_or(0, rss_kib);
    println!(
        "\n== memory: 100 symbols × 1000-level books ({synced} books synced) ==\n\
         collector RSS {:.1} MiB (target ≤ 60 MB)",
        rss as f64 / 1024.0
    );
    let _ = collector.terminate(Duration::from_secs(20)).await;
    sim.stop().await;
}

fn summarize(best: f64, top_published: f64, top_stored: f64, raw_js: f64, raw_ch: f64) {
    println!("\n== summary ==");
    println!(
        "pipeline sustained {best:.0} ev/s = {:.2} × raw JetStream publish ({raw_js:.0} msg/s)",
        best / raw_js
    );
    println!(
        "highest rates seen: published {top_published:.0} ev/s = {:.2} × raw JetStream publish; \
         stored {top_stored:.0} rows/s = {:.2} × raw ClickHouse insert ({raw_ch:.0} rows/s)",
        top_published / raw_js,
        top_stored / raw_ch
    );
    println!(
        "(ClickHouse sink vs raw insert alone: marketprism-storage example storage_throughput)"
    );
}
