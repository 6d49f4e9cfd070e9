//! Each cookbook recipe run against the local exchange simulator (never the internet).

use std::{collections::BTreeMap, time::Duration};

use futures::StreamExt;
use marketprism_core::model::{
    EventKind, ExchangeId, MarketEvent, MarketType, Side, Symbol, Trade,
};
use marketprism_examples::{
    bars::{self, BarBuilder, MINUTE_NS, minute_of},
    bbo_monitor,
    csv_sink::{self, CsvSink, CsvTrade, read_trades},
    record_replay,
};
use marketprism_exchanges::{
    Channel, MarketStream, MarketStreamBuilder, Venue,
    sim::{SimConfig, SimHandle},
};
use marketprism_storage::{
    embedded::EmbeddedStore,
    query::{EventQuery, HistoryStore},
};
use rust_decimal::Decimal;

async fn sim(venue: Venue, symbols: &[&str]) -> SimHandle {
    SimHandle::start(
        SimConfig::new(venue)
            .symbols(symbols.iter().copied())
            .rate(200.0)
            .seed(7),
    )
    .await
    .expect("sim starts")
}

fn builder(
    sim: &SimHandle,
    venue: Venue,
    channels: &[Channel],
    symbols: &[&str],
) -> MarketStreamBuilder {
    MarketStream::builder()
        .subscribe(venue, channels.iter().copied(), symbols.iter().copied())
        .ws_url(venue, sim.ws_url())
        .rest_url(venue, sim.http_url())
        .stall_timeout(Duration::from_secs(2))
}

