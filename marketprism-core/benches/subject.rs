//! Subject scheme throughput: `SubjectPattern::matches` (literal, `*` and `>` patterns, hits
//! and misses) and `write_subject` into a reused buffer.
//!
//! ```text
//! cargo bench -p marketprism-core --bench subject
//! ```
#![allow(missing_docs, clippy::unwrap_used)]

use std::{hint::black_box, time::Duration};

use compact_str::CompactString;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketprism_core::{
    model::{ExchangeId, MarketEvent, MarketType, Side, Symbol, Trade},
    subject::{SubjectPattern, write_subject},
};
use rust_decimal::Decimal;

const SUBJECTS: [&str; 8] = [
    "trade.binance.spot.BTC-USDT",
    "trade.okx.perpetual.BTC-USDT-PERP",
    "book.binance.perpetual.ETH-USDT-PERP",
    "book.deribit.option.BTC-USD-20261225-60000-C",
    "bbo.okx.spot.SOL-USDT",
    "funding.binance.perpetual.BTC-USDT-PERP",
    "status.okx.spot._all",
    "ticker.deribit.future.BTC-USD-20261225",
];

fn subject(c: &mut Criterion) {
    let mut g = c.benchmark_group("subject");
    g.throughput(Throughput::Elements(SUBJECTS.len() as u64));
    for pattern in [
        "trade.binance.spot.BTC-USDT",
        "trade.*.*.BTC-USDT",
        "book.>",
        "*.okx.>",
    ] {
        let p = SubjectPattern::new(pattern).unwrap();
        g.bench_function(format!("matches/{pattern}"), |b| {
            b.iter(|| SUBJECTS.iter().filter(|s| p.matches(black_box(s))).count());
        });
    }
    let events: Vec<MarketEvent> = SUBJECTS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let symbol = s.rsplit('.').next().unwrap();
            MarketEvent::Trade(Trade {
                exchange: [ExchangeId::BINANCE, ExchangeId::OKX, ExchangeId::DERIBIT][i % 3],
                market: [MarketType::Spot, MarketType::Perpetual, MarketType::Option][i % 3],
                symbol: Symbol::new(symbol),
                trade_id: CompactString::new("1"),
                side: Side::Buy,
                price: Decimal::ONE,
                size: Decimal::ONE,
                exchange_ts: 0,
                local_ts: 0,
            })
        })
        .collect();
    let mut buf = String::with_capacity(64);
    g.bench_function("write_subject", |b| {
        b.iter(|| {
            let mut n = 0;
            for e in &events {
                write_subject(black_box(e), &mut buf);
                n += buf.len();
            }
            n
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000));
    targets = subject
}
criterion_main!(benches);
