//! The live connection paths — connect, subscribe, keepalive, reconnect, resync, rotation,
//! REST back-off — driven against the local exchange simulator, for every venue and fault.
//!
//! Each test checks what a consumer relies on: the stream recovers; only the affected
//! instrument resyncs; the discontinuity is reported (gap / resync / disconnect status); the
//! book rebuilt from the stream equals the simulator's truth book after recovery; no crossed
//! book is ever emitted; trades arrive exactly once.
#![cfg(feature = "sim")]

mod sim_harness;

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use marketprism_core::model::StatusKind;
use marketprism_exchanges::{
    Channel, MarketStream, Venue,
    sim::{Fault, SimConfig, SimHandle},
};
use sim_harness::*;
use tokio::time::Instant;

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
    let requests = venue.as_exchange().instruments_requests().len() as u64;
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
