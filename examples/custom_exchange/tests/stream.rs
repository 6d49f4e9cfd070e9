//! Bybit through `MarketStream`, against the local server: trades arrive, the book rebuilt
//! from the stream equals the server's, and a gap in `u` resyncs that one book.

mod server;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use marketprism_core::{
    book::OrderBook,
    model::{MarketEvent, StatusKind},
};
use marketprism_example_bybit::Bybit;
use marketprism_exchanges::{Channel, Exchange, MarketStream};
use server::BybitServer;
use tokio::time::{Instant, timeout};

const NATIVES: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const SYMBOLS: [&str; 2] = ["BTC-USDT", "ETH-USDT"];

#[derive(Default)]
struct Seen {
    books: HashMap<String, OrderBook>,
    snapshots: HashMap<String, usize>,
    trades: HashMap<String, Vec<String>>,
    statuses: Vec<(String, StatusKind)>,
}

impl Seen {
    fn apply(&mut self, event: MarketEvent) {
        match event {
            MarketEvent::BookSnapshot(s) => {
                *self.snapshots.entry(s.symbol.to_string()).or_default() += 1;
                self.books
                    .entry(s.symbol.to_string())
                    .or_default()
                    .apply_snapshot(&s);
            }
            MarketEvent::BookDelta(d) => {
                let book = self.books.entry(d.symbol.to_string()).or_default();
                book.apply_delta(&d)
                    .unwrap_or_else(|e| panic!("delta does not chain: {e}: {d:?}"));
            }
            MarketEvent::Trade(t) => self
                .trades
                .entry(t.symbol.to_string())
                .or_default()
                .push(t.trade_id.to_string()),
            MarketEvent::Status(s) => {
                if let Some(sym) = s.symbol {
                    self.statuses.push((sym.to_string(), s.kind));
                }
            }
            _ => {}
        }
    }

    fn count(&self, symbol: &str, pred: impl Fn(&StatusKind) -> bool) -> usize {
        self.statuses
            .iter()
            .filter(|(s, k)| s == symbol && pred(k))
            .count()
    }
}

/// Reads the stream until `done` or 15 s.
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

/// Waits until every book has caught up with the server's `u`, then compares them.
async fn assert_books_equal(server: &BybitServer, stream: &mut MarketStream, seen: &mut Seen) {
    for (native, symbol) in NATIVES.iter().zip(SYMBOLS) {
        let (bids, asks, u) = server.book(native).await;
        until(stream, seen, "the book to catch up", |s| {
            s.books.get(symbol).is_some_and(|b| b.sequence() == u)
        })
        .await;
        let (b, a) = seen.books[symbol].top(usize::MAX);
        let pairs = |v: Vec<marketprism_core::model::Level>| {
            v.into_iter().map(|l| (l.price, l.size)).collect::<Vec<_>>()
        };
        assert_eq!(pairs(b), bids, "{symbol}: bids");
        assert_eq!(pairs(a), asks, "{symbol}: asks");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bybit_streams_trades_and_a_book_that_resyncs_after_a_gap() {
    let server = BybitServer::start(&NATIVES).await;
    let bybit = Bybit::with_urls(server.ws_url(), server.http_url())
        .expect("bybit")
        .ping_interval(Duration::from_millis(200));
    let bybit: Arc<dyn Exchange> = Arc::new(bybit);
    let mut stream = MarketStream::builder()
        .subscribe(bybit, [Channel::Trades, Channel::Book], SYMBOLS)
        .start()
        .await
        .expect("stream starts");
    for n in NATIVES {
        server
            .wait_subscribes(&format!("orderbook.50.{n}"), 1)
            .await;
        server.wait_subscribes(&format!("publicTrade.{n}"), 1).await;
    }
    let mut seen = Seen::default();
    for i in 0..150 {
        for n in NATIVES {
            server.step_book(n).await;
            if i % 3 == 0 {
                server.trade(n).await;
            }
        }
    }
    assert_books_equal(&server, &mut stream, &mut seen).await;
    for (native, symbol) in NATIVES.iter().zip(SYMBOLS) {
        let sent = server.trades_sent(native).await;
        until(&mut stream, &mut seen, "trades", |s| {
            s.trades.get(symbol).map_or(0, Vec::len) >= sent.len()
        })
        .await;
        assert_eq!(seen.trades[symbol], sent, "{symbol}: every trade, in order");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.pings().await == 0 {
        assert!(Instant::now() < deadline, "the periodic ping is sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A lost delta on BTC: gap + resync statuses, a resubscribe, a fresh snapshot.
    server.gap(NATIVES[0]).await;
    server.step_book(NATIVES[0]).await;
    server.step_book(NATIVES[0]).await;
    until(&mut stream, &mut seen, "the gap", |s| {
        s.count(SYMBOLS[0], |k| matches!(k, StatusKind::BookResync { .. })) == 1
    })
    .await;
    let (_, _, u) = server.book(NATIVES[0]).await;
    // u - 1 was dropped: the client expected it and received u.
    let gap = StatusKind::Gap {
        expected: u - 1,
        received: u,
    };
    assert!(
        seen.statuses.contains(&(SYMBOLS[0].to_owned(), gap)),
        "{:?}",
        seen.statuses
    );
    server
        .wait_subscribes(&format!("orderbook.50.{}", NATIVES[0]), 2)
        .await;
    for _ in 0..50 {
        for n in NATIVES {
            server.step_book(n).await;
        }
    }
    assert_books_equal(&server, &mut stream, &mut seen).await;
    assert_eq!(
        seen.snapshots[SYMBOLS[0]], 2,
        "a fresh snapshot after the resync"
    );
    assert_eq!(seen.snapshots[SYMBOLS[1]], 1, "the other book kept going");
    assert_eq!(seen.count(SYMBOLS[1], StatusKind::is_discontinuity), 0);
    stream.shutdown();
}
