//! # marketprism-exchanges
//!
//! Exchange connectors (Binance, OKX, Deribit).
#![deny(missing_docs)]

pub use marketprism_core::book::OrderBook;
