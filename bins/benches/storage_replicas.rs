//! Storage throughput with one and with several `data-storage-service` processes on one
//! durable consumer: the collector first fills a JetStream stream from `marketprism sim`
//! (Binance spot trades + book + BBO) and stops; then, for each process count, fresh storage
//! processes (a new durable consumer, a new ClickHouse database, a Redis prefix) drain that
//! same backlog, and the bench prints the drain rate (messages acked per second, from the
//! first ack to the last), each process's CPU, and the ratio to one process. Nothing else
//! runs during a drain, so the figure is the storage side's alone (plus nats-server,
//! ClickHouse and Redis on the same cores).
//!
//! `scripts/services.sh start && cargo bench -p marketprism-bins --bench storage_replicas`
//! Env: `MP_BENCH_BACKLOG` (messages, default 150000), `MP_BENCH_PROCS` (default `1,2`),
//! `MP_BENCH_REPEAT` (drains per count, default 2), `MP_BENCH_STORAGE_BATCH` (default 1000),
//! and the servers' `MARKETPRISM_TEST_{NATS,CLICKHOUSE,REDIS}_URL`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/platform/mod.rs"]
mod platform;

use std::time::{Duration, Instant};

use platform::{Proc, SimProc, cpu_secs, env_or, free_port, server_pid, unique};

const SERVERS: [&str; 3] = ["nats", "clickhouse", "redis"];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nats = env_or("MARKETPRISM_TEST_NATS_URL", "nats://127.0.0.1:4222");
    let clickhouse = env_or("MARKETPRISM_TEST_CLICKHOUSE_URL", "http://127.0.0.1:8123");
    let redis = env_or("MARKETPRISM_TEST_REDIS_URL", "redis://127.0.0.1:6379");
    let backlog: u64 = env_or("MP_BENCH_BACKLOG", "150000")
        .parse()
        .expect("backlog");
    let counts: Vec<usize> = env_or("MP_BENCH_PROCS", "1,2")
        .split(',')
        .map(|n| n.trim().parse().expect("MP_BENCH_PROCS"))
        .collect();
    let repeat: usize = env_or("MP_BENCH_REPEAT", "2").parse().expect("repeat");
    let batch: usize = env_or("MP_BENCH_STORAGE_BATCH", "1000")
        .parse()
        .expect("batch");
    marketprism_bins::common::install_crypto();
    let http = reqwest::Client::new();
    let run = unique();
    let stream = format!("DRAIN_{}", run.to_uppercase());
    let prefix = format!("drain{run}");
    let dir = tempfile::tempdir().expect("tempdir");
    let nats_toml =
        format!("[nats]\nurl = \"{nats}\"\nstream = \"{stream}\"\nsubject_prefix = \"{prefix}\"\n");

    // 1. The backlog.
    let symbols: Vec<String> = (0..20).map(|i| format!("S{i:03}USDT")).collect();
    let normalized: Vec<String> = (0..20).map(|i| format!("\"S{i:03}-USDT\"")).collect();
    let mut sim = SimProc::start("binance-spot", &symbols.join(","), 1000, 3).await;
    let col = free_port();
    let collector = format!(
        "[service]\nlisten = \"127.0.0.1:{col}\"\n\n{nats_toml}\n[[exchanges]]\n\
         venue = \"binance-spot\"\nchannels = [\"trades\", \"book\", \"bbo\"]\n\
         symbols = [{}]\nws_url = \"ws://{addr}\"\nrest_url = \"http://{addr}\"\n",
        normalized.join(", "),
        addr = sim.addr
    );
    let mut collector = Proc::service("market-data-collector", col, &collector, dir.path());
    let client = async_nats::connect(&nats).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let fill = Instant::now();
    let messages = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let n = match js.get_stream(&stream).await {
            Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        };
        if n >= backlog {
            break n;
        }
        assert!(
            fill.elapsed() < Duration::from_secs(300),
            "backlog at {n} after 300 s"
        );
    };
    collector.terminate(Duration::from_secs(20)).await;
    sim.stop().await;
    let messages = js
        .get_stream(&stream)
        .await
        .expect("stream")
        .info()
        .await
        .map_or(messages, |i| i.state.messages);
    println!(
        "backlog: {messages} messages in {:.1} s (trades + book + BBO, 20 symbols)",
        fill.elapsed().as_secs_f64()
    );

    // 2. Drains.
    println!(
        "\n| storage processes | drain rate (msg/s) | CPU per process (cores) | nats / clickhouse / redis (cores) | runs |"
    );
    println!("|---|---|---|---|---|");
    let mut base: Option<f64> = None;
    for &k in &counts {
        let mut rates = Vec::new();
        let mut cpus = Vec::new();
        let mut servers = [0.0_f64; 3];
        for r in 0..repeat {
            let (rate, cpu, srv) = drain(
                &js,
                &http,
                &stream,
                &nats_toml,
                &clickhouse,
                &redis,
                k,
                r,
                batch,
                messages,
                dir.path(),
                &run,
            )
            .await;
            rates.push(rate);
            cpus.extend(cpu);
            for (t, s) in servers.iter_mut().zip(srv) {
                *t += s / repeat as f64;
            }
        }
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let ratio = base.map_or(1.0, |b| mean / b);
        base.get_or_insert(mean);
        let cpu = cpus.iter().sum::<f64>() / cpus.len().max(1) as f64;
        let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "| {k} | {mean:.0} ({ratio:.2}× one) | {cpu:.2} | {:.2} / {:.2} / {:.2} | {} |",
            servers[0],
            servers[1],
            servers[2],
            runs.join(", ")
        );
    }
    let _ = js.delete_stream(&stream).await;
    let _ = js.delete_stream(format!("{stream}_DEADLETTER")).await;
}

