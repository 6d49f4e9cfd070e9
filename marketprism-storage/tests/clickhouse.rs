//! ClickHouse store against the real server: exact round trips of every event kind,
//! deduplication, idempotent migration, queries and retention.
#![cfg(feature = "clickhouse")]

mod common;

use marketprism_core::{
    model::*,
    testing::{TestServer, require_server},
};
use marketprism_storage::{
    EventKind,
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    query::{EventQuery, HistoryStore, Order},
};

async fn store() -> Option<ClickHouseStore> {
    let url = require_server(TestServer::ClickHouse)?;
    let config = ClickHouseConfig::new(url).database(common::unique("mpt_ch"));
    Some(
        ClickHouseStore::connect(config)
            .await
            .expect("connect + migrate"),
    )
}

async fn raw_count(store: &ClickHouseStore, kind: EventKind) -> u64 {
    store
        .client()
        .query(&format!(
            "SELECT count() FROM {}",
            store.qualified_table(kind)
        ))
        .fetch_one::<u64>()
        .await
        .expect("raw count")
}

#[tokio::test]
async fn every_kind_round_trips_exactly_and_dedups() {
    let Some(store) = store().await else { return };
    let base = common::now_s_ns();
    let events = common::one_of_each(ExchangeId::OKX, "BTC-USDT", base);
    store.insert_events(&events).await.expect("insert");
    store
        .insert_events(&events)
        .await
        .expect("insert again (redelivery)");
    for original in &events {
        let kind = EventKind::of(original);
        let got = store.query(&EventQuery::new(kind)).await.expect("query");
        assert_eq!(got.len(), 1, "{kind}: deduplicated to one row");
        assert_eq!(&got[0], original, "{kind}: field by field");
        // Exact text, not only numeric equality: JSON of both normalized equals.
        assert_eq!(
            raw_count(&store, kind).await,
            2,
            "{kind}: two physical copies"
        );
        assert_eq!(store.count(&EventQuery::new(kind)).await.expect("count"), 1);
    }
    // Physically deduplicated after a merge, too.
    store
        .client()
        .query(&format!(
            "OPTIMIZE TABLE {} FINAL",
            store.qualified_table(EventKind::Trade)
        ))
        .execute()
        .await
        .expect("optimize");
    assert_eq!(raw_count(&store, EventKind::Trade).await, 1);
    store.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn unrepresentable_decimal_is_a_permanent_error() {
    let Some(store) = store().await else { return };
    let mut events = common::trades(ExchangeId::BINANCE, "BTC-USDT", 1, common::now_s_ns());
    if let MarketEvent::Trade(t) = &mut events[0] {
        t.price = "0.0000000000000000001".parse().expect("decimal");
    }
    let err = store
        .insert_events(&events)
        .await
        .expect_err("must refuse, not round");
    assert!(!err.is_retryable(), "{err}");
    store.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn migration_is_idempotent_and_adds_missing_columns() {
    let Some(store) = store().await else { return };
    store.migrate().await.expect("second migrate");
    let table = store.qualified_table(EventKind::Ticker);
    store
        .client()
        .query(&format!("ALTER TABLE {table} DROP COLUMN best_ask"))
        .execute()
        .await
        .expect("drop column");
    store.migrate().await.expect("migrate adds it back");
    let events = common::one_of_each(ExchangeId::BINANCE, "ETH-USDT", common::now_s_ns());
    store
        .insert_events(&events)
        .await
        .expect("insert after migration");
    assert_eq!(
        store
            .count(&EventQuery::new(EventKind::Ticker))
            .await
            .expect("count"),
        1
    );
    store.drop_database().await.expect("cleanup");
}

/// A restarting server re-creates each table by parsing the definition it stored itself. A
/// column named like a keyword (`interval` once was) is accepted by CREATE but written back
/// unquoted, and ClickHouse 18.16 then refuses to start. Re-parse every stored definition.
#[tokio::test]
async fn every_stored_table_definition_parses_again_as_on_server_restart() {
    let Some(store) = store().await else { return };
    let db = store.config().database.clone();
    for kind in EventKind::ALL {
        let table = store.qualified_table(kind);
        let stored: String = store
            .client()
            .query(&format!("SHOW CREATE TABLE {table}"))
            .fetch_one()
            .await
            .expect("show create");
        let body = &stored[stored.find('(').expect("column list")..];
        let copy = format!("CREATE TABLE `{db}`.`reparse_{kind}` {body}");
        store
            .client()
            .query(&copy)
            .execute()
            .await
            .unwrap_or_else(|e| panic!("{kind}: stored definition does not parse: {e}\n{stored}"));
    }
    store.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn queries_filter_by_exchange_symbol_range_and_limit() {
    let Some(store) = store().await else { return };
    let base = common::now_s_ns();
    let mut events = common::trades(ExchangeId::BINANCE, "BTC-USDT", 100, base);
    events.extend(common::trades(ExchangeId::OKX, "BTC-USDT", 10, base));
    events.extend(common::trades(ExchangeId::BINANCE, "ETH-USDT", 10, base));
    store.insert_events(&events).await.expect("insert");
    let q = EventQuery::new(EventKind::Trade)
        .exchange(ExchangeId::BINANCE)
        .symbol(Symbol::new("BTC-USDT"));
    assert_eq!(store.count(&q).await.expect("count"), 100);
    let ranged = q
        .clone()
        .range(Some(base + 10_000_000), Some(base + 20_000_000));
    let got = store.query(&ranged).await.expect("range");
    assert_eq!(got, events[10..20].to_vec());
    let newest = store
        .query(&q.clone().limit(3).order(Order::NewestFirst))
        .await
        .expect("newest");
    assert_eq!(
        newest,
        vec![events[99].clone(), events[98].clone(), events[97].clone()]
    );
    assert!(store.query(&q.clone().limit(0)).await.is_err());
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        stats.iter().find(|s| s.kind == "trade").map(|s| s.events),
        Some(120)
    );
    store.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn retention_drops_old_day_partitions_only() {
    let Some(store) = store().await else { return };
    let now = common::now_s_ns();
    let day = 86_400_000_000_000i64;
    let old = common::trades(ExchangeId::BINANCE, "OLD-USDT", 5, now - 10 * day);
    let recent = common::trades(ExchangeId::BINANCE, "NEW-USDT", 5, now - day);
    store.insert_events(&old).await.expect("insert old");
    store.insert_events(&recent).await.expect("insert recent");
    // Issue 13: ClickHouse's `today() - 999999` wraps its 16-bit Date to a day in the future;
    // such a count is refused before any partition is dropped.
    for huge in [999_999, u32::MAX] {
        let err = store.drop_older_than(huge).await.expect_err("refused");
        assert!(err.to_string().contains("retention_days"), "{err}");
        assert!(store.finalize_day(huge).await.is_err());
    }
    assert_eq!(
        store
            .query(&EventQuery::new(EventKind::Trade))
            .await
            .expect("query")
            .len(),
        10,
        "nothing dropped by the refused calls"
    );
    let report = store.drop_older_than(5).await.expect("retention");
    assert_eq!(report.partitions_dropped, 1);
    let all = store
        .query(&EventQuery::new(EventKind::Trade))
        .await
        .expect("query");
    assert_eq!(all, recent);
    assert_eq!(
        store
            .drop_older_than(5)
            .await
            .expect("again")
            .partitions_dropped,
        0
    );
    store.drop_database().await.expect("cleanup");
}

/// The daily archive seals yesterday: its duplicated parts are merged into one physical copy
/// per event, today's data is left alone, and reads stay exact.
#[tokio::test]
async fn daily_archive_finalizes_yesterday_only() {
    let Some(store) = store().await else { return };
    let day_ns = 86_400_000_000_000;
    let yesterday = common::now_s_ns() - day_ns;
    let today = common::now_s_ns();
    let old = common::one_of_each(ExchangeId::BINANCE, "ETH-USDT", yesterday);
    let new = common::one_of_each(ExchangeId::BINANCE, "BTC-USDT", today);
    for batch in [&old, &old, &new, &new] {
        store
            .insert_events(batch)
            .await
            .expect("insert (redelivered)");
    }
    let trade = EventKind::of(&old[0]);
    assert_eq!(
        raw_count(&store, trade).await,
        4,
        "two copies of each day before"
    );
    let report = store.finalize_day(1).await.expect("archive");
    let kinds: std::collections::BTreeSet<_> = old.iter().map(EventKind::of).collect();
    assert_eq!(
        report.partitions_finalized,
        kinds.len() as u64,
        "one partition per table: {report:?}"
    );
    // Yesterday physically deduplicated (1 copy), today untouched (2 copies): 3 rows.
    assert_eq!(raw_count(&store, trade).await, 3);
    for original in old.iter().chain(&new) {
        let kind = EventKind::of(original);
        assert_eq!(
            store.count(&EventQuery::new(kind)).await.expect("count"),
            2,
            "{kind}"
        );
    }
}
