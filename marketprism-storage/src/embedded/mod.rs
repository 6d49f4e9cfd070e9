//! The embedded store: one local file that answers both the history and the hot queries, for
//! the no-server default. It persists every write before returning (so the pipeline may ack),
//! and survives restarts.
//!
//! Built on [redb](https://docs.rs/redb): pure Rust (no C toolchain, no `unsafe` in our
//! build), ACID with copy-on-write B-trees and durable commits by default, a single file,
//! actively maintained with a stable file format since 1.0. (sled has been in beta for years;
//! fjall is an LSM with more knobs than a local default needs; SQLite needs C.)
//!
//! Tables (keys are bytes; values are `exchange_ts` as 8 big-endian bytes + the event JSON):
//!
//! | table | key | value |
//! |---|---|---|
//! | `events` | `kind tag, exchange 0 symbol 0 market 0, ts (order-preserving), identity` | every event, deduplicated by identity |
//! | `latest` | `kind tag, exchange 0 market 0 symbol` | the hot kinds' newest event |
//! | `books` | `exchange 0 market 0 symbol` | top-N book (a `book_snapshot`) |
//!
//! ```no_run
//! use marketprism_storage::embedded::EmbeddedStore;
//! # fn run() -> Result<(), marketprism_storage::StorageError> {
//! let store = EmbeddedStore::open("/var/lib/marketprism/store.redb")?;
//! # let _ = store; Ok(()) }
//! ```

mod keys;
mod store;

pub use store::EmbeddedStore;
