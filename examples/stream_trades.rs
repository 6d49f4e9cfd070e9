//! Trades and top of book for a few symbols on two exchanges, with every discontinuity
//! (gap, resync, reconnect) reported.
//!
//! Run: `cargo run -p marketprism-examples --example stream_trades`
//! (needs internet; point `ws_url`/`rest_url` at `marketprism sim` to run offline).
#![allow(clippy::print_stdout)]

use std::collections::HashMap;

use futures::StreamExt;
use marketprism_core::{book::OrderBook, model::MarketEvent};
use marketprism_exchanges::{Channel, MarketStream, Venue};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut stream = MarketStream::builder()
        .subscribe(
            Venue::BinanceSpot,
            [Channel::Trades, Channel::Book],
            ["BTC-USDT", "ETH-USDT"],
        )
        .subscribe(Venue::Okx, [Channel::Trades], ["BTC-USDT-PERP"])
        .book_depth(50)
        .start()
        .await?;
    let mut books: HashMap<String, OrderBook> = HashMap::new();
    while let Some(event) = stream.next().await {
        match &event {
            MarketEvent::Trade(t) => println!(
                "{} {} {:?} {} @ {}",
                t.exchange, t.symbol, t.side, t.size, t.price
            ),
            MarketEvent::BookSnapshot(s) => books
                .entry(s.symbol.to_string())
                .or_default()
                .apply_snapshot(s),
            MarketEvent::BookDelta(d) => {
                let book = books.entry(d.symbol.to_string()).or_default();
                if book.apply_delta(d).is_ok() {
                    println!(
                        "{} bid {:?} ask {:?}",
                        d.symbol,
                        book.best_bid().map(|l| l.price),
                        book.best_ask().map(|l| l.price)
                    );
                }
            }
            MarketEvent::Status(s) => println!("STATUS {:?} {:?}", s.symbol, s.kind),
            _ => {}
        }
    }
    Ok(())
}
