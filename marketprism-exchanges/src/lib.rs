//! # marketprism-exchanges
//!
//! Binance, OKX and Deribit market-data connectors: normalized, exact, integrity-checked.
//!
//! The crate is split in two halves:
//!
//! - **normalizers** ([`Normalizer`]): pure, per-venue state machines that turn raw frames
//!   and REST bodies into [`MarketEvent`](marketprism_core::model::MarketEvent)s while enforcing
//!   each exchange's order-book sequencing rules (any gap → resync of that one instrument,
//!   with a status event);
//! - **connections**: WebSocket/REST transport that feeds the normalizers and carries out
//!   their [`Action`]s (fetch snapshot, resubscribe, rotate).
#![deny(missing_docs)]

pub mod binance;
pub mod capture;
mod connection;
pub mod de;
pub mod deribit;
mod error;
mod exchange;
mod instruments;
mod normalizer;
pub mod okx;
mod scan;
mod stream;
pub mod transport;
mod venue;

#[cfg(feature = "sim")]
pub mod sim;

#[cfg(test)]
pub(crate) mod testing;

pub use error::ExchangeError;
pub use exchange::{
    Exchange, Keepalive, RestRequest, Source, Subscription, builtin_exchanges, find_exchange,
};
pub use instruments::InstrumentMap;
pub use marketprism_core::book::OrderBook;
pub use normalizer::{Action, FrameKind, Normalizer, Output, RestKind};
pub use stream::{MarketStream, MarketStreamBuilder, fetch_instruments};
pub use venue::{Channel, Venue};