/// Starts `k` storage processes on a fresh durable consumer and returns the drain rate
/// (messages from the first ack to the last, per second) and each process's CPU cores.
#[allow(clippy::too_many_arguments)]
async fn drain(
    js: &async_nats::jetstream::Context,
    http: &reqwest::Client,
    stream: &str,
    nats_toml: &str,
    clickhouse: &str,
    redis: &str,
    k: usize,
    round: usize,
    batch: usize,
    messages: u64,
    dir: &std::path::Path,
    run: &str,
) -> (f64, Vec<f64>, Vec<f64>) {
    let durable = format!("drain{k}x{round}");
    let db = format!("mpt_drain_{run}_{k}_{round}");
    let mut procs = Vec::new();
    for i in 0..k {
        let sub = dir.join(format!("{durable}-{i}"));
        std::fs::create_dir_all(&sub).expect("dir");
        let port = free_port();
        let config = format!(
            "[service]\nlisten = \"127.0.0.1:{port}\"\n\n{nats_toml}\n\
             [consumer]\ndurable = \"{durable}\"\nbatch_size = {batch}\n\n\
             [clickhouse]\nurl = \"{clickhouse}/?database={db}\"\n\n\
             [redis]\nurl = \"{redis}\"\nkey_prefix = \"{durable}{run}\"\n\n\
             [embedded]\npath = \"{}\"\n",
            sub.join("store.redb").display()
        );
        procs.push(Proc::service("data-storage-service", port, &config, &sub));
    }
    let stream_handle = js.get_stream(stream).await.expect("stream");
    let mut first: Option<(Instant, u64)> = None;
    let started = Instant::now();
    let cpu0: Vec<f64> = procs
        .iter()
        .map(|p| p.pid().map_or(0.0, cpu_secs))
        .collect();
    let srv0: Vec<f64> = SERVERS
        .iter()
        .map(|s| server_pid(s).map_or(0.0, cpu_secs))
        .collect();
    let (done_at, floor) = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "drain did not finish"
        );
        let Ok(info) = stream_handle.consumer_info(&durable).await else {
            continue;
        };
        let floor = info.ack_floor.stream_sequence;
        if first.is_none() && floor > 0 {
            first = Some((Instant::now(), floor));
        }
        if info.num_pending == 0 && info.num_ack_pending == 0 && floor > 0 {
            break (Instant::now(), floor);
        }
    };
    let cpu: Vec<f64> = procs
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| p.pid().map_or(0.0, cpu_secs) - c0)
        .collect();
    let srv: Vec<f64> = SERVERS
        .iter()
        .zip(&srv0)
        .map(|(s, c0)| server_pid(s).map_or(0.0, cpu_secs) - c0)
        .collect();
    let (t0, f0) = first.expect("acks seen");
    let secs = done_at.duration_since(t0).as_secs_f64().max(1e-3);
    let rate = floor.min(messages).saturating_sub(f0) as f64 / secs;
    // Cores over the whole life of the processes (start, schema, drain).
    let wall = done_at.duration_since(started).as_secs_f64().max(1e-3);
    let cores: Vec<f64> = cpu.iter().map(|c| c / wall).collect();
    let servers: Vec<f64> = srv.iter().map(|c| c / wall).collect();
    for p in &mut procs {
        p.terminate(Duration::from_secs(20)).await;
    }
    let _ = stream_handle.delete_consumer(&durable).await;
    let _ = http
        .post(clickhouse)
        .body(format!("DROP DATABASE IF EXISTS `{db}`"))
        .send()
        .await;
    (rate, cores, servers)
}
