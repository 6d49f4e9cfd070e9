//! # marketprism-storage
//!
//! Where MarketPrism's events go and how they come back:
//!
//! - [`nats`] (feature `nats`): the JetStream publisher (`Nats-Msg-Id` = event identity,
//!   pipelined acks, bounded in flight, retries, backpressure) and the durable pull consumer;
//! - [`driver`]: the one sink driver (batch → every sink → retry → dead-letter → ack) that
//!   the pipeline, the in-process bus mode and the collector all use;
//! - [`pipeline`] (feature `nats`): JetStream → sinks → ack, at-least-once with no duplicates
//!   stored, dead-lettering of malformed messages;
//! - [`clickhouse`] (feature `clickhouse`): the history store (one `ReplacingMergeTree` table
//!   per event kind, deduplicated reads, retention by partition);
//! - [`redis`] (feature `redis`): the hot store (latest BBO / ticker / funding / open interest /
//!   mark price, top-N book, recent trades, TTLs, pub/sub of updates);
//! - [`embedded`] (feature `embedded`, default): one local, persistent store that answers
//!   both the history and the hot queries, for the no-server setup;
//! - [`query`]: the object-safe [`query::HistoryStore`] and [`query::HotStore`] traits every
//!   store implements, and [`api`]: the data-storage-service HTTP routes on top of them;
//! - [`factory`]: stores chosen by URL scheme (`http://`/`clickhouse://`, `redis://`,
//!   `embedded:///path`).
//!
//! Delivery guarantee: every event has an identity ([`identity`]); the publisher uses it as
//! `Nats-Msg-Id`, every store uses it as its deduplication key, and the consumer acknowledges a
//! message only after every sink has durably written it. So crashes anywhere cause
//! redeliveries, never losses, and redeliveries never become duplicates.
//!
//! Every store is a [`Sink`](marketprism_core::sink::Sink) for writing and a
//! [`query::HistoryStore`] for reading back; the embedded store needs no server:
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use marketprism_core::model::*;
//! use marketprism_storage::{EventKind, embedded::EmbeddedStore, query::{EventQuery, HistoryStore}};
//!
//! let dir = std::env::temp_dir().join(format!("marketprism-doc-{}", std::process::id()));
//! let store = EmbeddedStore::open(dir.join("store.redb"))?;
//! let trade = MarketEvent::Trade(Trade {
//!     exchange: ExchangeId::OKX,
//!     market: MarketType::Spot,
//!     symbol: Symbol::new("BTC-USDT"),
//!     trade_id: "1".into(),
//!     side: Side::Sell,
//!     price: "64000.5".parse()?,
//!     size: "0.1".parse()?,
//!     exchange_ts: 1,
//!     local_ts: 2,
//! });
//! store.write_events(&[trade.clone(), trade]).await?; // the same trade twice: stored once
//! let found = store.query(&EventQuery::new(EventKind::Trade)).await?;
//! assert_eq!(found.len(), 1);
//! # drop(store);
//! # std::fs::remove_dir_all(dir)?;
//! # Ok(()) }
//! # #[cfg(not(feature = "embedded"))]
//! # fn main() {}
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
mod api_checks;
mod api_original;
#[cfg(feature = "clickhouse")]
pub mod clickhouse;
pub mod driver;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
pub mod factory;
#[cfg(any(feature = "redis", feature = "embedded"))]
mod hot;
pub mod identity;
pub mod metrics_names;
mod native;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "nats")]
pub mod pipeline;
pub mod query;
#[cfg(feature = "redis")]
pub mod redis;

pub use error::{BoxError, Result, StorageError};
/// The event types, one table / key space each; defined in core, re-exported for storage users.
pub use marketprism_core::model::EventKind;
