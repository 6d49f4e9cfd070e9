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
//!
//! The two meet in the [`Exchange`] trait, the one extension point for venues: endpoints,
//! subscription frames and limits, keep-alive, connection lifetime, REST weight, instrument,
//! snapshot and polling requests, and a [`Normalizer`] factory. The connection layer holds
//! `Arc<dyn Exchange>` and never looks at which venue it is, so a venue implemented outside
//! this crate gets connections, rotation, resync, the weight budget and capture/replay like
//! the built-ins ([`binance`], [`okx`], [`deribit`]; [`Venue`] names them).
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use marketprism_exchanges::{Channel, Exchange, MarketStream, Venue};
//!
//! # #[tokio::main] async fn main() -> Result<(), marketprism_exchanges::ExchangeError> {
//! let okx: Arc<dyn Exchange> = Venue::Okx.into(); // or Arc::new(MyExchange::new(..))
//! let mut stream = MarketStream::builder()
//!     .subscribe(Venue::BinanceSpot, [Channel::Trades, Channel::Book], ["BTC-USDT"])
//!     .subscribe(okx, [Channel::Trades], ["BTC-USDT-PERP"])
//!     .start()
//!     .await?;
//! while let Some(event) = stream.next().await {
//!     # let _ = event;
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "binance")]
#[cfg_attr(docsrs, doc(cfg(feature = "binance")))]
pub mod binance;
pub mod capture;
mod connection;
pub mod de;
#[cfg(feature = "deribit")]
#[cfg_attr(docsrs, doc(cfg(feature = "deribit")))]
pub mod deribit;
mod error;
mod exchange;
mod instruments;
mod normalizer;
#[cfg(feature = "okx")]
#[cfg_attr(docsrs, doc(cfg(feature = "okx")))]
pub mod okx;
// The venues share these scanners; with only some venues enabled, some go unused.
#[cfg_attr(
    not(all(feature = "binance", feature = "okx", feature = "deribit")),
    allow(dead_code)
)]
mod scan;
mod stream;
pub mod transport;
mod venue;

#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
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
