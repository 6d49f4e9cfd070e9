//! The baselines of the pipeline benchmark, measured with the raw client crates in the same
//! run: JetStream publishing with pipelined acks, and `clickhouse` crate inserts of prebuilt
//! rows.

use std::{future::IntoFuture, time::Instant};

use async_nats::jetstream::{self, stream};
use futures::{StreamExt, stream::FuturesUnordered};

/// A trade event as the collector publishes it (same size and shape).
fn payload(i: usize) -> Vec<u8> {
    format!(
        r#"{{"type":"trade","exchange":"binance","market":"spot","symbol":"S{:03}-USDT","trade_id":"{i}","side":"buy","price":"64123.45","size":"0.0123","exchange_ts":1795316340976000000,"local_ts":1795316340977123456}}"#,
        i % 20
    )
    .into_bytes()
}

/// Raw JetStream publish rate (msg/s): `n` messages with distinct `Nats-Msg-Id`s, 2048 acks
/// in flight (as our publisher), into a fresh stream deleted afterwards.
pub(crate) async fn jetstream_publish(url: &str, n: usize) -> f64 {
    let client = async_nats::connect(url).await.expect("nats");
    let js = jetstream::new(client);
    let name = format!("RAWBENCH_{:X}", rand::random::<u32>());
    let subject = name.to_lowercase();
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("{subject}.>")],
        ..Default::default()
    })
    .await
    .expect("stream");
    let started = Instant::now();
    let mut acks = FuturesUnordered::new();
    for i in 0..n {
        let msg = jetstream::message::PublishMessage::build()
            .payload(payload(i).into())
            .message_id(i.to_string());
        acks.push(
            js.send_publish(format!("{subject}.trade"), msg)
                .await
                .expect("publish")
                .into_future(),
        );
        if acks.len() >= 2048 {
            acks.next().await.expect("ack").expect("ack ok");
        }
    }
    while let Some(ack) = acks.next().await {
        ack.expect("ack ok");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = js.delete_stream(&name).await;
    rate
}

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

/// Raw `clickhouse` crate insert rate (rows/s): `n` prebuilt trade rows in batches of 10 000
/// into a table of our trade schema, in a fresh database dropped afterwards.
pub(crate) async fn clickhouse_insert(url: &str, n: usize) -> f64 {
    let db = format!("mpt_rawbench_{:x}", rand::random::<u32>());
    let admin = clickhouse::Client::default().with_url(url);
    admin
        .query(&format!("CREATE DATABASE `{db}`"))
        .execute()
        .await
        .expect("create database");
    admin
        .query(&format!(
            "CREATE TABLE `{db}`.trade (exchange String, market String, symbol String, \
             trade_id String, side Enum8('buy' = 1, 'sell' = 2), price Decimal(38, 18), \
             size Decimal(38, 18), exchange_ts Int64, local_ts Int64) \
             ENGINE = ReplacingMergeTree() \
             PARTITION BY toYYYYMMDD(toDateTime(intDiv(exchange_ts, 1000000000))) \
             ORDER BY (exchange, market, symbol, exchange_ts, trade_id)"
        ))
        .execute()
        .await
        .expect("create table");
    let base = marketprism_core::model::now_ns();
    let rows: Vec<RawTrade> = (0..n)
        .map(|i| RawTrade {
            exchange: "binance".into(),
            market: "spot".into(),
            symbol: format!("S{:03}-USDT", i % 20),
            trade_id: i.to_string(),
            side: 1,
            price: 64_123_450_000_000_000_000_000 + i as i128,
            size: 12_300_000_000_000_000,
            exchange_ts: base + i as i64 * 1000,
            local_ts: base,
        })
        .collect();
    let client = clickhouse::Client::default()
        .with_url(url)
        .with_database(&db)
        .with_validation(false)
        .with_compression(clickhouse::Compression::None);
    let started = Instant::now();
    for chunk in rows.chunks(10_000) {
        let mut insert = client.insert::<RawTrade>("trade").await.expect("insert");
        for r in chunk {
            insert.write(r).await.expect("write");
        }
        insert.end().await.expect("end");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = admin
        .query(&format!("DROP DATABASE IF EXISTS `{db}`"))
        .execute()
        .await;
    rate
}
