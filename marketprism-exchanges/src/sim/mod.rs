//! A local exchange simulator (feature `sim`): one WebSocket + REST server per venue that
//! speaks the exchange's real protocol, generates a seeded random-walk market (or replays
//! corpus files), and injects faults on command.
//!
//! Everything lives on one port: WebSocket upgrades on any path (Binance `/ws/<stream>`,
//! `/stream?streams=a/b`, OKX `/ws/v5/public`, Deribit `/ws/api/v2`), the REST endpoints the
//! connectors use, and the control routes under `/_sim/` (see [`Fault`] and the
//! `control` module docs for the JSON shapes).
//!
//! ```no_run
//! use marketprism_exchanges::{Venue, sim::{Fault, SimConfig, SimHandle}};
//! # async fn demo() -> std::io::Result<()> {
//! let sim = SimHandle::start(
//!     SimConfig::new(Venue::BinanceSpot).symbols(["BTCUSDT"]).rate(200.0).seed(7),
//! )
//! .await?;
//! let ws = format!("{}/stream?streams=btcusdt@depth@100ms", sim.ws_url());
//! sim.inject(&Fault::Gap { symbol: Some("BTCUSDT".into()), skip: 3 });
//! sim.pause();
//! let book = sim.truth_book("BTCUSDT");
//! # drop((ws, book)); Ok(()) }
//! ```

mod binance;
mod binance_rest;
mod conn;
mod control;
mod deribit;
mod deribit_rest;
mod faults;
mod instrument;
mod market;
mod okx;
mod replay;
#[cfg(test)]
mod tests;
mod update;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

pub use control::{ConnStats, RestStats, SimStats, SymbolStats, TruthBook};
pub use faults::Fault;

use crate::Venue;
use conn::ConnEntry;
use faults::RestFault;
use market::{Market, MarketOptions, Update};

/// Simulator configuration (builder).
///
/// ```
/// use std::time::Duration;
/// use marketprism_exchanges::{Venue, sim::{Fault, SimConfig}};
/// let config = SimConfig::new(Venue::Okx)
///     .symbols(["BTC-USDT", "BTC-USDT-SWAP"])
///     .rate(500.0)
///     .seed(42)
///     .book_depth(100)
///     .max_lifetime(Duration::from_secs(10))
///     .fault_after(Duration::from_secs(5), Fault::Drop { conn: None, symbol: None });
/// assert_eq!(config.venue(), Venue::Okx);
/// ```
#[derive(Debug, Clone)]
pub struct SimConfig {
    venue: Venue,
    symbols: Vec<String>,
    rate: f64,
    seed: u64,
    faults: Vec<(Duration, Fault)>,
    max_lifetime: Option<Duration>,
    book_depth: usize,
    ping_interval: Duration,
    pong_timeout: Duration,
    periodic_interval: Duration,
    okx_checksum: bool,
    max_streams: Option<usize>,
    history: usize,
    shutdown_grace: Duration,
    min_heartbeat: Duration,
    buffer: usize,
    replay: Option<(Vec<PathBuf>, f64)>,
    start_paused: bool,
    max_trade_ids: usize,
}

impl SimConfig {
    /// Defaults for `venue`: two symbols, 100 events/s per symbol, seed 1, 50 levels per
    /// side, Binance pings every 20 s, periodic channels (ticker, funding, OI, kline) every 1 s.
    pub fn new(venue: Venue) -> Self {
        SimConfig {
            venue,
            symbols: Vec::new(),
            rate: 100.0,
            seed: 1,
            faults: Vec::new(),
            max_lifetime: None,
            book_depth: 50,
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(60),
            periodic_interval: Duration::from_secs(1),
            okx_checksum: true,
            max_streams: None,
            history: 10_000,
            shutdown_grace: Duration::from_secs(2),
            min_heartbeat: Duration::from_secs(10),
            buffer: 16_384,
            replay: None,
            start_paused: false,
            max_trade_ids: 1_000_000,
        }
    }

    /// The venue.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// Native symbols to simulate (`BTCUSDT`, `BTCUSD_PERP`, `BTC-USDT-SWAP`, `BTC-PERPETUAL`,
    /// `BTC-27JUN25-60000-C` …). Defaults depend on the venue.
    pub fn symbols<I, S>(mut self, symbols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.symbols = symbols.into_iter().map(Into::into).collect();
        self
    }

    /// Market events (book changes, trades) per second and symbol; batched above 1000/s.
    pub fn rate(mut self, events_per_sec: f64) -> Self {
        self.rate = events_per_sec.max(0.0);
        self
    }

    /// Random seed: the same seed gives the same market (for the same event counts).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// A fault injected at start.
    pub fn fault(self, fault: Fault) -> Self {
        self.fault_after(Duration::ZERO, fault)
    }

    /// A fault injected `delay` after start.
    pub fn fault_after(mut self, delay: Duration, fault: Fault) -> Self {
        self.faults.push((delay, fault));
        self
    }

