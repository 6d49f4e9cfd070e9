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
#![deny(missing_docs)]

pub mod api;
mod api_checks;
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
