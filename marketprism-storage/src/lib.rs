//! # marketprism-storage
//!
//! Sinks for normalized market events: ClickHouse (history), Redis (hot state), NATS JetStream
//! (publish and durable consume) and an embedded store. Under construction: the storage
//! pipeline is tracked by its own issue; this crate currently only re-exports the
//! [`Sink`](marketprism_core::sink::Sink) trait every implementation will satisfy.
#![deny(missing_docs)]

pub use marketprism_core::sink::{Health, Sink};
