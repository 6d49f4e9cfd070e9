//! JetStream → pipeline → ClickHouse against the real servers: N published events become
//! exactly N rows equal field by field, republishing is deduplicated, and a malformed message
//! lands in the dead-letter subject while the pipeline goes on.
#![cfg(all(feature = "nats", feature = "clickhouse", feature = "redis"))]

mod common;

use std::{sync::Arc, time::Duration};

use marketprism_core::{
    framing::{EVENTS_HEADER, push_line},
    model::*,
    sink::Sink,
    subject::write_subject,
    testing::{TestServer, require_server},
};
use marketprism_storage::{
    EventKind,
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    identity::event_id,
    nats::{
        NatsConfig,
        consumer::ConsumerConfig,
        publisher::{JetStreamPublisher, PublisherConfig},
    },
    pipeline::{PipelineConfig, PipelineStatus, run_with_status},
    query::{EventQuery, HistoryStore, HotStore, InstrumentKey},
    redis::{RedisConfig, RedisStore},
};

struct Env {
    nats: NatsConfig,
    store: ClickHouseStore,
    redis: RedisStore,
}

async fn env() -> Option<Env> {
    let ch = require_server(TestServer::ClickHouse)?;
    let nats_url = require_server(TestServer::Nats)?;
    let redis_url = require_server(TestServer::Redis)?;
    let id = common::unique("mpt");
    let nats = NatsConfig::new(nats_url)
        .stream(id.to_uppercase())
        .subject_prefix(&id);
    let store = ClickHouseStore::connect(ClickHouseConfig::new(ch).database(&id))
        .await
        .expect("clickhouse");
    let redis = RedisStore::connect(RedisConfig::new(redis_url).key_prefix(&id))
        .await
        .expect("redis");
    Some(Env { nats, store, redis })
}

async fn total(store: &ClickHouseStore) -> u64 {
    let mut n = 0;
    for kind in EventKind::ALL {
        n += store.count(&EventQuery::new(kind)).await.expect("count");
    }
    n
}

