//! The live connection paths — connect, subscribe, keepalive, reconnect, resync, rotation,
//! REST back-off — driven against the local exchange simulator, for every venue and fault.
//!
//! Each test checks what a consumer relies on: the stream recovers; only the affected
//! instrument resyncs; the discontinuity is reported (gap / resync / disconnect status); the
//! book rebuilt from the stream equals the simulator's truth book after recovery; no crossed
//! book is ever emitted; trades arrive exactly once.
#![cfg(feature = "sim")]

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use marketprism_core::{
    book::OrderBook,
    model::{MarketEvent, StatusKind},
};
use marketprism_exchanges::{
    Channel, MarketStream, Venue,
    binance::{BinanceCoinm, BinanceSpot, BinanceUsdm},
    deribit::Deribit,
    okx::Okx,
    sim::{Fault, SimConfig, SimHandle},
    spec::VenueSpec,
    transport::{RestClient, WeightBudget},
};
use tokio::time::{Instant, timeout};

fn natives(venue: Venue) -> [&'static str; 2] {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => ["BTCUSDT", "ETHUSDT"],
        Venue::BinanceCoinm => ["BTCUSD_PERP", "ETHUSD_PERP"],
        Venue::Okx => ["BTC-USDT", "BTC-USDT-SWAP"],
        Venue::Deribit => ["BTC-PERPETUAL", "ETH-PERPETUAL"],
    }
}

/// native → normalized, through the connector's own instrument parsing of the sim's answer.
async fn symbol_map(venue: Venue, sim: &SimHandle) -> HashMap<String, String> {
    async fn load<V: VenueSpec>(sim: &SimHandle) -> Vec<marketprism_core::model::Instrument> {
        let rest = RestClient::new(V::VENUE, sim.http_url(), Arc::new(WeightBudget::new(6000)));
        let mut all = Vec::new();
        for r in V::instruments_requests() {
            let body = rest.get(&r).await.expect("instruments");
            all.extend(V::parse_instruments(&body).expect("parse instruments"));
        }
        all
    }
    let list = match venue {
        Venue::BinanceSpot => load::<BinanceSpot>(sim).await,
        Venue::BinanceUsdm => load::<BinanceUsdm>(sim).await,
        Venue::BinanceCoinm => load::<BinanceCoinm>(sim).await,
        Venue::Okx => load::<Okx>(sim).await,
        Venue::Deribit => load::<Deribit>(sim).await,
    };
    list.into_iter()
        .map(|i| (i.native_symbol, i.symbol.as_str().to_owned()))
        .collect()
}

/// A consumer: books rebuilt from the stream, statuses and trades seen.
struct Consumer {
    stream: MarketStream,
    books: HashMap<String, OrderBook>,
    /// Deltas applied since the symbol's last snapshot.
    deltas_since_snapshot: HashMap<String, u64>,
    statuses: Vec<(Option<String>, StatusKind)>,
    trades: BTreeMap<String, Vec<String>>,
    events: u64,
}

impl Consumer {
    fn apply(&mut self, event: MarketEvent) {
        self.events += 1;
        match event {
            MarketEvent::BookSnapshot(s) => {
                self.deltas_since_snapshot.insert(s.symbol.to_string(), 0);
                let book = self.books.entry(s.symbol.to_string()).or_default();
                book.apply_snapshot(&s);
                assert!(!book.is_crossed(), "crossed snapshot emitted: {s:?}");
            }
            MarketEvent::BookDelta(d) => {
                *self
                    .deltas_since_snapshot
                    .entry(d.symbol.to_string())
                    .or_default() += 1;
                let book = self.books.entry(d.symbol.to_string()).or_default();
                book.apply_delta(&d)
                    .unwrap_or_else(|e| panic!("delta does not chain: {e}: {d:?}"));
                assert!(!book.is_crossed(), "crossed book after delta {d:?}");
            }
            MarketEvent::Trade(t) => self
                .trades
                .entry(t.symbol.to_string())
                .or_default()
                .push(t.trade_id.to_string()),
            MarketEvent::Status(s) => {
                // The book is stale until its next snapshot and a delta after it.
                if let Some(sym) = &s.symbol {
                    self.deltas_since_snapshot.insert(sym.to_string(), 0);
                }
                self.statuses
                    .push((s.symbol.map(|s| s.to_string()), s.kind));
            }
            _ => {}
        }
    }

