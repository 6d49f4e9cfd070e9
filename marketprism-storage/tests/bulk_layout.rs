//! The bulk stream layout against the real servers: the stream holds `bulk.{exchange}.{market}`
//! messages of many symbols, every event still reaches a core subscriber of its per-symbol
//! subject, storage writes each event exactly once, a republished batch is dropped by
//! JetStream's dedup, and a service configured for the other layout refuses the stream.
#![cfg(all(feature = "nats", feature = "clickhouse"))]

mod common;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use marketprism_core::{
    framing::EVENTS_HEADER,
    model::*,
    sink::Sink,
    testing::{TestServer, require_server},
};
use marketprism_storage::{
    EventKind, StorageError,
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    identity::event_id,
    nats::{
        NatsConfig, StreamLayout,
        consumer::ConsumerConfig,
        publisher::{JetStreamPublisher, PublisherConfig},
    },
    pipeline::{PipelineConfig, PipelineStatus, run_with_status},
    query::{EventQuery, HistoryStore},
};

/// Every event of a message: one JSON object, or JSON lines under the count header.
fn decode(msg: &async_nats::Message) -> Vec<MarketEvent> {
    let several = msg
        .headers
        .as_ref()
        .and_then(|h| h.get(EVENTS_HEADER))
        .is_some();
    let lines: Vec<&[u8]> = if several {
        msg.payload
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        vec![&msg.payload[..]]
    };
    lines
        .into_iter()
        .map(|l| serde_json::from_slice(l).expect("event JSON"))
        .collect()
}

/// A stream of its own for one test (`None` when NATS is absent outside CI): its id (also
/// the subject prefix) and configuration.
fn own_stream(layout: StreamLayout) -> Option<(String, NatsConfig)> {
    let nats_url = require_server(TestServer::Nats)?;
    let id = common::unique("mpb");
    let nats = NatsConfig::new(nats_url)
        .stream(id.to_uppercase())
        .subject_prefix(&id)
        .layout(layout);
    Some((id, nats))
}

