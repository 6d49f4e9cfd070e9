//! Processes of the multi-process platform test: each service binary as a child with its own
//! config file and log, and the tails of every log printed when the test fails.
// Shared by the end-to-end test and the pipeline benchmark; each uses a part of it.
#![allow(dead_code)]

pub(crate) mod clickhouse_pair;
pub(crate) mod collectors;
pub(crate) mod nats_cluster;
pub(crate) mod netns;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// One child process of the platform.
pub(crate) struct Proc {
    /// Binary name.
    pub(crate) name: &'static str,
    /// Its HTTP port (0 for none).
    pub(crate) port: u16,
    child: Child,
    config: PathBuf,
    log: PathBuf,
    /// Extra environment (e.g. `MARKETPRISM_SERVICE__TOKENS`), kept for restarts.
    env: Vec<(String, String)>,
}

impl Proc {
    /// Starts the service binary `name` with `config` (TOML), logging to `dir/<name>.log`.
    pub(crate) fn service(name: &'static str, port: u16, config: &str, dir: &Path) -> Proc {
        Self::service_with_env(name, port, config, dir, &[])
    }

    /// [`Proc::service`] with extra environment variables (kept for restarts).
    pub(crate) fn service_with_env(
        name: &'static str,
        port: u16,
        config: &str,
        dir: &Path,
        env: &[(&str, &str)],
    ) -> Proc {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("write config");
        let log = dir.join(format!("{name}.log"));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = spawn_service(name, &path, &log, &env);
        Proc {
            name,
            port,
            child,
            config: path,
            log,
            env,
        }
    }

    /// Kills with SIGKILL (no deregistration, no flush, no ack) and reaps it.
    pub(crate) async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    /// Its process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Starts the same binary again with the same config (the log is appended to).
    pub(crate) fn restart(&mut self) {
        self.child = spawn_service(self.name, &self.config, &self.log, &self.env);
    }

    /// SIGTERM, then the exit status within `limit`.
    pub(crate) async fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running");
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within {limit:?} of SIGTERM", self.name))
            .expect("wait")
    }

    /// The last `lines` warnings and errors of its log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("panicked"))
            .collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The service binary `name`: this build's, or the one in `MARKETPRISM_TEST_BIN_DIR` when
/// set (the pipeline bench uses it to compare two builds in one session).
fn binary(name: &str) -> PathBuf {
    match std::env::var_os("MARKETPRISM_TEST_BIN_DIR") {
        Some(dir) => Path::new(&dir).join(name),
        None => PathBuf::from(built_binary(name)),
    }
}

fn built_binary(name: &str) -> &'static str {
    match name {
        "api-gateway" => env!("CARGO_BIN_EXE_api-gateway"),
        "market-data-collector" => env!("CARGO_BIN_EXE_market-data-collector"),
        "data-storage-service" => env!("CARGO_BIN_EXE_data-storage-service"),
        "monitoring-service" => env!("CARGO_BIN_EXE_monitoring-service"),
        "scheduler-service" => env!("CARGO_BIN_EXE_scheduler-service"),
        "message-broker-service" => env!("CARGO_BIN_EXE_message-broker-service"),
        other => panic!("unknown binary {other}"),
    }
}

fn spawn_service(name: &str, config: &Path, log: &Path, env: &[(String, String)]) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(binary(name))
        .arg("--config")
        .arg(config)
        // The test's own MARKETPRISM_TEST_* variables are not configuration; keep the
        // environment to what a deployment would have.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"))
}

/// `marketprism sim` as a child; its address is read from the first line it prints.
pub(crate) struct SimProc {
    /// `127.0.0.1:port`.
    pub(crate) addr: String,
    child: Child,
}

impl SimProc {
    /// Starts a simulator of `exchange` for `symbols` (native) at `rate` events/s/symbol.
    pub(crate) async fn start(exchange: &str, symbols: &str, rate: u32, seed: u64) -> SimProc {
        Self::start_with(exchange, symbols, rate, seed, &[]).await
    }

