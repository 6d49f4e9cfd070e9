//! A storage consumer on a stream with 3 replicas drains a backlog of many batches. NATS
//! (2.15) may send the status that ends a byte-bounded pull request ("409 Batch
//! Completed") before the replicated messages it delivered; a consumer that asked for a byte
//! bound and stopped at that status got nothing, and the messages went back to the stream
//! after the ack wait, every batch, for as long as the backlog lasted. On a replicated stream
//! the consumer bounds a batch by its message count only (`ConsumerConfig::batch_max_bytes`).

mod platform;

use std::{collections::BTreeSet, time::Duration};

use marketprism_core::Decimal;
use marketprism_core::model::{ExchangeId, MarketEvent, MarketType, Side, Symbol, Trade};
use marketprism_storage::nats::{
    NatsConfig,
    consumer::{ConsumerConfig, JetStreamConsumer},
    publisher::{JetStreamPublisher, PublisherConfig},
};
use platform::{
    nats_cluster::{NatsCluster, require_nats_server_bin},
    secs, unique,
};

const BACKLOG: usize = 3_000;
const BATCH: usize = 200;

fn trade(i: usize) -> MarketEvent {
    MarketEvent::Trade(Trade {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new("BTC-USDT"),
        trade_id: i.to_string().into(),
        side: Side::Buy,
        price: Decimal::new(6_400_000 + i as i64, 2),
        size: Decimal::new(15, 3),
        exchange_ts: 1_795_316_340_000_000_000 + i as i64,
        local_ts: 1_795_316_340_000_000_001 + i as i64,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_backlog_is_fetched_in_full_batches() {
    let Some(bin) = require_nats_server_bin() else {
        return;
    };
    marketprism_bins::common::install_crypto();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = NatsCluster::start(&bin, dir.path(), secs(30)).await;
    let run = unique();
    let nats = NatsConfig::new(cluster.urls())
        .stream(format!("FETCH_{}", run.to_uppercase()))
        .subject_prefix(format!("fetch{run}"))
        .replicas(3);

    // One event a message: the backlog is BACKLOG messages, many batches deep.
    let publisher = JetStreamPublisher::connect(
        nats.clone(),
        PublisherConfig::default().max_events_per_message(1),
    )
    .await
    .expect("publisher");
    let events: Vec<MarketEvent> = (0..BACKLOG).map(trade).collect();
    for chunk in events.chunks(500) {
        publisher.publish_batch(chunk).await.expect("publish");
    }

    let consumer = JetStreamConsumer::connect(
        nats,
        ConsumerConfig::default()
            .batch_size(BATCH)
            .batch_timeout(Duration::from_millis(500))
            .ack_wait(Duration::from_secs(30)),
    )
    .await
    .expect("consumer");
    let mut seen = BTreeSet::new();
    let mut fetches = 0;
    while seen.len() < BACKLOG {
        fetches += 1;
        assert!(
            fetches <= 2 * BACKLOG / BATCH,
            "{fetches} fetches for {} of {BACKLOG} events: batches come back short",
            seen.len()
        );
        let batch = consumer
            .next_batch()
            .await
            .unwrap_or_else(|e| panic!("fetch {fetches} failed after {} events: {e}", seen.len()));
        for event in &batch.events {
            if let MarketEvent::Trade(t) = event {
                seen.insert(t.trade_id.to_string());
            }
        }
        consumer.ack(&batch.messages).await.expect("ack");
    }
    assert_eq!(seen.len(), BACKLOG);
    eprintln!("{BACKLOG} events in {fetches} fetches of up to {BATCH} messages");
}