async fn delete_streams(client: &async_nats::Client, nats: &NatsConfig) {
    let js = async_nats::jetstream::new(client.clone());
    let _ = js.delete_stream(&nats.stream).await;
    let _ = js.delete_stream(&nats.dead_letter_stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_layout_stores_batches_per_venue_and_serves_symbols_live() {
    let Some(ch) = require_server(TestServer::ClickHouse) else {
        return;
    };
    let Some((id, nats)) = own_stream(StreamLayout::Bulk) else {
        return;
    };
    let store = ClickHouseStore::connect(ClickHouseConfig::new(ch).database(&id))
        .await
        .expect("clickhouse");
    let publisher = JetStreamPublisher::connect(nats.clone(), PublisherConfig::default())
        .await
        .expect("publisher");
    let js = async_nats::jetstream::new(publisher.client().clone());
    let mut stream = js.get_stream(&nats.stream).await.expect("stream");
    let subjects = stream.info().await.expect("info").config.subjects.clone();
    assert_eq!(subjects, [format!("{id}.bulk.>")]);

    // A live subscriber of one symbol, and one of everything per-symbol.
    let mut btc = publisher
        .client()
        .subscribe(format!("{id}.trade.binance.spot.BTC-USDT"))
        .await
        .expect("subscribe");
    let mut all_trades = publisher
        .client()
        .subscribe(format!("{id}.trade.>"))
        .await
        .expect("subscribe");
    publisher.client().flush().await.expect("flush");

    let base = common::now_s_ns();
    let mut events = Vec::new();
    for (i, sym) in ["BTC-USDT", "ETH-USDT", "SOL-USDT"].iter().enumerate() {
        events.extend(common::trades(
            ExchangeId::BINANCE,
            sym,
            400,
            base + i as i64,
        ));
    }
    events.extend(common::trades(ExchangeId::OKX, "BTC-USDT", 50, base));
    events.extend(common::one_of_each(
        ExchangeId::DERIBIT,
        "BTC-PERPETUAL",
        base,
    ));
    let n = events.len();

    let report = publisher.publish_batch(&events).await.expect("publish");
    assert_eq!((report.acked, report.duplicates), (n, 0));
    // Binance spot: 1,200 trades in ceil(1200 / 256) messages; OKX and Deribit venues their
    // own. Far fewer than the 3 + 1 + kinds per-symbol messages times their splits.
    let stored_messages = stream.info().await.expect("info").state.messages;
    assert_eq!(stored_messages as usize, report.messages);
    assert!(
        report.messages <= 5 + 1 + EventKind::ALL.len(),
        "{} stored messages for {n} events",
        report.messages
    );
    // Every stored message is on a venue's bulk subject.
    let last = stream
        .get_last_raw_message_by_subject(&format!("{id}.bulk.binance.spot"))
        .await
        .expect("binance spot bulk message");
    assert!(
        last.headers.get(EVENTS_HEADER).is_some(),
        "several events per bulk message"
    );

    // The live copies: every BTC-USDT trade on its own subject, in order; every trade on
    // `trade.>` exactly once.
    let expected_btc: Vec<&MarketEvent> = events
        .iter()
        .filter(|e| matches!(e, MarketEvent::Trade(t) if t.exchange == ExchangeId::BINANCE && t.symbol.as_str() == "BTC-USDT"))
        .collect();
    let mut got_btc = Vec::new();
    while got_btc.len() < expected_btc.len() {
        let msg = tokio::time::timeout(Duration::from_secs(10), btc.next())
            .await
            .expect("live BTC-USDT copies")
            .expect("subscription open");
        got_btc.extend(decode(&msg));
    }
    assert_eq!(got_btc.iter().collect::<Vec<_>>(), expected_btc);
    let n_trades = events
        .iter()
        .filter(|e| matches!(e, MarketEvent::Trade(_)))
        .count();
    let mut live_ids: HashMap<String, usize> = HashMap::new();
    while live_ids.values().sum::<usize>() < n_trades {
        let msg = tokio::time::timeout(Duration::from_secs(10), all_trades.next())
            .await
            .expect("live trade copies")
            .expect("subscription open");
        for e in decode(&msg) {
            *live_ids.entry(event_id(&e)).or_default() += 1;
        }
    }
    assert_eq!(live_ids.len(), n_trades);

    // Republishing the batch: JetStream drops every stored message as a duplicate.
    let again = publisher.publish_batch(&events).await.expect("republish");
    assert_eq!((again.acked, again.duplicates), (n, n));
    assert_eq!(
        stream.info().await.expect("info").state.messages,
        stored_messages
    );

    // Storage reads the bulk messages like any other: each event exactly once.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = PipelineConfig::new(nats.clone()).consumer(
        ConsumerConfig::default()
            .batch_size(100)
            .batch_timeout(Duration::from_millis(200)),
    );
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(store.clone())];
    let task = tokio::spawn(run_with_status(
        config,
        sinks,
        Arc::new(PipelineStatus::default()),
        async {
            let _ = stop_rx.await;
        },
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let mut stored = Vec::new();
        for kind in EventKind::ALL {
            stored.extend(
                store
                    .query(&EventQuery::new(kind).limit(100_000))
                    .await
                    .expect("query"),
            );
        }
        if stored.len() >= n || tokio::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut stored = stored;
    let mut published = events.clone();
    stored.sort_by_key(event_id);
    published.sort_by_key(event_id);
    assert_eq!(stored, published);

    // A service configured for the per-symbol layout refuses this stream, naming the key.
    let per_symbol = nats.clone().layout(StreamLayout::PerSymbol);
    let refused = JetStreamPublisher::connect(per_symbol, PublisherConfig::default()).await;
    match refused {
        Err(e @ StorageError::Config { .. }) => {
            let text = e.to_string();
            assert!(text.contains("nats.stream_layout"), "{text}");
            assert!(text.contains("`bulk` layout"), "{text}");
        }
        other => panic!("expected a layout error, got {other:?}"),
    }

    let _ = stop_tx.send(());
    task.await.expect("join").expect("pipeline");
    store.drop_database().await.expect("cleanup");
    delete_streams(publisher.client(), &nats).await;
}

/// The other way round: a bulk-layout service refuses a per-symbol stream.
#[tokio::test]
async fn a_bulk_service_refuses_a_per_symbol_stream() {
    let Some((_, nats)) = own_stream(StreamLayout::PerSymbol) else {
        return;
    };
    let publisher = JetStreamPublisher::connect(nats.clone(), PublisherConfig::default())
        .await
        .expect("per-symbol stream");
    let refused = JetStreamPublisher::connect(
        nats.clone().layout(StreamLayout::Bulk),
        PublisherConfig::default(),
    )
    .await;
    let text = refused
        .expect_err("bulk on a per-symbol stream")
        .to_string();
    assert!(
        text.contains("nats.stream_layout") && text.contains("`per_symbol` layout"),
        "{text}"
    );
    delete_streams(publisher.client(), &nats).await;
}

/// `bulk_only`: the same stream, and nothing on the per-symbol subjects.
#[tokio::test]
async fn bulk_only_sends_no_live_copies() {
    let Some((id, nats)) = own_stream(StreamLayout::BulkOnly) else {
        return;
    };
    let publisher = JetStreamPublisher::connect(nats.clone(), PublisherConfig::default())
        .await
        .expect("bulk_only stream");
    let client = publisher.client();
    let mut symbols = client
        .subscribe(format!("{id}.trade.>"))
        .await
        .expect("sub");
    let mut bulk = client.subscribe(format!("{id}.bulk.>")).await.expect("sub");
    client.flush().await.expect("flush");
    let events = common::trades(ExchangeId::BINANCE, "BTC-USDT", 300, common::now_s_ns());
    let report = publisher.publish_batch(&events).await.expect("publish");
    assert_eq!((report.acked, report.messages), (300, 2));
    let mut got = Vec::new();
    while got.len() < events.len() {
        let msg = tokio::time::timeout(Duration::from_secs(10), bulk.next())
            .await
            .expect("bulk messages")
            .expect("open");
        assert_eq!(msg.subject.as_str(), format!("{id}.bulk.binance.spot"));
        got.extend(decode(&msg));
    }
    assert_eq!(got, events);
    // The bulk messages arrived after any live copy would have (same connection, in order).
    assert!(
        tokio::time::timeout(Duration::from_millis(300), symbols.next())
            .await
            .is_err(),
        "a per-symbol message in bulk_only"
    );
    delete_streams(client, &nats).await;
}
