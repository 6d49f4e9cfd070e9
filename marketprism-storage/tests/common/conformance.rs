//! One conformance suite every store runs: the history and hot query semantics.
#![allow(dead_code, unreachable_pub)]

use marketprism_core::{model::*, sink::Sink};
use marketprism_storage::{
    EventKind, StorageError,
    query::{EventQuery, HistoryStore, HotStore, InstrumentKey, Order},
};

use super::{now_s_ns, one_of_each, trades};

/// History: exact round trip of every kind, dedup of redeliveries, filters, order, limit.
pub async fn history(store: &dyn HistoryStore, sink: &dyn Sink) {
    let base = now_s_ns();
    let each = one_of_each(ExchangeId::OKX, "BTC-USDT", base);
    let btc = trades(ExchangeId::BINANCE, "BTC-USDT", 50, base);
    let eth = trades(ExchangeId::BINANCE, "ETH-USDT", 5, base);
    let okx = trades(ExchangeId::OKX, "BTC-USDT", 5, base + 1);
    let mut all: Vec<MarketEvent> = each.clone();
    all.extend(btc.iter().cloned());
    all.extend(eth.iter().cloned());
    all.extend(okx.iter().cloned());
    sink.write_batch(&all).await.expect("write");
    sink.write_batch(&all[..40]).await.expect("redelivery");

    for original in each.iter().filter(|e| !matches!(e, MarketEvent::Trade(_))) {
        let kind = EventKind::of(original);
        let got = store.query(&EventQuery::new(kind)).await.expect("query");
        assert_eq!(got, vec![original.clone()], "{kind}");
    }
    let q = EventQuery::new(EventKind::Trade);
    assert_eq!(store.count(&q).await.expect("count"), 61);
    let bq = q
        .clone()
        .exchange(ExchangeId::BINANCE)
        .symbol(Symbol::new("BTC-USDT"));
    assert_eq!(store.query(&bq).await.expect("by symbol"), btc);
    let spot = bq.clone().market(MarketType::Spot);
    assert_eq!(store.query(&spot).await.expect("by instrument"), btc);
    let ranged = spot
        .clone()
        .range(Some(base + 5_000_000), Some(base + 8_000_000));
    assert_eq!(
        store.query(&ranged).await.expect("range"),
        btc[5..8].to_vec()
    );
    let newest = store
        .query(&spot.clone().limit(2).order(Order::NewestFirst))
        .await
        .expect("newest");
    assert_eq!(newest, vec![btc[49].clone(), btc[48].clone()]);
    let by_exchange = store
        .query(&q.clone().exchange(ExchangeId::OKX))
        .await
        .expect("okx");
    let mut expected: Vec<MarketEvent> = okx.clone();
    expected.push(each[0].clone());
    expected.sort_by_key(|e| e.exchange_ts());
    assert_eq!(by_exchange, expected);
    let err = store.query(&q.clone().limit(0)).await.expect_err("limit 0");
    assert!(
        matches!(err, StorageError::InvalidInput { field: "limit", .. }),
        "{err}"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        stats.iter().find(|s| s.kind == "trade").map(|s| s.events),
        Some(61)
    );
    assert_eq!(
        stats.iter().find(|s| s.kind == "bbo").map(|s| s.events),
        Some(1)
    );
}

fn bbo(ts: i64, bid: &str) -> MarketEvent {
    MarketEvent::Bbo(Bbo {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new("BTC-USDT"),
        bid_price: bid.parse().expect("decimal"),
        bid_size: "1".parse().expect("decimal"),
        ask_price: "70000".parse().expect("decimal"),
        ask_size: "2".parse().expect("decimal"),
        sequence: None,
        exchange_ts: ts,
        local_ts: ts + 1,
    })
}

fn lv(p: &str, s: &str) -> Level {
    Level::new(p.parse().expect("decimal"), s.parse().expect("decimal"))
}