async fn wait_for_total(store: &ClickHouseStore, expected: u64, timeout: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = total(store).await;
        if n >= expected || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn workload(base: i64) -> Vec<MarketEvent> {
    let mut events = Vec::new();
    for (i, sym) in ["BTC-USDT", "ETH-USDT", "SOL-USDT"].iter().enumerate() {
        events.extend(common::trades(
            ExchangeId::BINANCE,
            sym,
            1500,
            base + i as i64,
        ));
    }
    events.extend(common::one_of_each(ExchangeId::OKX, "BTC-USDT-PERP", base));
    events.extend(common::one_of_each(
        ExchangeId::DERIBIT,
        "BTC-PERPETUAL",
        base + 100,
    ));
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_events_become_exact_rows_once() {
    let Some(env) = env().await else { return };
    let publisher = JetStreamPublisher::connect(env.nats.clone(), PublisherConfig::default())
        .await
        .expect("publisher");
    let events = workload(common::now_s_ns());
    let n = events.len();

    let first = publisher.publish_batch(&events).await.expect("publish");
    assert_eq!((first.acked, first.duplicates), (n, 0));
    // The events of one subject travel together, up to 256 per message.
    assert!(
        first.messages * 10 < n,
        "{} messages for {n} events",
        first.messages
    );
    // Republishing (a collector restart) is dropped by the stream's Nats-Msg-Id dedup.
    let again = publisher.publish_batch(&events).await.expect("republish");
    assert_eq!((again.acked, again.duplicates), (n, n));

    let status = Arc::new(PipelineStatus::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = PipelineConfig::new(env.nats.clone()).consumer(
        ConsumerConfig::default()
            .durable_name("storage")
            .batch_size(1000)
            .batch_timeout(Duration::from_millis(200)),
    );
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(env.store.clone()), Arc::new(env.redis.clone())];
    let task = tokio::spawn(run_with_status(config, sinks, Arc::clone(&status), async {
        let _ = stop_rx.await;
    }));

    assert_eq!(
        wait_for_total(&env.store, n as u64, Duration::from_secs(60)).await,
        n as u64
    );

    // A malformed message goes to the dead-letter subject; the pipeline goes on.
    publisher
        .publish_raw("trade.binance.spot.BAD-USDT", "{not json".into(), "bad-1")
        .await
        .expect("publish malformed");
    let js = async_nats::jetstream::new(publisher.client().clone());
    // A several-event message with one undecodable line: that line alone is dead-lettered,
    // its neighbours are stored.
    let mixed = common::trades(ExchangeId::OKX, "PEPE-USDT", 2, common::now_s_ns());
    let mut mixed_subject = String::new();
    write_subject(&mixed[0], &mut mixed_subject);
    let mut payload = Vec::new();
    push_line(&mut payload, &serde_json::to_vec(&mixed[0]).expect("json"));
    push_line(&mut payload, b"{broken");
    push_line(&mut payload, &serde_json::to_vec(&mixed[1]).expect("json"));
    js.send_publish(
        env.nats.subject_for(&mixed_subject),
        async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .header(EVENTS_HEADER, "3")
            .message_id("mixed-1"),
    )
    .await
    .expect("publish mixed")
    .await
    .expect("mixed acked");
    let later = common::trades(ExchangeId::OKX, "DOGE-USDT", 10, common::now_s_ns());
    publisher
        .publish_batch(&later)
        .await
        .expect("publish after malformed");
    let expected = (n + mixed.len() + later.len()) as u64;
    assert_eq!(
        wait_for_total(&env.store, expected, Duration::from_secs(30)).await,
        expected
    );

    let dl_stream = js
        .get_stream(&env.nats.dead_letter_stream)
        .await
        .expect("dl stream");
    let dl_subject = env
        .nats
        .dead_letter_subject(&env.nats.subject_for("trade.binance.spot.BAD-USDT"));
    let dead = dl_stream
        .get_last_raw_message_by_subject(&dl_subject)
        .await
        .expect("dead letter stored");
    assert_eq!(&dead.payload[..], b"{not json");
    let dead = dl_stream
        .get_last_raw_message_by_subject(
            &env.nats
                .dead_letter_subject(&env.nats.subject_for(&mixed_subject)),
        )
        .await
        .expect("dead line stored");
    assert_eq!(&dead.payload[..], b"{broken", "only the bad line");
    assert!(status.snapshot().dead_lettered >= 2);

    // Field by field: every stored event equals a published one, each exactly once.
    let mut published: Vec<MarketEvent> =
        events.iter().chain(&mixed).chain(&later).cloned().collect();
    let mut stored = Vec::new();
    for kind in EventKind::ALL {
        stored.extend(
            env.store
                .query(&EventQuery::new(kind).limit(100_000))
                .await
                .expect("query"),
        );
    }
    published.sort_by_key(event_id);
    stored.sort_by_key(event_id);
    assert_eq!(stored.len(), published.len());
    for (s, p) in stored.iter().zip(&published) {
        assert_eq!(s, p);
    }

    // Redis hot values equal the latest events.
    let okx = |sym: &str| InstrumentKey::new(ExchangeId::OKX, MarketType::Spot, Symbol::new(sym));
    let bbo = events
        .iter()
        .find(|e| matches!(e, MarketEvent::Bbo(b) if b.exchange == ExchangeId::OKX));
    assert_eq!(
        env.redis
            .latest(EventKind::Bbo, &okx("BTC-USDT-PERP"))
            .await
            .expect("bbo"),
        bbo.cloned()
    );
    let doge = env
        .redis
        .recent_trades(&okx("DOGE-USDT"), 3)
        .await
        .expect("trades");
    let newest: Vec<MarketEvent> = doge.into_iter().map(MarketEvent::Trade).collect();
    assert_eq!(
        newest,
        vec![later[9].clone(), later[8].clone(), later[7].clone()]
    );

    // Everything acked: nothing pending on the durable consumer.
    let stream = js.get_stream(&env.nats.stream).await.expect("stream");
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("storage").await.expect("consumer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info = consumer.info().await.expect("info").clone();
        if info.num_ack_pending == 0 && info.num_pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still pending: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let _ = stop_tx.send(());
    task.await.expect("join").expect("pipeline");
    env.store.drop_database().await.expect("cleanup");
    let _ = js.delete_stream(&env.nats.stream).await;
    let _ = js.delete_stream(&env.nats.dead_letter_stream).await;
}

/// A fetch cut short by `batch_max_bytes` ends with "409 Batch Completed": what arrived is
/// written and acked at once, not left for redelivery after the ack wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cut_by_max_bytes_is_written_at_once() {
    let Some(env) = env().await else { return };
    let publisher = JetStreamPublisher::connect(env.nats.clone(), PublisherConfig::default())
        .await
        .expect("publisher");
    // About 7 MB of trades: several fetches of at most 2 MiB each.
    let events = common::trades(ExchangeId::BINANCE, "BIG-USDT", 20_000, common::now_s_ns());
    publisher.publish_batch(&events).await.expect("publish");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = PipelineConfig::new(env.nats.clone()).consumer(
        ConsumerConfig::default()
            .batch_max_bytes(2 << 20)
            .batch_timeout(Duration::from_millis(200))
            // Anything dropped would come back only after a minute: past the wait below.
            .ack_wait(Duration::from_secs(60)),
    );
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(env.store.clone())];
    let task = tokio::spawn(run_with_status(
        config,
        sinks,
        Arc::new(PipelineStatus::default()),
        async {
            let _ = stop_rx.await;
        },
    ));
    let n = events.len() as u64;
    assert_eq!(
        wait_for_total(&env.store, n, Duration::from_secs(30)).await,
        n
    );
    let _ = stop_tx.send(());
    task.await.expect("join").expect("pipeline");
}
