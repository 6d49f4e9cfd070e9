//! Runnable custom pipelines built on the MarketPrism crates: the cookbook.
//!
//! Each recipe is an `[[example]]` target of this package whose logic lives in a small public
//! module here, so `tests/` can run it against the local exchange simulator:
//!
//! | example | module | what it shows |
//! |---|---|---|
//! | `csv_sink` | [`csv_sink`] | a custom [`Sink`](marketprism_core::sink::Sink) writing one CSV file per event type, decimals exact |
//! | `ohlcv_bars` | [`bars`] | a transform: one-minute OHLCV bars from trades, written to the embedded store as klines |
//! | `bbo_monitor` | [`bbo_monitor`] | best bid/ask per venue and the cross-venue spread from [`OrderBook`](marketprism_core::book::OrderBook)s |
//! | `record_replay` | [`record_replay`] | record a stream's raw frames to a capture file, then replay it into a sink |
//! | `bus_pipeline` | — | an in-process bus producer and an order-book consumer |
//! | `stream_trades` | — | trades and top of book from two exchanges, with discontinuities |
//!
//! Run one with `cargo run -p marketprism-examples --example csv_sink`. The cookbook examples
//! start the bundled exchange simulator so they run offline; drop the `ws_url`/`rest_url`
//! lines to connect to the real exchanges.

pub mod bars;
pub mod bbo_monitor;
pub mod csv_sink;
pub mod record_replay;

/// The error type of the cookbook functions.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