/// Hot: latest values never go back in time, recent trades are unique and newest first, the
/// book follows snapshots and deltas.
pub async fn hot(store: &dyn HotStore, sink: &dyn Sink) {
    let key = InstrumentKey::new(
        ExchangeId::BINANCE,
        MarketType::Spot,
        Symbol::new("BTC-USDT"),
    );
    let base = now_s_ns();
    sink.write_batch(&[bbo(base + 2, "69000.5")])
        .await
        .expect("write");
    sink.write_batch(&[bbo(base + 1, "68000")])
        .await
        .expect("older redelivery");
    assert_eq!(
        store.latest(EventKind::Bbo, &key).await.expect("latest"),
        Some(bbo(base + 2, "69000.5"))
    );
    sink.write_batch(&[bbo(base + 3, "69001"), bbo(base + 4, "69002")])
        .await
        .expect("write");
    assert_eq!(
        store.latest(EventKind::Bbo, &key).await.expect("latest"),
        Some(bbo(base + 4, "69002"))
    );
    let each = one_of_each(ExchangeId::BINANCE, "BTC-USDT", base);
    sink.write_batch(&each).await.expect("write each");
    let ticker = each
        .iter()
        .find(|e| matches!(e, MarketEvent::Ticker(_)))
        .cloned();
    assert_eq!(
        store.latest(EventKind::Ticker, &key).await.expect("ticker"),
        ticker
    );
    let err = store
        .latest(EventKind::Trade, &key)
        .await
        .expect_err("not a hot kind");
    assert!(matches!(
        err,
        StorageError::InvalidInput { field: "type", .. }
    ));
    let absent = InstrumentKey::new(ExchangeId::OKX, MarketType::Spot, Symbol::new("NONE-USDT"));
    assert_eq!(
        store.latest(EventKind::Bbo, &absent).await.expect("absent"),
        None
    );

    let t = trades(ExchangeId::BINANCE, "ETH-USDT", 30, base);
    sink.write_batch(&t).await.expect("trades");
    sink.write_batch(&t[20..])
        .await
        .expect("redelivered trades");
    let eth = InstrumentKey::new(
        ExchangeId::BINANCE,
        MarketType::Spot,
        Symbol::new("ETH-USDT"),
    );
    let recent = store.recent_trades(&eth, 10).await.expect("recent");
    let expected: Vec<Trade> = t[20..]
        .iter()
        .rev()
        .filter_map(|e| match e {
            MarketEvent::Trade(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(recent, expected);

    let sol = InstrumentKey::new(ExchangeId::OKX, MarketType::Spot, Symbol::new("SOL-USDT"));
    let snap = BookSnapshot {
        exchange: ExchangeId::OKX,
        market: MarketType::Spot,
        symbol: Symbol::new("SOL-USDT"),
        sequence: 10,
        bids: vec![lv("100", "1"), lv("99", "2")],
        asks: vec![lv("101", "3"), lv("102", "4")],
        exchange_ts: base,
        local_ts: base,
        top_n: None,
    };
    let delta = BookDelta {
        exchange: ExchangeId::OKX,
        market: MarketType::Spot,
        symbol: Symbol::new("SOL-USDT"),
        prev_sequence: 10,
        sequence: 11,
        bids: vec![lv("100", "0"), lv("99.5", "5")],
        asks: vec![],
        exchange_ts: base + 1,
        local_ts: base + 1,
    };
    let events = [
        MarketEvent::BookSnapshot(snap),
        MarketEvent::BookDelta(delta.clone()),
    ];
    sink.write_batch(&events).await.expect("book");
    sink.write_batch(&[MarketEvent::BookDelta(delta)])
        .await
        .expect("redelivered delta");
    let book = store.book(&sol).await.expect("book").expect("a book");
    assert_eq!(book.sequence, 11);
    assert_eq!(book.bids, vec![lv("99.5", "5"), lv("99", "2")]);
    assert_eq!(book.asks, vec![lv("101", "3"), lv("102", "4")]);
}

/// A user's own exchange (`bybit`, not built in) is stored and read back exactly, and the
/// exchange filter tells it apart from the built-ins.
pub async fn user_exchange_history(store: &dyn HistoryStore, sink: &dyn Sink) {
    let bybit = ExchangeId::new("bybit").expect("a valid exchange name");
    let base = now_s_ns();
    let each = one_of_each(bybit, "BTC-USDT", base);
    sink.write_batch(&each).await.expect("write bybit");
    sink.write_batch(&trades(ExchangeId::BINANCE, "BTC-USDT", 3, base))
        .await
        .expect("write binance");
    for original in &each {
        let kind = original.kind();
        let got = store
            .query(&EventQuery::new(kind).exchange(bybit))
            .await
            .expect("query bybit");
        assert_eq!(got, vec![original.clone()], "{kind}");
        assert_eq!(got[0].exchange().as_str(), "bybit");
    }
    let q = EventQuery::new(EventKind::Trade);
    assert_eq!(store.count(&q).await.expect("count"), 4);
}

/// The hot view of a user's own exchange.
pub async fn user_exchange_hot(store: &dyn HotStore, sink: &dyn Sink) {
    let bybit = ExchangeId::new("bybit").expect("a valid exchange name");
    let each = one_of_each(bybit, "ETH-USDT", now_s_ns());
    sink.write_batch(&each).await.expect("write bybit");
    let key = InstrumentKey::new(bybit, MarketType::Spot, Symbol::new("ETH-USDT"));
    let bbo = each.iter().find(|e| e.kind() == EventKind::Bbo).cloned();
    assert!(bbo.is_some());
    assert_eq!(
        store.latest(EventKind::Bbo, &key).await.expect("latest"),
        bbo
    );
}

fn book_event(symbol: &str, sequence: u64, top_n: Option<u32>, best_bid: &str) -> MarketEvent {
    MarketEvent::BookSnapshot(BookSnapshot {
        exchange: ExchangeId::OKX,
        market: MarketType::Spot,
        symbol: Symbol::new(symbol),
        sequence,
        bids: vec![lv(best_bid, "1"), lv("90", "2")],
        asks: vec![lv("101", "3"), lv("102", "4")],
        exchange_ts: sequence as i64,
        local_ts: sequence as i64,
        top_n,
    })
}

fn book_delta(symbol: &str, prev_sequence: u64, sequence: u64, bid: &str) -> MarketEvent {
    MarketEvent::BookDelta(BookDelta {
        exchange: ExchangeId::OKX,
        market: MarketType::Spot,
        symbol: Symbol::new(symbol),
        prev_sequence,
        sequence,
        bids: vec![lv(bid, "5")],
        asks: vec![],
        exchange_ts: sequence as i64,
        local_ts: sequence as i64,
    })
}

/// Two writers of one hot store (two storage services on one consumer, each with its own
/// book-keeping; the same writer twice for a store only one process opens): the stored book
/// is the newest consistent image by sequence whatever the order of arrival; a writer that
/// misses a delta clears nothing; a top-N image is never a base for deltas.
pub async fn hot_book_replicas(store: &dyn HotStore, a: &dyn Sink, b: &dyn Sink) {
    let key = |s: &str| InstrumentKey::new(ExchangeId::OKX, MarketType::Spot, Symbol::new(s));
    let stored = |s: &'static str| {
        let k = key(s);
        async move { store.book(&k).await.expect("book") }
    };
    let sym = "ADA-USDT";
    a.write_batch(&[
        book_event(sym, 10, None, "100"),
        book_delta(sym, 10, 11, "99"),
    ])
    .await
    .expect("a: snapshot and delta");
    assert_eq!(stored(sym).await.map(|b| b.sequence), Some(11));
    // b did not see 11 (a took it): nothing to write, and nothing cleared.
    b.write_batch(&[book_delta(sym, 11, 12, "98")])
        .await
        .expect("b: a delta without a base");
    assert!(stored(sym).await.is_some(), "a gap cleared the book");
    // The collector's image at 14 reaches b.
    b.write_batch(&[book_event(sym, 14, Some(20), "97")])
        .await
        .expect("b: image");
    // a's own book is older (or broken): refused.
    a.write_batch(&[book_delta(sym, 12, 13, "96")])
        .await
        .expect("a: delta");
    // An older image redelivered late: refused.
    a.write_batch(&[book_event(sym, 13, Some(20), "95")])
        .await
        .expect("a: old image");
    let book = stored(sym).await.expect("a book");
    assert_eq!(book.sequence, 14);
    assert_eq!(book.bids[0], lv("97", "1"));
    assert!(
        book.top_n.is_some(),
        "the stored book says it is a top-N image"
    );

    // The other order: the newer image first, then an older one and an older own book.
    let sym = "XRP-USDT";
    a.write_batch(&[book_event(sym, 20, Some(20), "100")])
        .await
        .expect("a: image 20");
    b.write_batch(&[book_event(sym, 18, Some(20), "99")])
        .await
        .expect("b: image 18");
    b.write_batch(&[
        book_event(sym, 15, None, "98"),
        book_delta(sym, 15, 16, "97"),
    ])
    .await
    .expect("b: snapshot 15");
    let book = stored(sym).await.expect("a book");
    assert_eq!((book.sequence, book.bids[0]), (20, lv("100", "1")));
    // An image is not a base: a delta after it writes nothing.
    a.write_batch(&[book_delta(sym, 20, 21, "101")])
        .await
        .expect("a: delta after an image");
    assert_eq!(stored(sym).await.map(|b| b.sequence), Some(20));
    // A newer whole snapshot and its deltas move it on.
    b.write_batch(&[
        book_event(sym, 30, None, "100"),
        book_delta(sym, 30, 31, "100.5"),
    ])
    .await
    .expect("b: snapshot 30");
    let book = stored(sym).await.expect("a book");
    assert_eq!((book.sequence, book.bids[0]), (31, lv("100.5", "5")));
}
