//! Throughput of the storage path on the real servers, each next to the raw client crate
//! measured in the same run:
//!
//! 1. ClickHouse inserts: `ClickHouseStore::insert_events` (event → row conversion + RowBinary)
//!    vs the `clickhouse` crate inserting prebuilt rows, both in batches of 10 000, in
//!    `MP_ROUNDS` (default 3) rounds that alternate which goes first;
//! 2. JetStream publish: `JetStreamPublisher::publish_batch` vs `async-nats` pipelined
//!    `send_publish` with the same message ids;
//! 3. end to end: JetStream → pipeline → ClickHouse, sustained rows/s until the backlog is
//!    stored and acked.
//!
//! `cargo run --release -p marketprism-storage --all-features --example storage_throughput`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, message::PublishMessage};
use futures::{StreamExt, stream::FuturesUnordered};
use marketprism_core::{model::*, sink::Sink, subject::subject_of};
use marketprism_storage::{
    EventKind,
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    identity::event_id,
    nats::{
        NatsConfig,
        consumer::ConsumerConfig,
        publisher::{JetStreamPublisher, PublisherConfig},
    },
    pipeline::{PipelineConfig, run_storage_pipeline},
    query::{EventQuery, HistoryStore},
};
use rust_decimal::Decimal;

#[derive(clickhouse::Row, serde::Serialize)]
struct RawTrade {
    exchange: String,
    market: String,
    symbol: String,
    trade_id: String,
    side: i8,
    price: i128,
    size: i128,
    exchange_ts: i64,
    local_ts: i64,
}

