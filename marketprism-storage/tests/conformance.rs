//! The same query tests against ClickHouse + Redis (real servers) and the embedded store.

mod common;

#[cfg(feature = "embedded")]
mod embedded {
    use super::common::{self, conformance};
    use marketprism_core::{model::*, sink::Sink};
    use marketprism_storage::{
        EventKind,
        embedded::EmbeddedStore,
        query::{EventQuery, HistoryStore, HotStore, InstrumentKey},
    };

    #[tokio::test]
    async fn history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path().join("s.redb")).expect("open");
        conformance::history(&store, &store).await;
    }

    #[tokio::test]
    async fn hot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path().join("s.redb")).expect("open");
        conformance::hot(&store, &store).await;
    }

    #[tokio::test]
    async fn hot_book_newest_sequence_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path().join("s.redb")).expect("open");
        conformance::hot_book_replicas(&store, &store, &store).await;
    }

    #[tokio::test]
    async fn user_exchange() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path().join("s.redb")).expect("open");
        conformance::user_exchange_history(&store, &store).await;
        conformance::user_exchange_hot(&store, &store).await;
    }

    #[tokio::test]
    async fn survives_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/s.redb");
        let base = common::now_s_ns();
        let events = common::one_of_each(ExchangeId::BINANCE, "BTC-USDT", base);
        {
            let store = EmbeddedStore::open(&path).expect("open");
            store.write_batch(&events).await.expect("write");
        }
        let store = EmbeddedStore::open(&path).expect("reopen");
        for e in &events {
            let got = store
                .query(&EventQuery::new(EventKind::of(e)))
                .await
                .expect("query");
            assert_eq!(&got, std::slice::from_ref(e));
        }
        let key = InstrumentKey::new(
            ExchangeId::BINANCE,
            MarketType::Spot,
            Symbol::new("BTC-USDT"),
        );
        assert!(
            store
                .latest(EventKind::Bbo, &key)
                .await
                .expect("latest")
                .is_some()
        );
    }

    #[tokio::test]
    async fn retention_deletes_old_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path().join("s.redb")).expect("open");
        let now = common::now_s_ns();
        let day = 86_400_000_000_000i64;
        let old = common::trades(ExchangeId::BINANCE, "OLD-USDT", 5, now - 10 * day);
        let recent = common::trades(ExchangeId::BINANCE, "NEW-USDT", 5, now - day);
        store.write_batch(&old).await.expect("old");
        store.write_batch(&recent).await.expect("recent");
        let report = store.drop_older_than(5).await.expect("retention");
        assert_eq!(report.events_deleted, 5);
        assert_eq!(
            store
                .query(&EventQuery::new(EventKind::Trade))
                .await
                .expect("q"),
            recent
        );
    }
}

#[cfg(all(feature = "clickhouse", feature = "redis"))]
mod servers {
    use super::common::{self, conformance};
    use futures::StreamExt;
    use marketprism_core::{
        model::*,
        sink::Sink,
        testing::{TestServer, require_server},
    };
    use marketprism_storage::{
        clickhouse::{ClickHouseConfig, ClickHouseStore},
        redis::{RedisConfig, RedisStore},
    };

    #[tokio::test]
    async fn clickhouse_history() {
        let Some(url) = require_server(TestServer::ClickHouse) else {
            return;
        };
        let store = ClickHouseStore::connect(
            ClickHouseConfig::new(url).database(common::unique("mpt_conf")),
        )
        .await
        .expect("clickhouse");
        conformance::history(&store, &store).await;
        store.drop_database().await.expect("cleanup");
    }

    #[tokio::test]
    async fn clickhouse_user_exchange() {
        let Some(url) = require_server(TestServer::ClickHouse) else {
            return;
        };
        let store = ClickHouseStore::connect(
            ClickHouseConfig::new(url).database(common::unique("mpt_conf")),
        )
        .await
        .expect("clickhouse");
        conformance::user_exchange_history(&store, &store).await;
        store.drop_database().await.expect("cleanup");
    }

    async fn redis() -> Option<RedisStore> {
        let url = require_server(TestServer::Redis)?;
        Some(
            RedisStore::connect(RedisConfig::new(url).key_prefix(common::unique("mpt")))
                .await
                .expect("redis"),
        )
    }

    #[tokio::test]
    async fn redis_hot() {
        let Some(store) = redis().await else { return };
        conformance::hot(&store, &store).await;
    }

    /// Two storage services (two stores, each with its own book-keeping) on one Redis.
    #[tokio::test]
    async fn redis_hot_book_two_replicas() {
        let Some(a) = redis().await else { return };
        let url = require_server(TestServer::Redis).expect("redis");
        let b =
            RedisStore::connect(RedisConfig::new(url).key_prefix(a.config().key_prefix.clone()))
                .await
                .expect("redis");
        conformance::hot_book_replicas(&a, &a, &b).await;
    }

    #[tokio::test]
    async fn redis_user_exchange() {
        let Some(store) = redis().await else { return };
        conformance::user_exchange_hot(&store, &store).await;
    }

    #[tokio::test]
    async fn redis_publishes_updates_and_sets_ttls() {
        let Some(store) = redis().await else { return };
        let url = require_server(TestServer::Redis).expect("redis");
        let client = redis::Client::open(url.as_str()).expect("client");
        let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
        let pattern = format!("{}:updates:trade.*", store.config().key_prefix);
        pubsub.psubscribe(&pattern).await.expect("psubscribe");
        let trade = common::trades(ExchangeId::OKX, "BTC-USDT", 1, common::now_s_ns());
        store.write_batch(&trade).await.expect("write");
        let mut messages = pubsub.on_message();
        let msg = tokio::time::timeout(std::time::Duration::from_secs(5), messages.next())
            .await
            .expect("an update within 5 s")
            .expect("message");
        assert_eq!(
            msg.get_channel_name(),
            format!(
                "{}:updates:trade.okx.spot.BTC-USDT",
                store.config().key_prefix
            )
        );
        let got: MarketEvent = serde_json::from_slice(msg.get_payload_bytes()).expect("json");
        assert_eq!(got, trade[0]);
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("conn");
        let key = format!("{}:trades:okx:spot:BTC-USDT", store.config().key_prefix);
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("ttl");
        assert!(ttl > 3000 && ttl <= 3600, "ttl {ttl}");
    }
}