    /// Pulls events until `done` holds, failing after `limit`.
    async fn until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&Consumer) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.stream.next()).await {
                Ok(Some(e)) => self.apply(e),
                Ok(None) => panic!("stream ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {limit:?} waiting for {what}; statuses {:?}",
                    self.statuses
                ),
            }
        }
    }

    /// Pulls events for `period`, however many arrive.
    async fn pump(&mut self, period: Duration) {
        let until = Instant::now() + period;
        while let Ok(Some(e)) = tokio::time::timeout_at(until, self.stream.next()).await {
            self.apply(e);
        }
    }

    /// Pulls events until none arrives for `quiet`.
    async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(e)) = timeout(quiet, self.stream.next()).await {
            self.apply(e);
        }
    }

    fn count(&self, pred: impl Fn(&StatusKind) -> bool, symbol: Option<&str>) -> usize {
        self.statuses
            .iter()
            .filter(|(s, k)| pred(k) && (symbol.is_none() || s.as_deref() == symbol))
            .count()
    }
}

struct Setup {
    sim: SimHandle,
    consumer: Consumer,
    symbols: HashMap<String, String>,
}

async fn setup(
    venue: Venue,
    config: impl FnOnce(SimConfig) -> SimConfig,
    channels: &[Channel],
) -> Setup {
    setup_with(venue, config, channels, |b| b).await
}

async fn setup_with(
    venue: Venue,
    config: impl FnOnce(SimConfig) -> SimConfig,
    channels: &[Channel],
    builder: impl FnOnce(
        marketprism_exchanges::MarketStreamBuilder,
    ) -> marketprism_exchanges::MarketStreamBuilder,
) -> Setup {
    let sim = SimHandle::start(config(
        SimConfig::new(venue)
            .symbols(natives(venue))
            .rate(200.0)
            .seed(11)
            .ping_interval(Duration::from_millis(500)),
    ))
    .await
    .expect("sim starts");
    let symbols = symbol_map(venue, &sim).await;
    let stream = builder(
        MarketStream::builder()
            .subscribe(venue, channels.iter().copied(), natives(venue))
            .ws_url(venue, sim.ws_url())
            .rest_url(venue, sim.http_url())
            .stall_timeout(Duration::from_secs(2)),
    )
    .start()
    .await
    .expect("stream starts");
    let consumer = Consumer {
        stream,
        books: HashMap::new(),
        deltas_since_snapshot: HashMap::new(),
        statuses: Vec::new(),
        trades: BTreeMap::new(),
        events: 0,
    };
    Setup {
        sim,
        consumer,
        symbols,
    }
}

impl Setup {
    fn sym(&self, native: &str) -> String {
        self.symbols
            .get(native)
            .cloned()
            .unwrap_or_else(|| panic!("{native} not listed by the sim"))
    }

    async fn wait_books(&mut self) {
        let wanted: Vec<String> = natives(self.sim.stats_venue())
            .iter()
            .map(|n| self.sym(n))
            .collect();
        self.consumer
            .until(Duration::from_secs(15), "both books synced", |c| {
                wanted.iter().all(|s| c.books.contains_key(s))
            })
            .await;
    }

    /// Pauses the market, drains, and asserts every book equals the truth book.
    async fn assert_books_equal_truth(&mut self) {
        // A snapshot's id may lie inside the next diff's range (Binance futures): compare once
        // every book has moved on from its latest snapshot by at least one delta.
        let wanted: Vec<String> = natives(self.sim.stats_venue())
            .iter()
            .map(|n| self.sym(n))
            .collect();
        self.consumer
            .until(
                Duration::from_secs(10),
                "a delta after each book's snapshot",
                |c| {
                    wanted
                        .iter()
                        .all(|s| c.deltas_since_snapshot.get(s).is_some_and(|n| *n > 0))
                },
            )
            .await;
        self.sim.pause();
        self.consumer.drain(Duration::from_millis(700)).await;
        for native in natives(self.sim.stats_venue()) {
            let symbol = self.sym(native);
            let truth = self.sim.truth_book(native).expect("truth book");
            let book = self
                .consumer
                .books
                .get(&symbol)
                .unwrap_or_else(|| panic!("no book for {symbol}"));
            eprintln!(
                "{symbol}: ours {} truth {}",
                book.sequence(),
                truth.sequence
            );
            let (bids, asks) = book.top(usize::MAX);
            let ours = |levels: Vec<marketprism_core::model::Level>| {
                levels
                    .into_iter()
                    .map(|l| (l.price, l.size))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ours(bids), truth.bids, "{symbol}: bids");
            assert_eq!(ours(asks), truth.asks, "{symbol}: asks");
        }
        self.sim.resume();
    }
}

trait VenueOf {
    fn stats_venue(&self) -> Venue;
}
impl VenueOf for SimHandle {
    fn stats_venue(&self) -> Venue {
        self.stats().venue.parse().expect("venue name")
    }
}

const BOOK_AND_TRADES: &[Channel] = &[Channel::Book, Channel::Trades];

async fn steady_state(venue: Venue) {
    let mut s = setup(venue, |c| c, BOOK_AND_TRADES).await;
    s.wait_books().await;
    s.consumer
        .until(Duration::from_secs(5), "some deltas", |c| c.events > 200)
        .await;
    s.assert_books_equal_truth().await;
    assert_eq!(
        s.consumer.count(|k| k.is_discontinuity(), None),
        0,
        "{:?}",
        s.consumer.statuses
    );
}

