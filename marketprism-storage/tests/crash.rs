//! The consumer process is killed with SIGKILL after it wrote a batch to ClickHouse and before
//! it acknowledged it, then restarted: no event is lost and none is stored twice.
#![cfg(all(feature = "nats", feature = "clickhouse"))]

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use marketprism_core::{
    model::*,
    testing::{TestServer, require_server},
};
use marketprism_storage::{
    EventKind,
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    nats::{
        NatsConfig,
        publisher::{JetStreamPublisher, PublisherConfig},
    },
    query::{EventQuery, HistoryStore},
};

fn spawn(nats: &NatsConfig, id: &str, ch: &str, pause: Option<u64>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketprism-storage-pipeline"));
    cmd.env("MP_NATS_URL", &nats.url)
        .env("MP_STREAM", &nats.stream)
        .env("MP_SUBJECT_PREFIX", id)
        .env("MP_CLICKHOUSE_URL", ch)
        .env("MP_CLICKHOUSE_DATABASE", id)
        // Messages per batch: 20 of up to 256 events each, so the first batch is a part.
        .env("MP_BATCH_SIZE", "20")
        .env("MP_ACK_WAIT_MS", "2000")
        .stdin(Stdio::null());
    if let Some(ms) = pause {
        cmd.env("MP_PAUSE_BEFORE_ACK_MS", ms.to_string());
    }
    cmd.spawn().expect("spawn pipeline process")
}

async fn raw_count(store: &ClickHouseStore) -> u64 {
    store
        .client()
        .query(&format!(
            "SELECT count() FROM {}",
            store.qualified_table(EventKind::Trade)
        ))
        .fetch_one::<u64>()
        .await
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_write_and_ack_loses_nothing_and_duplicates_nothing() {
    let Some(ch) = require_server(TestServer::ClickHouse) else {
        return;
    };
    let Some(nats_url) = require_server(TestServer::Nats) else {
        return;
    };
    let id = common::unique("mpt_crash");
    let nats = NatsConfig::new(nats_url)
        .stream(id.to_uppercase())
        .subject_prefix(&id);
    let store = ClickHouseStore::connect(ClickHouseConfig::new(&ch).database(&id))
        .await
        .expect("clickhouse");
    let publisher = JetStreamPublisher::connect(nats.clone(), PublisherConfig::default())
        .await
        .expect("publisher");
    let base = common::now_s_ns();
    let mut events = common::trades(ExchangeId::BINANCE, "BTC-USDT", 10_000, base);
    events.extend(common::trades(ExchangeId::OKX, "ETH-USDT", 10_000, base));
    let n = events.len() as u64;
    // Up to 256 events of a subject per message: deliveries below count messages.
    let messages = publisher
        .publish_batch(&events)
        .await
        .expect("publish")
        .messages as u64;

    // First process: writes a batch, then pauses before acking; killed during the pause.
    let mut first = spawn(&nats, &id, &ch, Some(60_000));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while raw_count(&store).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "first process wrote nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    first.wait().expect("reap");
    let written_before_kill = raw_count(&store).await;
    assert!(written_before_kill > 0 && written_before_kill < n);

    let js = async_nats::jetstream::new(publisher.client().clone());
    let stream = js.get_stream(&nats.stream).await.expect("stream");
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("storage").await.expect("consumer");
    let info = consumer.info().await.expect("info").clone();
    assert_eq!(
        info.ack_floor.stream_sequence, 0,
        "nothing was acked before the kill"
    );

    // Second process: redelivery of the unacked batch, then the rest.
    let mut second = spawn(&nats, &id, &ch, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = consumer.info().await.expect("info").clone();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not drained: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().expect("stop second");
    second.wait().expect("reap");

    let q = EventQuery::new(EventKind::Trade).limit(100_000);
    assert_eq!(
        store.count(&q).await.expect("count"),
        n,
        "every event exactly once"
    );
    // The killed batch was delivered (and written) twice: deliveries exceed the messages by
    // at least the messages those rows came in.
    let info = consumer.info().await.expect("info").clone();
    assert!(
        info.delivered.consumer_sequence >= messages + written_before_kill.div_ceil(256),
        "expected redeliveries: {info:?}"
    );
    let mut stored = store.query(&q).await.expect("query");
    let key = |e: &MarketEvent| (e.exchange(), e.exchange_ts());
    stored.sort_by_key(key);
    events.sort_by_key(key);
    assert_eq!(stored, events, "field by field");

    store.drop_database().await.expect("cleanup");
    let _ = js.delete_stream(&nats.stream).await;
    let _ = js.delete_stream(&nats.dead_letter_stream).await;
}
