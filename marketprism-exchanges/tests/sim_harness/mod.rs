//! Harness of the live simulator tests: a consumer that rebuilds books from the stream and
//! checks every event, and the set-up that wires a simulator to a `MarketStream`.

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
    Channel, Exchange, MarketStream, Venue,
    sim::{SimConfig, SimHandle},
    transport::{RestClient, WeightBudget},
};
use tokio::time::{Instant, timeout};

pub(crate) fn natives(venue: Venue) -> [&'static str; 2] {
    match venue {
        Venue::BinanceSpot | Venue::BinanceUsdm => ["BTCUSDT", "ETHUSDT"],
        Venue::BinanceCoinm => ["BTCUSD_PERP", "ETHUSD_PERP"],
        Venue::Okx => ["BTC-USDT", "BTC-USDT-SWAP"],
        Venue::Deribit => ["BTC-PERPETUAL", "ETH-PERPETUAL"],
        other => panic!("no simulator symbols for {other}"),
    }
}

/// native → normalized, through the connector's own instrument parsing of the sim's answer.
pub(crate) async fn symbol_map(venue: Venue, sim: &SimHandle) -> HashMap<String, String> {
    let exchange: Arc<dyn Exchange> = venue.into();
    let rest = RestClient::new(
        exchange.name(),
        sim.http_url(),
        Arc::new(WeightBudget::new(6000)),
    );
    let mut all = Vec::new();
    for r in exchange.instruments_requests() {
        let body = rest.get(&r).await.expect("instruments");
        all.extend(
            exchange
                .parse_instruments(&body)
                .expect("parse instruments"),
        );
    }
    all.into_iter()
        .map(|i| (i.native_symbol, i.symbol.as_str().to_owned()))
        .collect()
}

/// A consumer: books rebuilt from the stream, statuses and trades seen.
pub(crate) struct Consumer {
    pub(crate) stream: MarketStream,
    pub(crate) books: HashMap<String, OrderBook>,
    /// Deltas applied since the symbol's last snapshot.
    pub(crate) deltas_since_snapshot: HashMap<String, u64>,
    pub(crate) statuses: Vec<(Option<String>, StatusKind)>,
    pub(crate) trades: BTreeMap<String, Vec<String>>,
    pub(crate) events: u64,
}

impl Consumer {
    pub(crate) fn apply(&mut self, event: MarketEvent) {
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
    pub(crate) async fn until(
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
    pub(crate) async fn pump(&mut self, period: Duration) {
        let until = Instant::now() + period;
        while let Ok(Some(e)) = tokio::time::timeout_at(until, self.stream.next()).await {
            self.apply(e);
        }
    }

    /// Pulls events until none arrives for `quiet`.
    pub(crate) async fn drain(&mut self, quiet: Duration) {
        while let Ok(Some(e)) = timeout(quiet, self.stream.next()).await {
            self.apply(e);
        }
    }

    pub(crate) fn count(&self, pred: impl Fn(&StatusKind) -> bool, symbol: Option<&str>) -> usize {
        self.statuses
            .iter()
            .filter(|(s, k)| pred(k) && (symbol.is_none() || s.as_deref() == symbol))
            .count()
    }
}

pub(crate) struct Setup {
    pub(crate) sim: SimHandle,
    pub(crate) consumer: Consumer,
    pub(crate) symbols: HashMap<String, String>,
}

pub(crate) async fn setup(
    venue: Venue,
    config: impl FnOnce(SimConfig) -> SimConfig,
    channels: &[Channel],
) -> Setup {
    setup_with(venue, config, channels, |b| b).await
}

pub(crate) async fn setup_with(
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
    pub(crate) fn sym(&self, native: &str) -> String {
        self.symbols
            .get(native)
            .cloned()
            .unwrap_or_else(|| panic!("{native} not listed by the sim"))
    }

    pub(crate) async fn wait_books(&mut self) {
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
    pub(crate) async fn assert_books_equal_truth(&mut self) {
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

pub(crate) trait VenueOf {
    fn stats_venue(&self) -> Venue;
}
impl VenueOf for SimHandle {
    fn stats_venue(&self) -> Venue {
        self.stats().venue.parse().expect("venue name")
    }
}

pub(crate) const BOOK_AND_TRADES: &[Channel] = &[Channel::Book, Channel::Trades];
