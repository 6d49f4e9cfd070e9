//! Throughput checks, run in release: `cargo test --release -p marketprism-exchanges --lib
//! deribit::tests::perf -- --ignored --nocapture`.

use std::time::Instant;

use super::{LOCAL_TS, normalizer};
use crate::{FrameKind, Normalizer, Output};

fn book_frames(n: usize) -> Vec<String> {
    let mut frames = Vec::with_capacity(n + 1);
    let bids: Vec<String> = (0..50)
        .map(|i| format!(r#"["new",{}.5,{}.0]"#, 30_000 - i, 100 + i))
        .collect();
    let asks: Vec<String> = (0..50)
        .map(|i| format!(r#"["new",{}.0,{}.0]"#, 30_001 + i, 200 + i))
        .collect();
    frames.push(format!(
        r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"book.BTC-PERPETUAL.100ms","data":{{"type":"snapshot","timestamp":1654161785818,"instrument_name":"BTC-PERPETUAL","change_id":1000,"bids":[{}],"asks":[{}]}}}}}}"#,
        bids.join(","),
        asks.join(",")
    ));
    for k in 0..n {
        let id = 1001 + k as u64;
        let b = 30_000 - (k % 40) as i64;
        let a = 30_001 + (k % 40) as i64;
        frames.push(format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"book.BTC-PERPETUAL.100ms","data":{{"type":"change","timestamp":1654161785818,"prev_change_id":{},"instrument_name":"BTC-PERPETUAL","change_id":{id},"bids":[["change",{b}.5,{}.0],["new",{}.0,10.0]],"asks":[["change",{a}.0,{}.0]]}}}}}}"#,
            id - 1,
            300 + k % 7,
            b - 60,
            400 + k % 5,
        ));
    }
    frames
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn book_throughput() {
    let frames = book_frames(300_000);
    let mut n = normalizer();
    let mut out = Output::new();
    let start = Instant::now();
    for f in &frames {
        let kind = n.on_frame(f, LOCAL_TS, &mut out).expect("frame");
        debug_assert_eq!(kind, FrameKind::Data);
        out.clear();
    }
    let rate = frames.len() as f64 / start.elapsed().as_secs_f64();
    eprintln!("deribit book: {rate:.0} msg/s");
    assert!(n.book("BTC-PERPETUAL").is_some());
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn trade_throughput() {
    let frames: Vec<String> = (0..300_000u64)
        .map(|k| format!(
            r#"{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"trades.BTC-PERPETUAL.100ms","data":[{{"timestamp":1765531356452,"price":92294.5,"amount":{}.0,"direction":"sell","index_price":92276.75,"instrument_name":"BTC-PERPETUAL","trade_seq":{k},"mark_price":92287.11,"tick_direction":2,"contracts":1.0,"trade_id":"{}"}}]}}}}"#,
            10 + k % 50,
            403_691_824 + k
        ))
        .collect();
    let mut n = normalizer();
    let mut out = Output::new();
    let start = Instant::now();
    for f in &frames {
        n.on_frame(f, LOCAL_TS, &mut out).expect("frame");
        out.clear();
    }
    let rate = frames.len() as f64 / start.elapsed().as_secs_f64();
    eprintln!("deribit trades: {rate:.0} msg/s");
}

#[test]
#[ignore = "throughput measurement; run in release"]
fn book_parse_breakdown() {
    let frames = book_frames(300_000);
    let rate = |start: Instant| frames.len() as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    for f in &frames {
        let _: serde::de::IgnoredAny = serde_json::from_str(f).expect("json");
    }
    eprintln!("json skim only: {:.0} msg/s", rate(start));
    let start = Instant::now();
    for f in &frames {
        let _: crate::deribit::wire::Frame<'_> = serde_json::from_str(f).expect("frame");
    }
    eprintln!("wire parse: {:.0} msg/s", rate(start));
    let mut n = normalizer();
    let mut out = Output::new();
    let start = Instant::now();
    for f in &frames {
        n.on_frame(f, LOCAL_TS, &mut out).expect("frame");
        out.clear();
    }
    eprintln!("full on_frame: {:.0} msg/s", rate(start));
}