    /// Close connections after this age (Binance: 24 h in production).
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// Levels per side of the truth book.
    pub fn book_depth(mut self, depth: usize) -> Self {
        self.book_depth = depth.max(2);
        self
    }

    /// Interval of Binance server pings.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Close a Binance connection when no pong arrived for this long.
    pub fn pong_timeout(mut self, timeout: Duration) -> Self {
        self.pong_timeout = timeout;
        self
    }

    /// Interval of tickers, funding, mark price, open interest, klines and indexes.
    pub fn periodic_interval(mut self, interval: Duration) -> Self {
        self.periodic_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Send real OKX checksums (`true`, default) or `0` like OKX since mid-2026.
    pub fn okx_checksum(mut self, enabled: bool) -> Self {
        self.okx_checksum = enabled;
        self
    }

    /// Streams per connection (default: the venue's limit: Binance spot 1024, futures 200,
    /// OKX and Deribit 1000).
    pub fn max_streams(mut self, max: usize) -> Self {
        self.max_streams = Some(max);
        self
    }

    /// How many past diffs per symbol `/_sim/book?sequence=` can go back.
    pub fn history(mut self, diffs: usize) -> Self {
        self.history = diffs;
        self
    }

    /// Time between a shutdown notice and the close.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Smallest Deribit heartbeat interval accepted (Deribit: 10 s; lower it in tests).
    pub fn min_heartbeat(mut self, min: Duration) -> Self {
        self.min_heartbeat = min;
        self
    }

    /// Updates buffered per connection before a slow client is disconnected.
    pub fn buffer(mut self, updates: usize) -> Self {
        self.buffer = updates.max(16);
        self
    }

    /// Replay these corpus files (JSON lines) instead of generating a market; `speed` 1.0
    /// follows the recorded timestamps, 10.0 is ten times faster.
    pub fn replay<I, P>(mut self, files: I, speed: f64) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.replay = Some((files.into_iter().map(Into::into).collect(), speed));
        self
    }

    /// Start paused (no market events until [`SimHandle::resume`]).
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    fn effective_symbols(&self) -> Vec<String> {
        if !self.symbols.is_empty() {
            return self.symbols.clone();
        }
        let d: &[&str] = match self.venue {
            Venue::BinanceSpot | Venue::BinanceUsdm => &["BTCUSDT", "ETHUSDT"],
            Venue::BinanceCoinm => &["BTCUSD_PERP", "ETHUSD_PERP"],
            Venue::Okx => &["BTC-USDT", "BTC-USDT-SWAP"],
            Venue::Deribit => &["BTC-PERPETUAL", "ETH-PERPETUAL"],
        };
        d.iter().map(|s| (*s).to_owned()).collect()
    }

    fn stream_limit(&self) -> usize {
        self.max_streams.unwrap_or(match self.venue {
            Venue::BinanceSpot => 1024,
            Venue::BinanceUsdm | Venue::BinanceCoinm => 200,
            Venue::Okx | Venue::Deribit => 1000,
        })
    }
}

/// Locks a mutex, ignoring poisoning (the data stays usable for a simulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// State shared by the market task, connections and routes.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) symbols: Vec<String>,
    pub(crate) market: Mutex<Market>,
    pub(crate) tx: broadcast::Sender<Arc<Update>>,
    pub(crate) conns: Mutex<BTreeMap<u64, ConnEntry>>,
    pub(crate) next_conn: AtomicU64,
    pub(crate) paused: AtomicBool,
    pub(crate) rest: Mutex<RestStats>,
    pub(crate) rest_fault: Mutex<Option<RestFault>>,
    pub(crate) lifetime: watch::Sender<Option<Duration>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) started: tokio::time::Instant,
    pub(crate) faults_injected: AtomicU64,
    pub(crate) replayed: AtomicU64,
}

impl Shared {
    fn new(config: SimConfig) -> Arc<Shared> {
        let symbols = config.effective_symbols();
        let options = MarketOptions {
            seed: config.seed,
            depth: config.book_depth,
            history: config.history,
            okx_checksum: config.okx_checksum,
            max_trade_ids: config.max_trade_ids,
        };
        let market = Market::new(config.venue, &symbols, &options, now_ms());
        let (tx, _) = broadcast::channel(config.buffer);
        let (lifetime, _) = watch::channel(config.max_lifetime);
        Arc::new(Shared {
            paused: AtomicBool::new(config.start_paused),
            config,
            symbols,
            market: Mutex::new(market),
            tx,
            conns: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(0),
            rest: Mutex::new(RestStats::default()),
            rest_fault: Mutex::new(None),
            lifetime,
            cancel: CancellationToken::new(),
            started: tokio::time::Instant::now(),
            faults_injected: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
        })
    }

    /// Sends updates to every connection (never blocks; slow receivers lag and are dropped).
    pub(crate) fn publish(&self, updates: Vec<Update>) {
        for u in updates {
            let _ = self.tx.send(Arc::new(u));
        }
    }
}

