//! A transform: one-minute OHLCV bars from trades, stored in the embedded store as `1m`
//! klines.
//!
//! Run: `cargo run -p marketprism-examples --example ohlcv_bars [seconds] [store.redb]`
//! (starts the bundled Binance simulator; drop the `ws_url`/`rest_url` lines to use the real
//! exchange).
#![allow(clippy::print_stdout)]

use std::time::Duration;

use futures::StreamExt;
use marketprism_examples::bars;
use marketprism_exchanges::{
    Channel, MarketStream, Venue,
    sim::{SimConfig, SimHandle},
};
use marketprism_storage::embedded::EmbeddedStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(70);
    let path = args.next().unwrap_or_else(|| "bars.redb".into());
    let sim = SimHandle::start(SimConfig::new(Venue::BinanceSpot).symbols(["BTCUSDT", "ETHUSDT"]))
        .await?;
    let stream = MarketStream::builder()
        .subscribe(
            Venue::BinanceSpot,
            [Channel::Trades],
            ["BTCUSDT", "ETHUSDT"],
        )
        .ws_url(Venue::BinanceSpot, sim.ws_url())
        .rest_url(Venue::BinanceSpot, sim.http_url())
        .start()
        .await?;
    let store = EmbeddedStore::open(&path)?;
    let run = bars::run(
        stream.take_until(tokio::time::sleep(Duration::from_secs(seconds))),
        &store,
    )
    .await?;
    for b in &run.bars {
        println!(
            "{} {} open {} high {} low {} close {} volume {} trades {}",
            b.symbol, b.open_ts, b.open, b.high, b.low, b.close, b.volume, b.count
        );
    }
    println!(
        "{} trades, {} bars in {path}",
        run.trades.len(),
        run.bars.len()
    );
    sim.shutdown().await?;
    Ok(())
}