    /// [`SimProc::start`] with more `marketprism sim` flags.
    pub(crate) async fn start_with(
        exchange: &str,
        symbols: &str,
        rate: u32,
        seed: u64,
        extra: &[&str],
    ) -> SimProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_marketprism"))
            .args(["sim", "--exchange", exchange, "--listen", "127.0.0.1:0"])
            .args(["--symbols", symbols, "--rate", &rate.to_string()])
            .args(["--seed", &seed.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn marketprism sim");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("sim prints its address")
            .expect("read")
            .expect("a line");
        let addr = first.rsplit(' ').next().expect("address word").to_owned();
        // Keep draining what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        SimProc { addr, child }
    }

    /// Its process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops it.
    pub(crate) async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A port free right now on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` distinct ports free right now on 127.0.0.1: all are held open until every one is
/// chosen, so a process given several of them cannot be handed the same port twice.
pub(crate) fn free_ports<const N: usize>() -> [u16; N] {
    let held: [std::net::TcpListener; N] =
        std::array::from_fn(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"));
    held.map(|l| l.local_addr().expect("addr").port())
}

/// Polls `check` every 200 ms until it returns `Some`, or panics with `what` after `limit`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// GET `url` as JSON, `None` on any failure.
pub(crate) async fn get_json(client: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let r = client.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// A name unique to this run.
pub(crate) fn unique() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", (t as u64) ^ (u64::from(std::process::id()) << 40))
}

/// Drops the run's ClickHouse database and deletes its JetStream streams (market data and
/// dead letters); best effort.
pub(crate) async fn cleanup(http: &reqwest::Client, ch: &str, db: &str, nats: &str, stream: &str) {
    let _ = http
        .post(ch)
        .body(format!("DROP DATABASE IF EXISTS `{db}`"))
        .send()
        .await;
    if let Ok(client) = async_nats::connect(nats).await {
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(stream).await;
        let _ = js.delete_stream(format!("{stream}_DEADLETTER")).await;
    }
}

/// POSTs to `url` and asserts success.
pub(crate) async fn post_ok(http: &reqwest::Client, url: &str) {
    let r = http.post(url).send().await.expect("POST");
    assert!(r.status().is_success(), "POST {url}: {}", r.status());
}

/// The simulator's `(first, last)` trade ids of each native symbol in `natives` (`None`
/// before the first trade).
pub(crate) async fn sim_trade_ids(
    http: &reqwest::Client,
    sim_url: &str,
    natives: &[&str],
) -> Vec<(Option<u64>, Option<u64>)> {
    let stats = get_json(http, &format!("{sim_url}/_sim/stats"))
        .await
        .expect("sim stats");
    natives
        .iter()
        .map(|native| {
            let s = &stats["symbols"][native];
            assert!(s.is_object(), "sim has no {native}: {stats}");
            (s["first_trade_id"].as_u64(), s["last_trade_id"].as_u64())
        })
        .collect()
}

/// Rows of `(String, u64)` from a ClickHouse query ending in `FORMAT TabSeparated`.
pub(crate) async fn clickhouse_pairs(
    http: &reqwest::Client,
    url: &str,
    query: &str,
) -> Option<Vec<(String, u64)>> {
    let r = http.post(url).body(query.to_owned()).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    let text = r.text().await.ok()?;
    text.lines()
        .map(|l| {
            let (s, id) = l.split_once('\t')?;
            Some((s.to_owned(), id.parse().ok()?))
        })
        .collect()
}

/// Waits (polling every `poll`, at most `timeout`) until the ClickHouse `trade` table of
/// `database` holds as many deduplicated Binance trades as `expected`, then asserts that
/// exactly `expected` is stored, each once.
pub(crate) async fn assert_trades_stored_once(
    http: &reqwest::Client,
    clickhouse: &str,
    database: &str,
    expected: &std::collections::BTreeSet<(String, u64)>,
    timeout: Duration,
    poll: Duration,
) {
    let query = format!(
        "SELECT symbol, trade_id FROM `{database}`.trade FINAL \
         WHERE exchange = 'binance' FORMAT TabSeparated"
    );
    // On timeout the comparison below says what differs.
    let started = Instant::now();
    let stored = loop {
        let rows = clickhouse_pairs(http, clickhouse, &query)
            .await
            .unwrap_or_default();
        if rows.len() >= expected.len() || started.elapsed() > timeout {
            break rows;
        }
        tokio::time::sleep(poll).await;
    };
    let stored_set: std::collections::BTreeSet<(String, u64)> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "FINAL returned a duplicate");
    let missing: Vec<_> = expected.difference(&stored_set).take(10).collect();
    let extra: Vec<_> = stored_set.difference(expected).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "stored ≠ produced ({} vs {}): missing {missing:?}, extra {extra:?}",
        stored_set.len(),
        expected.len()
    );
}

/// The HA tests' pipeline: a storage service (consumer batches of 200, `clickhouse` as its
/// `[clickhouse]` TOML, an embedded store in `dir`) and a collector of `sim`'s Binance-spot
/// trades of `symbols`, both on `nats` (the `[nats]` TOML); returns once both answer `/health`.
pub(crate) async fn start_trade_pipeline(
    http: &reqwest::Client,
    dir: &Path,
    nats: &str,
    clickhouse: &str,
    sim: &SimProc,
    symbols: &[&str],
) -> Vec<Proc> {
    let service = |port: u16| format!("[service]\nlisten = \"127.0.0.1:{port}\"\n\n{nats}");
    let (sto, col) = (free_port(), free_port());
    let storage = format!(
        "{}\n[consumer]\nbatch_size = 200\nbatch_timeout_ms = 100\nack_wait_ms = 2000\n\n\
         {clickhouse}\n\n[embedded]\npath = \"{}\"\n",
        service(sto),
        dir.join("store.redb").display()
    );
    let collector = format!(
        "{}\n[[exchanges]]\nvenue = \"binance-spot\"\nchannels = [\"trades\"]\n\
         symbols = [\"{}\"]\nws_url = \"ws://{addr}\"\nrest_url = \"http://{addr}\"\n",
        service(col),
        symbols.join("\", \""),
        addr = sim.addr
    );
    let procs = vec![
        Proc::service("data-storage-service", sto, &storage, dir),
        Proc::service("market-data-collector", col, &collector, dir),
    ];
    for p in &procs {
        let url = format!("http://127.0.0.1:{}/health", p.port);
        wait_for(
            &format!("{} answers", p.name),
            Duration::from_secs(60),
            || async { http.get(&url).send().await.ok().map(|_| ()) },
        )
        .await;
    }
    procs
}

/// A port `base` with `base..base + 6` all free: the six services of one-process mode
/// (`--base-port`).
pub(crate) fn free_base_port() -> u16 {
    for _ in 0..200 {
        let base = free_port().saturating_sub(6).max(1024);
        if (0..6).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no 6 consecutive free ports");
}

/// The `(symbol, trade id)` pairs the simulator produced between two [`sim_trade_ids`]
/// readings of the same natives (`symbols[k]` is the normalized name of the k-th native):
/// ids are contiguous per symbol, so everything after the last id of `before`.
pub(crate) fn produced_trades(
    symbols: &[&str],
    before: &[(Option<u64>, Option<u64>)],
    after: &[(Option<u64>, Option<u64>)],
) -> std::collections::BTreeSet<(String, u64)> {
    let mut produced = std::collections::BTreeSet::new();
    for (k, symbol) in symbols.iter().enumerate() {
        let (first, last) = after[k];
        let from = before[k]
            .1
            .map_or(first.expect("trades produced"), |id| id + 1);
        for id in from..=last.expect("trades produced") {
            produced.insert(((*symbol).to_owned(), id));
        }
    }
    produced
}

/// `Duration::from_secs`, short for the timings the multi-process tests spell out.
pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The HTTP client of the multi-process tests: a 10 s timeout, so a hung service fails the
/// test instead of stalling it.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(secs(10))
        .build()
        .expect("client")
}

/// Prints the last 40 log lines of each of `procs` when the thread is panicking (a failing
/// test), so the failure shows what the services said.
pub(crate) fn print_logs_on_panic(procs: &[Proc]) {
    if std::thread::panicking() {
        for p in procs {
            eprintln!(
                "----- {} (port {}) -----\n{}",
                p.name,
                p.port,
                p.log_tail(40)
            );
        }
    }
}

/// Service children; prints their logs when the test fails.
pub(crate) struct Procs(pub(crate) Vec<Proc>);

impl Drop for Procs {
    fn drop(&mut self) {
        print_logs_on_panic(&self.0);
    }
}

/// The environment variable `key`, or `default` when it is unset.
pub(crate) fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// CPU seconds (user + system) the process has used so far.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// Pid of a server started by scripts/services.sh (its pid file), if any.
pub(crate) fn server_pid(name: &str) -> Option<u32> {
    let dir = std::env::var("MARKETPRISM_SERVICES_DIR")
        .unwrap_or_else(|_| format!("{}/.cache/marketprism/services", env_or("HOME", ".")));
    std::fs::read_to_string(format!("{dir}/run/{name}.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}