async fn gap_resyncs_only_that_instrument(venue: Venue) {
    let mut s = setup(venue, |c| c, BOOK_AND_TRADES).await;
    s.wait_books().await;
    let [hit, other] = natives(venue);
    let (hit_sym, other_sym) = (s.sym(hit), s.sym(other));
    s.sim.inject(&Fault::Gap {
        symbol: Some(hit.into()),
        skip: 3,
    });
    s.consumer
        .until(
            Duration::from_secs(10),
            "gap + resync of the hit symbol",
            |c| {
                c.count(|k| matches!(k, StatusKind::Gap { .. }), Some(&hit_sym)) >= 1
                    && c.count(
                        |k| matches!(k, StatusKind::BookResync { .. }),
                        Some(&hit_sym),
                    ) >= 1
            },
        )
        .await;
    // Recovery: a fresh snapshot for the hit symbol, then equality with the truth.
    let resyncs_before = s.consumer.events;
    s.consumer
        .until(Duration::from_secs(10), "recovery", |c| {
            c.events > resyncs_before + 100
        })
        .await;
    s.assert_books_equal_truth().await;
    assert_eq!(
        s.consumer.count(|k| k.is_discontinuity(), Some(&other_sym)),
        0,
        "other instrument untouched: {:?}",
        s.consumer.statuses
    );
}

async fn fault_recovers(venue: Venue, fault: Fault, expect_disconnect: bool) {
    let mut s = setup(venue, |c| c, BOOK_AND_TRADES).await;
    s.wait_books().await;
    s.sim.inject(&fault);
    if expect_disconnect {
        s.consumer
            .until(Duration::from_secs(15), "disconnect then reconnect", |c| {
                let d = c
                    .statuses
                    .iter()
                    .position(|(_, k)| matches!(k, StatusKind::Disconnected { .. }));
                d.is_some_and(|d| {
                    c.statuses[d..]
                        .iter()
                        .any(|(_, k)| matches!(k, StatusKind::Connected { .. }))
                })
            })
            .await;
    }
    let seen = s.consumer.events;
    s.consumer
        .until(Duration::from_secs(15), "data after recovery", |c| {
            c.events > seen + 200
        })
        .await;
    // Every book resynced after a disconnect is live again before comparing.
    s.wait_books().await;
    s.assert_books_equal_truth().await;
}

async fn rotation_delivers_every_trade_once(venue: Venue) {
    // The exchange cuts connections at 3 s; we rotate at 1 s and close the old connection
    // about 1 s later, once the new one has been live for the overlap grace period.
    let mut s = setup_with(
        venue,
        |c| c.max_lifetime(Duration::from_millis(3000)),
        &[Channel::Trades, Channel::Book],
        |b| b.rotate_after(venue, Duration::from_millis(1000)),
    )
    .await;
    s.consumer
        .until(Duration::from_secs(20), "several rotations", |c| {
            c.events > 0
        })
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    s.consumer
        .until(Duration::from_secs(30), "three lifetimes", |_| {
            start.elapsed() > Duration::from_millis(8000)
        })
        .await;
    s.sim.pause();
    s.consumer.drain(Duration::from_millis(700)).await;
    let stats = s.sim.stats();
    assert!(
        stats.connections_total >= 4,
        "expected several connections, got {}",
        stats.connections_total
    );
    // Every switch was a planned overlap, never a cut.
    assert_eq!(
        s.consumer.count(|k| k.is_discontinuity(), None),
        0,
        "{:?}",
        s.consumer.statuses
    );
    for native in natives(venue) {
        let symbol = s.sym(native);
        let produced: Vec<String> = s
            .sim
            .trade_ids(native)
            .expect("trade ids")
            .into_iter()
            .map(|i| i.to_string())
            .collect();
        let got = s.consumer.trades.get(&symbol).cloned().unwrap_or_default();
        assert!(!got.is_empty(), "{symbol}: no trades");
        let first = produced
            .iter()
            .position(|id| *id == got[0])
            .expect("first received id was produced");
        assert_eq!(
            got,
            produced[first..].to_vec(),
            "{symbol}: every trade exactly once, in order"
        );
    }
}

