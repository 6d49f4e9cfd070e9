//! Hot-path throughput, measured on demand:
//! `cargo test --release -p marketprism-exchanges --lib binance::tests::perf -- --ignored --nocapture`.

use std::time::Instant;

use super::*;
use crate::{RestKind, testing::corpus_lines};

fn rate(label: &str, frames: &[String], n: &mut BinanceNormalizer) -> f64 {
    let mut out = Output::new();
    let start = Instant::now();
    for f in frames {
        out.clear();
        n.on_frame(f, LOCAL, &mut out).expect("frame");
        assert!(!out.events.is_empty());
    }
    let per_sec = frames.len() as f64 / start.elapsed().as_secs_f64();
    eprintln!("{label}: {:.2} M msg/s", per_sec / 1e6);
    per_sec
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn throughput() {
    let mut n = spot();
    let trade = corpus_lines("binance-spot", "trade.jsonl")[2].clone();
    rate("spot trade", &vec![trade; 1_000_000], &mut n);
    let agg = corpus_lines("binance-spot", "aggTrade.jsonl")[0].clone();
    rate("spot aggTrade", &vec![agg; 1_000_000], &mut n);

    let mut n = usdm();
    let diff = |i: u64| {
        let (u0, u1) = (1000 + i * 10 + 1, 1000 + i * 10 + 10);
        let pu = 1000 + i * 10;
        let bp = 29000 + (i % 7);
        let ap = 29010 + (i % 5);
        format!(
            r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":1626992741037,"T":1626992741024,"s":"BTCUSDT","U":{u0},"u":{u1},"pu":{pu},"b":[["{bp}.10","1.250"],["{}.00","0"],["28990.50","3.000"]],"a":[["{ap}.20","0.500"],["{}.00","0"],["29020.70","4.100"]]}}}}"#,
            bp - 3,
            ap + 3
        )
    };
    let mut out = Output::new();
    n.on_frame(&diff(0), LOCAL, &mut out).expect("first diff");
    let snap = r#"{"lastUpdateId":1005,"E":1,"T":1,"bids":[["28999.00","1"],["28998.00","2"]],"asks":[["29011.00","1"],["29012.00","2"]]}"#;
    n.on_rest(
        &RestKind::DepthSnapshot {
            native_symbol: "BTCUSDT".to_owned(),
        },
        snap,
        LOCAL,
        &mut out,
    )
    .expect("snapshot");
    assert!(n.book("BTCUSDT").is_some());
    let frames: Vec<String> = (1..500_000).map(diff).collect();
    rate("usdm depth diff (synced)", &frames, &mut n);
    assert!(n.book("BTCUSDT").is_some(), "stayed in sync");
}

#[test]
#[ignore = "throughput measurement; run in release"]
/// The JSON validation speed of this machine (`IgnoredAny`) against our typed parse, to
/// read the throughput numbers above relative to the hardware.
fn calibrate() {
    let d = r#"{"e":"depthUpdate","E":1626992741037,"T":1626992741024,"s":"BTCUSDT","U":1001,"u":1010,"pu":1000,"b":[["29000.10","1.250"],["28997.00","0"],["28990.50","3.000"]],"a":[["29010.20","0.500"],["29013.00","0"],["29020.70","4.100"]]}"#;
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..1_000_000 {
            let m: serde::de::IgnoredAny =
                serde_json::from_str(std::hint::black_box(d)).expect("json");
            std::hint::black_box(m);
        }
        eprintln!(
            "IgnoredAny parse: {:.2} M/s",
            1.0 / start.elapsed().as_secs_f64()
        );
        let start = Instant::now();
        for _ in 0..1_000_000 {
            let m: crate::binance::wire::book::DepthUpdate<'_> =
                serde_json::from_str(std::hint::black_box(d)).expect("json");
            std::hint::black_box(m);
        }
        eprintln!(
            "DepthUpdate parse: {:.2} M/s",
            1.0 / start.elapsed().as_secs_f64()
        );
    }
}