fn trades(n: usize, base: i64, symbol: &str) -> Vec<MarketEvent> {
    (0..n)
        .map(|i| {
            MarketEvent::Trade(Trade {
                exchange: ExchangeId::BINANCE,
                market: MarketType::Spot,
                symbol: Symbol::new(symbol),
                trade_id: i.to_string().into(),
                side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                price: Decimal::new(6_400_000 + (i % 1000) as i64, 2),
                size: Decimal::new(1 + (i % 97) as i64, 4),
                exchange_ts: base + i as i64 * 1000,
                local_ts: base + i as i64 * 1000 + 77,
            })
        })
        .collect()
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>10.0}/s ({n} in {:.2} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ch =
        std::env::var("MARKETPRISM_TEST_CLICKHOUSE_URL").unwrap_or("http://127.0.0.1:8123".into());
    let nats_url =
        std::env::var("MARKETPRISM_TEST_NATS_URL").unwrap_or("nats://127.0.0.1:4222".into());
    let id = format!("mpbench_{:x}", rand::random::<u32>());
    let n = 1_000_000;
    let batch = 10_000;
    let base = now_ns();
    let store = ClickHouseStore::connect(ClickHouseConfig::new(&ch).database(&id)).await?;

    // 1. ClickHouse: raw crate vs our sink, alternated (raw first, then sink first, ...) so
    //    that neither always inserts into a table the other just filled (merges run behind).
    let rounds: usize = std::env::var("MP_ROUNDS").map_or(Ok(3), |v| v.parse())?;
    let client = clickhouse::Client::default()
        .with_url(&ch)
        .with_database(&id)
        .with_validation(false)
        .with_compression(clickhouse::Compression::None);
    // The same crate over a connector with TCP_NODELAY, as our store's (a fair second baseline:
    // the crate's default client leaves Nagle on).
    let nodelay_client = {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        clickhouse::Client::with_http_client(http)
            .with_url(&ch)
            .with_database(&id)
            .with_validation(false)
            .with_compression(clickhouse::Compression::None)
    };
    println!("ClickHouse insert, batches of {batch}, {n} rows per side and round:");
    let (mut raw_total, mut nodelay_total, mut sink_total) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        let symbol = |side: &str| format!("{side}{round}-USDT");
        let raw_rows = |symbol: String| -> Vec<RawTrade> {
            (0..n)
                .map(|i| RawTrade {
                    exchange: "binance".into(),
                    market: "spot".into(),
                    symbol: symbol.clone(),
                    trade_id: i.to_string(),
                    side: 1,
                    price: 64_000_000_000_000_000_000_000 + i as i128,
                    size: 1_000_000_000_000_000,
                    exchange_ts: base + i as i64 * 1000,
                    local_ts: base,
                })
                .collect()
        };
        let (plain_rows, nodelay_rows) = (raw_rows(symbol("RAW")), raw_rows(symbol("NODELAY")));
        let events = trades(n, base, &symbol("SINK"));
        let mut took = [Duration::ZERO; 3];
        for side in [[0, 1, 2], [2, 1, 0], [1, 2, 0]][round % 3] {
            let t = Instant::now();
            if side < 2 {
                let (client, rows) = if side == 0 {
                    (&client, &plain_rows)
                } else {
                    (&nodelay_client, &nodelay_rows)
                };
                for chunk in rows.chunks(batch) {
                    let mut ins = client.insert::<RawTrade>("trade").await?;
                    for r in chunk {
                        ins.write(r).await?;
                    }
                    ins.end().await?;
                }
            } else {
                for chunk in events.chunks(batch) {
                    store.insert_events(chunk).await?;
                }
            }
            took[side] = t.elapsed();
        }
        let [raw, nodelay, sink] = took;
        println!(
            "  round {round}: raw crate (prebuilt rows) {}; same, TCP_NODELAY {}; ClickHouseStore::insert_events {}; sink / raw {:.2}, sink / raw nodelay {:.2}",
            rate(n, raw),
            rate(n, nodelay),
            rate(n, sink),
            raw.as_secs_f64() / sink.as_secs_f64(),
            nodelay.as_secs_f64() / sink.as_secs_f64()
        );
        raw_total += raw;
        nodelay_total += nodelay;
        sink_total += sink;
    }
    println!(
        "  all rounds (rows/s of our sink over the raw crate's): sink / raw {:.2}, sink / raw with TCP_NODELAY {:.2}",
        raw_total.as_secs_f64() / sink_total.as_secs_f64(),
        nodelay_total.as_secs_f64() / sink_total.as_secs_f64()
    );

    // 2. JetStream publish: raw async-nats vs our publisher.
    let m = 200_000;
    let nats = NatsConfig::new(&nats_url)
        .stream(id.to_uppercase())
        .subject_prefix(&id);
    let publisher = JetStreamPublisher::connect(nats.clone(), PublisherConfig::default()).await?;
    let js = jetstream::new(publisher.client().clone());
    let raw_events = trades(m, base, "NATSRAW-USDT");
    let t = Instant::now();
    let mut acks = FuturesUnordered::new();
    for e in &raw_events {
        let payload = serde_json::to_vec(e)?;
        let msg = PublishMessage::build()
            .payload(payload.into())
            .message_id(event_id(e));
        acks.push(
            js.send_publish(nats.subject_for(&subject_of(e)), msg)
                .await?
                .into_future(),
        );
        if acks.len() >= 2048 {
            acks.next().await.transpose()?;
        }
    }
    while acks.next().await.transpose()?.is_some() {}
    let raw_pub = t.elapsed();
    let ours = trades(m, base, "NATS-USDT");
    let t = Instant::now();
    for chunk in ours.chunks(batch) {
        publisher.publish_batch(chunk).await?;
    }
    let our_pub = t.elapsed();
    println!("JetStream publish (pipelined acks, 2048 in flight):");
    println!(
        "  raw async-nats                       {}",
        rate(m, raw_pub)
    );
    println!(
        "  JetStreamPublisher::publish_batch    {}",
        rate(m, our_pub)
    );

    // 3. End to end: the 2 x 200 k events now in the stream → pipeline → ClickHouse.
    let e2e =
        ClickHouseStore::connect(ClickHouseConfig::new(&ch).database(format!("{id}_e2e"))).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = PipelineConfig::new(nats.clone()).consumer(
        ConsumerConfig::default()
            .batch_size(10_000)
            .batch_timeout(Duration::from_millis(200)),
    );
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(e2e.clone())];
    let t = Instant::now();
    let task = tokio::spawn(run_storage_pipeline(config, sinks, async {
        let _ = rx.await;
    }));
    let q = EventQuery::new(EventKind::Trade);
    while e2e.count(&q).await? < 2 * m as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = t.elapsed();
    let _ = tx.send(());
    task.await??;
    println!("End to end JetStream -> pipeline -> ClickHouse (batches of 10000):");
    println!(
        "  sustained                            {}",
        rate(2 * m, took)
    );

    store.drop_database().await?;
    e2e.drop_database().await?;
    js.delete_stream(&nats.stream).await?;
    js.delete_stream(&nats.dead_letter_stream).await?;
    Ok(())
}