/// Runs a simulator on `listener` until `shutdown` completes (mini-redis style).
///
/// ```no_run
/// use marketprism_exchanges::{Venue, sim::{SimConfig, serve}};
/// # async fn demo() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9443").await?;
/// serve(listener, SimConfig::new(Venue::BinanceUsdm), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shared = Shared::new(config);
    run(listener, shared, shutdown).await
}

fn router(shared: Arc<Shared>) -> Router {
    let rest = match shared.config.venue {
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => binance::rest_routes(),
        Venue::Okx => okx::rest_routes(),
        Venue::Deribit => deribit::rest_routes(),
    };
    let rest = rest.layer(axum::middleware::from_fn_with_state(
        shared.clone(),
        control::rest_layer,
    ));
    Router::new()
        .merge(rest)
        .merge(control::routes())
        .fallback(conn::ws_or_404)
        .with_state(shared)
}

async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Some((files, speed)) = shared.config.replay.clone() {
        let lines = replay::load(&files)?;
        tokio::spawn(replay::run(shared.clone(), lines, speed));
    } else {
        tokio::spawn(run_market(shared.clone()));
    }
    for (delay, fault) in shared.config.faults.clone() {
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shared.cancel.cancelled() => {}
                _ = tokio::time::sleep(delay) => { faults::inject(&shared, &fault); }
            }
        });
    }
    let cancel = shared.cancel.clone();
    let app = router(shared.clone());
    // Nagle off, as on an exchange's feed: with it, a small frame written while an earlier
    // one is unacknowledged waits for the client's delayed ACK (tens of milliseconds).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = cancel.cancelled() => {}
            }
            cancel.cancel();
        })
        .await;
    shared.cancel.cancel();
    result
}

/// The market loop: `rate` events per second and symbol, batched per tick, plus the
/// periodic channels. Publishing never blocks.
async fn run_market(shared: Arc<Shared>) {
    let rate = shared.config.rate;
    let tick = Duration::from_secs_f64(if rate > 0.0 {
        (1.0 / rate).max(0.001)
    } else {
        1.0
    });
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut periodic = tokio::time::interval(shared.config.periodic_interval);
    periodic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    let mut acc = 0.0f64;
    loop {
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            _ = ticker.tick() => {
                let now = tokio::time::Instant::now();
                let dt = now.duration_since(last).as_secs_f64();
                last = now;
                if shared.paused.load(Ordering::Relaxed) || rate <= 0.0 {
                    acc = 0.0;
                    continue;
                }
                acc = (acc + rate * dt).min(rate.max(1.0));
                let n = acc.floor();
                acc -= n;
                if n >= 1.0 {
                    let mut out = Vec::new();
                    let mut m = lock(&shared.market);
                    m.generate(n as u64, now_ms(), &mut out);
                    shared.publish(out);
                }
            }
            _ = periodic.tick() => {
                if shared.paused.load(Ordering::Relaxed) {
                    continue;
                }
                let mut out = Vec::new();
                let mut m = lock(&shared.market);
                m.periodic(now_ms(), &mut out);
                shared.publish(out);
            }
        }
    }
}

/// A running simulator, queried and steered in-process.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("venue", &self.config.venue)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Binds `127.0.0.1:0` and starts a simulator on it.
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        SimHandle::spawn(listener, config)
    }

    /// Starts a simulator on `listener` in a background task.
    pub fn spawn(listener: TcpListener, config: SimConfig) -> std::io::Result<SimHandle> {
        let addr = listener.local_addr()?;
        let shared = Shared::new(config);
        let stop = shared.cancel.clone();
        let task = tokio::spawn(run(listener, shared.clone(), async move {
            stop.cancelled().await
        }));
        Ok(SimHandle {
            shared,
            addr,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` (REST and control base URL).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://host:port` (WebSocket base URL; append the venue's path).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Current statistics (same as `GET /_sim/stats`).
    pub fn stats(&self) -> SimStats {
        control::stats(&self.shared)
    }

    /// Injects a fault; returns how many connections (symbols, REST calls) it targets.
    pub fn inject(&self, fault: &Fault) -> usize {
        faults::inject(&self.shared, fault)
    }

    /// Stops generating market events (connections stay open).
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes generating market events.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Relaxed);
    }

    /// The truth book of `symbol` now (sequence = the last diff's id).
    pub fn truth_book(&self, symbol: &str) -> Option<TruthBook> {
        control::truth_book(&self.shared, symbol, None)
    }

    /// The truth book right after the diff whose id is `sequence` (within the history).
    pub fn truth_book_at(&self, symbol: &str, sequence: u64) -> Option<TruthBook> {
        control::truth_book(&self.shared, symbol, Some(sequence))
    }

    /// Every trade id emitted for `symbol` (up to one million).
    pub fn trade_ids(&self, symbol: &str) -> Option<Vec<u64>> {
        lock(&self.shared.market)
            .get(symbol)
            .map(|s| s.trade_ids.clone())
    }

    /// Stops the simulator and waits for it.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.shared.cancel.cancel();
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}
