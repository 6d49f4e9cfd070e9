//! Best bid/ask of `BTC-USDT` on Binance spot and OKX from each venue's order book, and the
//! cross-venue spread.
//!
//! Run: `cargo run -p marketprism-examples --example bbo_monitor [seconds]`
//! (starts a Binance and an OKX simulator; drop the `ws_url`/`rest_url` lines to watch the
//! real exchanges).
#![allow(clippy::print_stdout)]

use std::time::Duration;

use futures::StreamExt;
use marketprism_examples::bbo_monitor;
use marketprism_exchanges::{
    Channel, MarketStream, Venue,
    sim::{SimConfig, SimHandle},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10);
    let binance = SimHandle::start(SimConfig::new(Venue::BinanceSpot).symbols(["BTCUSDT"])).await?;
    let okx = SimHandle::start(SimConfig::new(Venue::Okx).symbols(["BTC-USDT"])).await?;
    let stream = MarketStream::builder()
        .subscribe(Venue::BinanceSpot, [Channel::Book], ["BTC-USDT"])
        .subscribe(Venue::Okx, [Channel::Book], ["BTC-USDT"])
        .ws_url(Venue::BinanceSpot, binance.ws_url())
        .rest_url(Venue::BinanceSpot, binance.http_url())
        .ws_url(Venue::Okx, okx.ws_url())
        .rest_url(Venue::Okx, okx.http_url())
        .book_depth(50)
        .start()
        .await?;
    bbo_monitor::run(
        stream.take_until(tokio::time::sleep(Duration::from_secs(seconds))),
        "BTC-USDT",
        |monitor, q| {
            let cross = monitor
                .cross()
                .map(|c| {
                    format!(
                        "best bid {} ({}) best ask {} ({}) spread {}",
                        c.bid,
                        c.bid_exchange,
                        c.ask,
                        c.ask_exchange,
                        c.spread()
                    )
                })
                .unwrap_or_default();
            println!("{:<8} bid {} ask {} | {cross}", q.exchange, q.bid, q.ask);
        },
    )
    .await;
    binance.shutdown().await?;
    okx.shutdown().await?;
    Ok(())
}
