//! Decoding a bus event from JSON (`serde_json::from_slice::<MarketEvent>`), as the storage
//! service and the gateway do for every event: a trade, a BBO, a 10-level book delta and a
//! status (whose `kind` is itself tagged).
//!
//! ```text
//! cargo bench -p marketprism-core --bench event_json
//! ```
#![allow(missing_docs, clippy::unwrap_used)]

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use marketprism_core::model::MarketEvent;

const TRADE: &str = r#"{"type":"trade","exchange":"binance","market":"spot","symbol":"BTC-USDT","trade_id":"3468127345","side":"sell","price":"64012.34000000","size":"0.00120000","exchange_ts":1795316340976000000,"local_ts":1795316340977312000}"#;
const BBO: &str = r#"{"type":"bbo","exchange":"okx","market":"perpetual","symbol":"BTC-USDT-PERP","bid_price":"64012.3","bid_size":"1.25","ask_price":"64012.4","ask_size":"0.5","exchange_ts":1795316340976000000,"local_ts":1795316340977312000}"#;
const STATUS: &str = r#"{"type":"status","exchange":"okx","market":"spot","symbol":"BTC-USDT","kind":{"status":"gap","expected":41,"received":44},"exchange_ts":1795316340976000000,"local_ts":1795316340977312000}"#;

fn delta() -> String {
    let side = |base: u32| {
        (0..10)
            .map(|i| format!(r#"{{"price":"{}.{i}0","size":"1.{i}5"}}"#, base + i))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"type":"book_delta","exchange":"binance","market":"spot","symbol":"BTC-USDT","prev_sequence":99,"sequence":109,"bids":[{}],"asks":[{}],"exchange_ts":1795316340976000000,"local_ts":1795316340977312000}}"#,
        side(64000),
        side(64020)
    )
}

fn event_json(c: &mut Criterion) {
    let delta = delta();
    let cases = [
        ("trade", TRADE),
        ("bbo", BBO),
        ("book_delta_10", delta.as_str()),
        ("status", STATUS),
    ];
    let mut group = c.benchmark_group("event_json_decode");
    group.measurement_time(Duration::from_secs(3));
    for (name, json) in cases {
        // Each case must decode, or the bench measures an error path.
        let event: MarketEvent = serde_json::from_str(json).unwrap();
        assert_eq!(event.kind().as_str(), name.trim_end_matches("_10"));
        group.throughput(Throughput::Bytes(json.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| serde_json::from_slice::<MarketEvent>(black_box(json.as_bytes())).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, event_json);
criterion_main!(benches);
