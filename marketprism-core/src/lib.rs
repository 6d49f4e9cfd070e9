//! # marketprism-core
//!
//! The foundation every MarketPrism crate builds on:
//!
//! - [`model`]: the normalized, exact (decimal) data model — [`model::MarketEvent`] and its
//!   event types, [`model::Instrument`], the open exchange identity [`model::ExchangeId`],
//!   [`model::EventKind`], market types, nanosecond timestamps;
//! - [`subject`]: the NATS subject scheme `{type}.{exchange}.{market}.{symbol}` and pattern
//!   matching with NATS semantics;
//! - [`book`]: the maintained [`book::OrderBook`];
//! - [`config`]: layered configuration (defaults < file < environment < flags);
//! - [`sink`] and [`bus`]: the object-safe [`sink::Sink`] trait and a bounded in-process bus;
//! - [`runtime`]: the HTTP service runtime (`/health`, `/metrics`, graceful shutdown).
//!
//! ```
//! use marketprism_core::model::*;
//! use marketprism_core::subject::subject_of;
//! let trade = MarketEvent::Trade(Trade {
//!     exchange: ExchangeId::BINANCE,
//!     market: MarketType::Spot,
//!     symbol: Symbol::new("BTC-USDT"),
//!     trade_id: "42".into(),
//!     side: Side::Buy,
//!     price: "64000.10".parse()?,
//!     size: "0.5".parse()?,
//!     exchange_ts: 1,
//!     local_ts: 2,
//! });
//! assert_eq!(subject_of(&trade), "trade.binance.spot.BTC-USDT");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod balance;
pub mod book;
#[cfg(feature = "bus")]
#[cfg_attr(docsrs, doc(cfg(feature = "bus")))]
pub mod bus;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
pub mod error;
pub mod framing;
pub mod model;
pub mod redact;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod runtime;
pub mod sink;
pub mod subject;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use error::{Error, Result};
pub use rust_decimal::Decimal;
