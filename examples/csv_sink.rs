//! A custom sink: every event of a stream written to one CSV file per event type
//! (`trade.csv`, `book_delta.csv`, ...), decimals as exact text.
//!
//! Run: `cargo run -p marketprism-examples --example csv_sink [out-dir]`
//! (starts the bundled Binance simulator for a few seconds; drop the `ws_url`/`rest_url`
//! lines to record the real exchange).
#![allow(clippy::print_stdout)]

use std::time::Duration;

use futures::StreamExt;
use marketprism_core::model::EventKind;
use marketprism_examples::csv_sink::{self, CsvSink};
use marketprism_exchanges::{
    Channel, MarketStream, Venue,
    sim::{SimConfig, SimHandle},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "csv-out".into());
    let sim = SimHandle::start(SimConfig::new(Venue::BinanceSpot).symbols(["BTCUSDT"])).await?;
    let stream = MarketStream::builder()
        .subscribe(
            Venue::BinanceSpot,
            [Channel::Trades, Channel::Book],
            ["BTCUSDT"],
        )
        .ws_url(Venue::BinanceSpot, sim.ws_url())
        .rest_url(Venue::BinanceSpot, sim.http_url())
        .start()
        .await?;
    let sink = CsvSink::new(&out)?;
    let trades = csv_sink::run(
        stream.take_until(tokio::time::sleep(Duration::from_secs(5))),
        &sink,
        256,
    )
    .await?;
    println!(
        "{} trades written to {}",
        trades.len(),
        sink.path(EventKind::Trade).display()
    );
    sim.shutdown().await?;
    Ok(())
}