fn for_secs(secs: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_secs(secs))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_sink_writes_every_trade_exactly() {
    let sim = sim(Venue::BinanceSpot, &["BTCUSDT"]).await;
    let stream = builder(
        &sim,
        Venue::BinanceSpot,
        &[Channel::Trades, Channel::Book],
        &["BTCUSDT"],
    )
    .start()
    .await
    .expect("stream starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = CsvSink::new(dir.path()).expect("sink");
    let trades = csv_sink::run(stream.take_until(for_secs(3)), &sink, 128)
        .await
        .expect("pipeline runs");
    assert!(trades.len() > 10, "only {} trades", trades.len());
    let rows = read_trades(&sink.path(EventKind::Trade)).expect("trade.csv parses");
    assert_eq!(rows.len(), trades.len());
    assert_eq!(rows, trades.iter().map(CsvTrade::of).collect::<Vec<_>>());
    let deltas = std::fs::read_to_string(sink.path(EventKind::BookDelta)).expect("book_delta.csv");
    assert!(deltas.lines().count() > 1);
    for line in deltas.lines().skip(1) {
        let json = csv_sink::split_csv_line(line).pop().expect("json column");
        let event: MarketEvent = serde_json::from_str(&json).expect("event json");
        assert_eq!(event.kind(), EventKind::BookDelta);
    }
    sim.shutdown().await.expect("sim stops");
}

fn trade(symbol: &str, ts: i64, price: &str, size: &str) -> Trade {
    Trade {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new(symbol),
        trade_id: ts.to_string().into(),
        side: Side::Buy,
        price: price.parse().expect("price"),
        size: size.parse().expect("size"),
        exchange_ts: ts,
        local_ts: ts,
    }
}

#[test]
fn a_bar_is_emitted_when_a_later_minute_starts() {
    let m = 29_000_000 * MINUTE_NS;
    let mut b = BarBuilder::new();
    assert!(b.push(&trade("BTC-USDT", m + 1, "100.1", "0.1")).is_none());
    assert!(b.push(&trade("BTC-USDT", m + 2, "100.3", "0.2")).is_none());
    assert!(b.push(&trade("ETH-USDT", m + 3, "5", "1")).is_none());
    assert!(b.push(&trade("BTC-USDT", m + 4, "99.9", "0.3")).is_none());
    let bar = b
        .push(&trade("BTC-USDT", m + MINUTE_NS, "100", "1"))
        .expect("the BTC minute closes");
    assert_eq!(bar.open_ts, m);
    assert_eq!(
        (bar.open, bar.high, bar.low, bar.close),
        (
            "100.1".parse().expect("d"),
            "100.3".parse().expect("d"),
            "99.9".parse().expect("d"),
            "99.9".parse().expect("d")
        )
    );
    assert_eq!(bar.volume, "0.6".parse::<Decimal>().expect("d"));
    assert_eq!(bar.count, 3);
    let open = b.finish();
    assert_eq!(open.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bars_match_the_trades_in_the_store() {
    let sim = sim(Venue::BinanceSpot, &["BTCUSDT", "ETHUSDT"]).await;
    let stream = builder(
        &sim,
        Venue::BinanceSpot,
        &[Channel::Trades],
        &["BTCUSDT", "ETHUSDT"],
    )
    .start()
    .await
    .expect("stream starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path().join("bars.redb")).expect("store");
    let run = bars::run(stream.take_until(for_secs(3)), &store)
        .await
        .expect("pipeline runs");
    assert!(run.trades.len() > 10);

    let mut want: BTreeMap<(String, i64), (Decimal, u64)> = BTreeMap::new();
    for t in &run.trades {
        let e = want
            .entry((t.symbol.to_string(), minute_of(t.exchange_ts)))
            .or_default();
        e.0 += t.size;
        e.1 += 1;
    }
    let got: BTreeMap<(String, i64), (Decimal, u64)> = run
        .bars
        .iter()
        .map(|b| ((b.symbol.to_string(), b.open_ts), (b.volume, b.count)))
        .collect();
    assert_eq!(got, want);

    let mut q = EventQuery::new(EventKind::Kline);
    q.limit = 10_000;
    let stored = store.query(&q).await.expect("query");
    assert_eq!(stored.len(), run.bars.len());
    for e in &stored {
        let MarketEvent::Kline(k) = e else {
            panic!("not a kline: {e:?}")
        };
        let key = (k.symbol.to_string(), k.open_ts);
        assert_eq!(Some(&k.volume), want.get(&key).map(|w| &w.0), "{key:?}");
        assert!(k.high >= k.open && k.high >= k.close && k.open >= k.low && k.close >= k.low);
        assert_eq!(k.interval, "1m");
    }
    sim.shutdown().await.expect("sim stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bbo_monitor_reports_each_books_top() {
    let binance = sim(Venue::BinanceSpot, &["BTCUSDT"]).await;
    let okx = sim(Venue::Okx, &["BTC-USDT"]).await;
    let stream = builder(
        &binance,
        Venue::BinanceSpot,
        &[Channel::Book],
        &["BTC-USDT"],
    )
    .subscribe(Venue::Okx, [Channel::Book], ["BTC-USDT"])
    .ws_url(Venue::Okx, okx.ws_url())
    .rest_url(Venue::Okx, okx.http_url())
    .book_depth(50)
    .start()
    .await
    .expect("stream starts");
    let mut quotes: BTreeMap<ExchangeId, u64> = BTreeMap::new();
    let mut crosses = 0u64;
    bbo_monitor::run(stream.take_until(for_secs(4)), "BTC-USDT", |m, q| {
        let book = m.book(q.exchange).expect("the quoted venue has a book");
        assert!(!book.bids().is_empty() && !book.asks().is_empty());
        assert!(!book.is_crossed(), "{} crossed", q.exchange);
        assert_eq!(Some(q.bid), book.best_bid().map(|l| l.price));
        assert_eq!(Some(q.ask), book.best_ask().map(|l| l.price));
        assert!(q.bid < q.ask);
        *quotes.entry(q.exchange).or_default() += 1;
        if let Some(c) = m.cross() {
            assert!(c.bid >= q.bid && c.ask <= q.ask);
            crosses += 1;
        }
    })
    .await;
    assert!(
        quotes.get(&ExchangeId::BINANCE).copied().unwrap_or(0) > 5,
        "{quotes:?}"
    );
    assert!(
        quotes.get(&ExchangeId::OKX).copied().unwrap_or(0) > 5,
        "{quotes:?}"
    );
    assert!(crosses > 0);
    binance.shutdown().await.expect("sim stops");
    okx.shutdown().await.expect("sim stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_yields_the_live_trades() {
    let sim = sim(Venue::BinanceSpot, &["BTCUSDT"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("session.capture.jsonl");
    let live = record_replay::record(
        builder(&sim, Venue::BinanceSpot, &[Channel::Trades], &["BTCUSDT"]),
        &capture,
        Duration::from_secs(3),
    )
    .await
    .expect("records");
    sim.shutdown().await.expect("sim stops");
    assert!(live.len() > 10, "only {} trades", live.len());

    let sink = CsvSink::new(dir.path().join("csv")).expect("sink");
    let replayed = record_replay::replay_into(&capture, None, &sink, 128)
        .await
        .expect("replays");
    let strip = |ts: &[Trade]| ts.iter().map(CsvTrade::of).collect::<Vec<_>>();
    assert_eq!(strip(&replayed), strip(&live));
    let rows = read_trades(&sink.path(EventKind::Trade)).expect("trade.csv parses");
    assert_eq!(rows, strip(&live));
}

#[test]
fn csv_fields_round_trip_through_quoting() {
    let fields = [
        "plain",
        "a,b",
        "say \"hi\"",
        "",
        "{\"p\":\"1.10\",\"s\":[1,2]}",
    ];
    let line = fields
        .iter()
        .map(|f| csv_sink::csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(csv_sink::split_csv_line(&line), fields);
}
