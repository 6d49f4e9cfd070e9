//! Record a few seconds of raw frames to a capture file, then replay the capture into the CSV
//! sink of the `csv_sink` example.
//!
//! Run: `cargo run -p marketprism-examples --example record_replay [capture.jsonl] [out-dir]`
//! (starts the bundled Binance simulator; drop the `ws_url`/`rest_url` lines to record the
//! real exchange).
#![allow(clippy::print_stdout)]

use std::{path::PathBuf, time::Duration};

use marketprism_examples::{csv_sink::CsvSink, record_replay};
use marketprism_exchanges::{
    Channel, MarketStream, Venue,
    sim::{SimConfig, SimHandle},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let capture = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "session.capture.jsonl".into()),
    );
    let out = args.next().unwrap_or_else(|| "replay-csv".into());
    let sim = SimHandle::start(SimConfig::new(Venue::BinanceSpot).symbols(["BTCUSDT"])).await?;
    let builder = MarketStream::builder()
        .subscribe(Venue::BinanceSpot, [Channel::Trades], ["BTCUSDT"])
        .ws_url(Venue::BinanceSpot, sim.ws_url())
        .rest_url(Venue::BinanceSpot, sim.http_url());
    let live = record_replay::record(builder, &capture, Duration::from_secs(3)).await?;
    sim.shutdown().await?;
    let sink = CsvSink::new(&out)?;
    let replayed = record_replay::replay_into(&capture, None, &sink, 256).await?;
    println!(
        "live {} trades, replayed {} into {out}; identical: {}",
        live.len(),
        replayed.len(),
        live.iter()
            .map(|t| (&t.trade_id, t.price, t.size))
            .eq(replayed.iter().map(|t| (&t.trade_id, t.price, t.size)))
    );
    Ok(())
}
