//! ClickHouse row encoding: the event → row conversion every insert does (exact decimals
//! scaled to `Decimal(38, 18)` integers, strings, arrays of levels), per event kind.
//!
//! `cargo bench -p marketprism-storage --bench rows`
//!
//! RowBinary serialization itself is the `clickhouse` crate's (not reachable without a
//! server); the storage_throughput example measures it with the inserts, against the raw
//! crate, on the real server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use marketprism_core::model::*;
use marketprism_storage::clickhouse::encode::convert_rows;
use rust_decimal::Decimal;

const N: usize = 10_000;

fn trades() -> Vec<MarketEvent> {
    (0..N)
        .map(|i| {
            MarketEvent::Trade(Trade {
                exchange: ExchangeId::BINANCE,
                market: MarketType::Spot,
                symbol: Symbol::new("BTC-USDT"),
                trade_id: i.to_string().into(),
                side: if i % 3 == 0 { Side::Sell } else { Side::Buy },
                price: Decimal::new(6_400_012 + i as i64 % 977, 2),
                size: Decimal::new(1 + i as i64 % 100_000, 8),
                exchange_ts: 1_795_316_340_976_000_000 + i as i64 * 1_000_000,
                local_ts: 1_795_316_340_977_000_000 + i as i64 * 1_000_000,
            })
        })
        .collect()
}

/// Depth diffs with `levels` changed levels per side, as Binance's 100 ms diffs carry.
fn deltas(levels: usize) -> Vec<MarketEvent> {
    (0..N / 10)
        .map(|i| {
            let side = |base: i64| {
                (0..levels)
                    .map(|k| {
                        Level::new(
                            Decimal::new(base + k as i64, 2),
                            Decimal::new((i * 7 + k) as i64 % 50_000, 5),
                        )
                    })
                    .collect()
            };
            MarketEvent::BookDelta(BookDelta {
                exchange: ExchangeId::BINANCE,
                market: MarketType::Spot,
                symbol: Symbol::new("BTC-USDT"),
                prev_sequence: i as u64,
                sequence: i as u64 + 1,
                bids: side(6_400_000),
                asks: side(6_400_100),
                exchange_ts: 1_795_316_340_976_000_000 + i as i64 * 100_000_000,
                local_ts: 1_795_316_340_977_000_000 + i as i64 * 100_000_000,
            })
        })
        .collect()
}

fn bbos() -> Vec<MarketEvent> {
    (0..N)
        .map(|i| {
            MarketEvent::Bbo(Bbo {
                exchange: ExchangeId::OKX,
                market: MarketType::Perpetual,
                symbol: Symbol::new("BTC-USDT-SWAP"),
                bid_price: Decimal::new(6_400_000 + i as i64 % 100, 1),
                bid_size: Decimal::new(1 + i as i64 % 1000, 3),
                ask_price: Decimal::new(6_400_001 + i as i64 % 100, 1),
                ask_size: Decimal::new(2 + i as i64 % 1000, 3),
                sequence: Some(i as u64),
                exchange_ts: 1_795_316_340_976_000_000 + i as i64 * 1_000_000,
                local_ts: 1_795_316_340_977_000_000 + i as i64 * 1_000_000,
            })
        })
        .collect()
}

fn rows(c: &mut Criterion) {
    let mut group = c.benchmark_group("clickhouse_rows");
    let cases = [
        ("trade", trades()),
        ("bbo", bbos()),
        ("book_delta_10_levels", deltas(10)),
        ("book_delta_100_levels", deltas(100)),
    ];
    for (name, events) in &cases {
        assert_eq!(convert_rows(events).expect("convertible"), events.len());
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), events, |b, events| {
            b.iter(|| convert_rows(events).expect("convertible"));
        });
    }
    group.finish();
}

criterion_group!(benches, rows);
criterion_main!(benches);
