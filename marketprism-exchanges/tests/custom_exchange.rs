//! An exchange implemented outside the crate, with the public API only, gets the crate's
//! connection machinery: connections, REST book sync through the weight budget, resync of one
//! instrument after a gap, capture and replay by venue name.
//!
//! The exchange here is "binance-lab": Binance spot's protocol under another name, with the
//! simulator's URLs as its own defaults (no URL override on the builder), counting what the
//! connection layer asks of it.
#![cfg(feature = "sim")]

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use marketprism_core::{
    book::OrderBook,
    model::{ExchangeId, Instrument, MarketEvent, StatusKind},
};
use marketprism_exchanges::{
    Channel, Exchange, ExchangeError, InstrumentMap, Keepalive, MarketStream, Normalizer, RestKind,
    RestRequest, Source, Subscription, Venue, builtin_exchanges,
    capture::{replay, replay_with},
    sim::{Fault, SimConfig, SimHandle},
};
use tokio::time::{Instant, timeout};

/// Another venue speaking an existing protocol: every protocol answer is delegated, identity
/// and endpoints are its own.
struct Lab {
    inner: Arc<dyn Exchange>,
    ws: String,
    rest: String,
    normalizers: AtomicUsize,
    snapshots: AtomicUsize,
}

impl Exchange for Lab {
    fn name(&self) -> &str {
        "binance-lab"
    }
    fn exchange_id(&self) -> ExchangeId {
        self.inner.exchange_id()
    }
    fn ws_base_url(&self) -> &str {
        &self.ws
    }
    fn rest_base_url(&self) -> &str {
        &self.rest
    }
    fn ws_url(&self, base: &str, subscriptions: &[Subscription]) -> String {
        self.inner.ws_url(base, subscriptions)
    }
    fn max_streams_per_connection(&self) -> usize {
        // One stream per connection: two symbols × two channels run on four connections.
        1
    }
    fn max_subscribe_messages_per_sec(&self) -> u32 {
        self.inner.max_subscribe_messages_per_sec()
    }
    fn subscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        self.inner.subscribe_frames(subscriptions, request_id)
    }
    fn unsubscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        self.inner.unsubscribe_frames(subscriptions, request_id)
    }
    fn keepalive(&self) -> Keepalive {
        self.inner.keepalive()
    }
    fn max_connection_lifetime(&self) -> Option<Duration> {
        self.inner.max_connection_lifetime()
    }
    fn rest_weight_per_minute(&self) -> u32 {
        self.inner.rest_weight_per_minute()
    }
    fn source(&self, channel: Channel, instrument: &Instrument) -> Source {
        self.inner.source(channel, instrument)
    }
    fn instruments_requests(&self) -> Vec<RestRequest> {
        self.inner.instruments_requests()
    }
    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
        self.inner.parse_instruments(body)
    }
    fn snapshot_request(&self, native_symbol: &str) -> Option<RestRequest> {
        self.snapshots.fetch_add(1, Ordering::Relaxed);
        self.inner.snapshot_request(native_symbol)
    }
    fn poll_requests(&self, subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
        self.inner.poll_requests(subscription)
    }
    fn normalizer(
        &self,
        instruments: InstrumentMap,
        book_depth: Option<usize>,
    ) -> Box<dyn Normalizer> {
        self.normalizers.fetch_add(1, Ordering::Relaxed);
        self.inner.normalizer(instruments, book_depth)
    }
}

const NATIVES: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const SYMBOLS: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

/// Books rebuilt from the stream, trades and statuses seen.
#[derive(Default)]
struct Seen {
    books: HashMap<String, OrderBook>,
    deltas_since_snapshot: HashMap<String, u64>,
    trades: HashMap<String, u64>,
    statuses: Vec<(Option<String>, StatusKind)>,
}

impl Seen {
    fn apply(&mut self, event: MarketEvent) {
        match event {
            MarketEvent::BookSnapshot(s) => {
                self.deltas_since_snapshot.insert(s.symbol.to_string(), 0);
                let book = self.books.entry(s.symbol.to_string()).or_default();
                book.apply_snapshot(&s);
                assert!(!book.is_crossed(), "crossed snapshot {s:?}");
            }
            MarketEvent::BookDelta(d) => {
                *self
                    .deltas_since_snapshot
                    .entry(d.symbol.to_string())
                    .or_default() += 1;
                let book = self.books.entry(d.symbol.to_string()).or_default();
                book.apply_delta(&d)
                    .unwrap_or_else(|e| panic!("delta does not chain: {e}: {d:?}"));
                assert!(!book.is_crossed(), "crossed book after {d:?}");
            }
            MarketEvent::Trade(t) => *self.trades.entry(t.symbol.to_string()).or_default() += 1,
            MarketEvent::Status(s) => {
                if let Some(sym) = &s.symbol {
                    self.deltas_since_snapshot.insert(sym.to_string(), 0);
                }
                self.statuses
                    .push((s.symbol.map(|s| s.to_string()), s.kind));
            }
            _ => {}
        }
    }

    fn synced(&self) -> bool {
        SYMBOLS.iter().all(|s| {
            self.books.contains_key(*s)
                && self.deltas_since_snapshot.get(*s).is_some_and(|n| *n > 0)
        })
    }