async fn rest_ban_backs_off_without_second_ban(venue: Venue, status: u16) {
    let mut s = setup(venue, |c| c, BOOK_AND_TRADES).await;
    s.wait_books().await;
    let [hit, _] = natives(venue);
    let hit_sym = s.sym(hit);
    s.sim.inject(&Fault::RestRateLimit {
        status,
        retry_after_s: 2,
        count: 1,
    });
    // A gap forces a REST snapshot, which is answered 429.
    s.sim.inject(&Fault::Gap {
        symbol: Some(hit.into()),
        skip: 2,
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.sim.stats().rest.rate_limited == 0 {
        assert!(Instant::now() < deadline, "no REST call was rate limited");
        s.consumer.pump(Duration::from_millis(50)).await;
    }
    let calls_at_ban = s.sim.stats().rest.calls;
    // Half the Retry-After later, nothing more was asked.
    let until = Instant::now() + Duration::from_millis(1000);
    while Instant::now() < until {
        s.consumer.pump(Duration::from_millis(50)).await;
    }
    assert_eq!(
        s.sim.stats().rest.calls,
        calls_at_ban,
        "a request was sent during Retry-After"
    );
    let resyncs = s.consumer.count(
        |k| matches!(k, StatusKind::BookResync { .. }),
        Some(&hit_sym),
    );
    assert!(resyncs >= 1);
    let seen = s.consumer.events;
    s.consumer
        .until(Duration::from_secs(10), "recovery after the ban", |c| {
            c.events > seen + 200
        })
        .await;
    s.assert_books_equal_truth().await;
    assert_eq!(s.sim.stats().rest.rate_limited, 1, "exactly one ban");
}

macro_rules! venue_tests {
    ($($module:ident => $venue:expr),* $(,)?) => {$(
        mod $module {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn steady_state_book_equals_truth() { steady_state($venue).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn gap() { gap_resyncs_only_that_instrument($venue).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dropped_connection() { fault_recovers($venue, Fault::Drop { conn: None, symbol: None }, true).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stall() { fault_recovers($venue, Fault::Stall { conn: None, duration_ms: 4000 }, true).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn malformed_frame() { fault_recovers($venue, Fault::Malformed { conn: None }, false).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server_shutdown_notice() { fault_recovers($venue, Fault::Shutdown { conn: None }, false).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rotation() { rotation_delivers_every_trade_once($venue).await }
        }
    )*};
}

venue_tests!(
    binance_spot => Venue::BinanceSpot,
    binance_usdm => Venue::BinanceUsdm,
    binance_coinm => Venue::BinanceCoinm,
    okx => Venue::Okx,
    deribit => Venue::Deribit,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_spot_rest_429() {
    rest_ban_backs_off_without_second_ban(Venue::BinanceSpot, 429).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_usdm_rest_418() {
    rest_ban_backs_off_without_second_ban(Venue::BinanceUsdm, 418).await
}

/// OKX and Deribit resync books over the WebSocket; their REST use is the instrument list
/// (and polling). A ban at start-up must delay the stream by exactly the Retry-After, with
/// no request inside the window, and then everything works.
async fn startup_rest_ban(venue: Venue, status: u16) {
    let sim = SimHandle::start(
        SimConfig::new(venue)
            .symbols(natives(venue))
            .rate(200.0)
            .seed(5),
    )
    .await
    .expect("sim starts");
    let symbols = symbol_map(venue, &sim).await;
    let calls_before = sim.stats().rest.calls;
    sim.inject(&Fault::RestRateLimit {
        status,
        retry_after_s: 2,
        count: 1,
    });
    let started = Instant::now();
    let stream = MarketStream::builder()
        .subscribe(venue, BOOK_AND_TRADES.iter().copied(), natives(venue))
        .ws_url(venue, sim.ws_url())
        .rest_url(venue, sim.http_url())
        .start()
        .await
        .expect("the stream starts after the ban");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After not honoured: {:?}",
        started.elapsed()
    );
    let rest = sim.stats().rest;
    assert_eq!(rest.rate_limited, 1, "exactly one ban");
    // Each instruments request once, plus the one banned call retried: nothing in between.
    let requests = match venue {
        Venue::Okx => Okx::instruments_requests().len(),
        Venue::Deribit => Deribit::instruments_requests().len(),
        Venue::BinanceCoinm => BinanceCoinm::instruments_requests().len(),
        Venue::BinanceSpot => BinanceSpot::instruments_requests().len(),
        Venue::BinanceUsdm => BinanceUsdm::instruments_requests().len(),
    } as u64;
    assert_eq!(rest.calls - calls_before, requests + 1, "{rest:?}");
    let consumer = Consumer {
        stream,
        books: HashMap::new(),
        deltas_since_snapshot: HashMap::new(),
        statuses: Vec::new(),
        trades: BTreeMap::new(),
        events: 0,
    };
    let mut s = Setup {
        sim,
        consumer,
        symbols,
    };
    s.wait_books().await;
    s.assert_books_equal_truth().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okx_startup_rest_429() {
    startup_rest_ban(Venue::Okx, 429).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deribit_startup_rest_429() {
    startup_rest_ban(Venue::Deribit, 429).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_coinm_startup_rest_418() {
    startup_rest_ban(Venue::BinanceCoinm, 418).await
}
