//! A custom pipeline on the in-process bus: a producer publishes normalized events, a consumer
//! subscribed by subject pattern maintains an order book and prints its top of book.
//!
//! Run: `cargo run -p marketprism-examples --example bus_pipeline`
#![allow(clippy::print_stdout)]

use marketprism_core::{book::OrderBook, bus::Bus, model::*};

fn level(p: &str, s: &str) -> Result<Level, rust_decimal::Error> {
    Ok(Level::new(p.parse()?, s.parse()?))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bus = Bus::new();
    let mut books = bus.subscribe("book.binance.spot.>", 64)?;
    let symbol = Symbol::new("BTC-USDT");
    let snapshot = MarketEvent::BookSnapshot(BookSnapshot {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: symbol.clone(),
        sequence: 100,
        bids: vec![level("64000.0", "1.5")?, level("63999.5", "2")?],
        asks: vec![level("64000.5", "0.7")?],
        exchange_ts: now_ns(),
        local_ts: now_ns(),
        top_n: None,
    });
    let delta = MarketEvent::BookDelta(BookDelta {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol,
        prev_sequence: 100,
        sequence: 101,
        bids: vec![level("64000.0", "0")?],
        asks: vec![level("64000.2", "0.3")?],
        exchange_ts: now_ns(),
        local_ts: now_ns(),
    });
    bus.publish(snapshot).await?;
    bus.publish(delta).await?;
    bus.close();

    let mut book = OrderBook::new();
    while let Some(event) = books.recv().await {
        match &*event {
            MarketEvent::BookSnapshot(s) => book.apply_snapshot(s),
            MarketEvent::BookDelta(d) => book.apply_delta(d)?,
            _ => {}
        }
        println!(
            "seq {} best bid {:?} best ask {:?} spread {:?}",
            book.sequence(),
            book.best_bid().map(|l| l.price),
            book.best_ask().map(|l| l.price),
            book.spread()
        );
    }
    Ok(())
}