    fn count(&self, symbol: &str, pred: impl Fn(&StatusKind) -> bool) -> usize {
        self.statuses
            .iter()
            .filter(|(s, k)| s.as_deref() == Some(symbol) && pred(k))
            .count()
    }
}

async fn until(
    stream: &mut MarketStream,
    seen: &mut Seen,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.next()).await {
            Ok(Some(e)) => seen.apply(e),
            Ok(None) => panic!("stream ended waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; statuses {:?}", seen.statuses),
        }
    }
}

/// Pauses the market, drains the stream and compares every book with the simulator's truth.
async fn assert_books_equal_truth(sim: &SimHandle, stream: &mut MarketStream, seen: &mut Seen) {
    sim.pause();
    while let Ok(Some(e)) = timeout(Duration::from_millis(700), stream.next()).await {
        seen.apply(e);
    }
    for (native, symbol) in NATIVES.iter().zip(SYMBOLS) {
        let truth = sim.truth_book(native).expect("truth book");
        let (bids, asks) = seen.books[symbol].top(usize::MAX);
        let levels = |v: Vec<marketprism_core::model::Level>| {
            v.into_iter().map(|l| (l.price, l.size)).collect::<Vec<_>>()
        };
        assert_eq!(levels(bids), truth.bids, "{symbol}: bids");
        assert_eq!(levels(asks), truth.asks, "{symbol}: asks");
    }
    sim.resume();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_exchange_streams_trades_and_a_synced_book() {
    let sim = SimHandle::start(
        SimConfig::new(Venue::BinanceSpot)
            .symbols(NATIVES)
            .rate(200.0)
            .seed(7)
            .ping_interval(Duration::from_millis(500)),
    )
    .await
    .expect("sim starts");
    let lab = Arc::new(Lab {
        inner: Venue::BinanceSpot.into(),
        ws: sim.ws_url(),
        rest: sim.http_url(),
        normalizers: AtomicUsize::new(0),
        snapshots: AtomicUsize::new(0),
    });
    let exchange: Arc<dyn Exchange> = lab.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let capture = dir.path().join("lab.capture.jsonl");

    let mut stream = MarketStream::builder()
        .subscribe(
            Arc::clone(&exchange),
            [Channel::Trades, Channel::Book],
            NATIVES,
        )
        .stall_timeout(Duration::from_secs(2))
        .record_to(&capture)
        .start()
        .await
        .expect("stream starts");
    let mut seen = Seen::default();

    until(&mut stream, &mut seen, "trades and synced books", |s| {
        s.synced() && SYMBOLS.iter().all(|sym| s.trades.get(*sym) > Some(&20))
    })
    .await;
    assert_books_equal_truth(&sim, &mut stream, &mut seen).await;
    // The limits of the user's exchange were applied: one stream per connection.
    assert_eq!(
        lab.normalizers.load(Ordering::Relaxed),
        4,
        "one per connection"
    );
    assert_eq!(sim.stats().connections_total, 4);
    let connected: Vec<String> = seen
        .statuses
        .iter()
        .filter_map(|(_, k)| match k {
            StatusKind::Connected { connection } => Some(connection.clone()),
            _ => None,
        })
        .collect();
    assert!(
        connected.iter().all(|c| c.starts_with("binance-lab#")),
        "{connected:?}"
    );

    // A gap on one instrument: that book alone resyncs from a new REST snapshot.
    let snapshots_before = lab.snapshots.load(Ordering::Relaxed);
    sim.inject(&Fault::Gap {
        symbol: Some(NATIVES[0].into()),
        skip: 3,
    });
    until(&mut stream, &mut seen, "gap, resync and recovery", |s| {
        s.count(SYMBOLS[0], |k| matches!(k, StatusKind::BookResync { .. })) >= 1 && s.synced()
    })
    .await;
    assert!(lab.snapshots.load(Ordering::Relaxed) > snapshots_before);
    assert_eq!(
        seen.count(SYMBOLS[1], StatusKind::is_discontinuity),
        0,
        "other instrument untouched: {:?}",
        seen.statuses
    );
    assert_books_equal_truth(&sim, &mut stream, &mut seen).await;
    stream.shutdown();
    drop(stream);

    // Replay finds the venue by name among the exchanges given; the built-ins alone do not
    // know it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let file = || std::io::BufReader::new(std::fs::File::open(&capture).expect("capture"));
    let mut trades = 0;
    let stats = replay_with(
        file(),
        &[Arc::clone(&exchange)],
        None,
        |e| trades += u64::from(matches!(e, MarketEvent::Trade(_))),
        |line, e| panic!("line {line}: {e}"),
    )
    .expect("replay");
    assert!(trades > 40 && stats.events > trades, "{stats:?}");
    let unknown = replay(file(), None, |_| {}, |_, _| {}).expect("replay");
    assert_eq!(unknown.events, 0);
    assert!(unknown.errors > 0);
    let mut all = builtin_exchanges();
    all.push(exchange);
    let again = replay_with(file(), &all, None, |_| {}, |_, _| {}).expect("replay");
    assert_eq!(again.events, stats.events);
}
