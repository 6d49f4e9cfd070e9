//! Redis: the hot store. A [`Sink`](marketprism_core::sink::Sink) that keeps the latest state
//! per instrument, and a [`HotStore`](crate::query::HotStore) that reads it.
//!
//! | key | type | content |
//! |---|---|---|
//! | `{prefix}:{kind}:{exchange}:{market}:{symbol}` for BBO, ticker, funding rate, open interest, mark price | hash `ts`, `json` | the event with the greatest `exchange_ts` (an older redelivery never overwrites a newer value: a Lua script compares) |
//! | `{prefix}:trades:{exchange}:{market}:{symbol}` | sorted set by `exchange_ts`, member = trade JSON | the last `trades_cap` trades; a redelivered trade is the same member, so it is stored once |
//! | `{prefix}:book:{exchange}:{market}:{symbol}` | hash `seq`, `json` | top-N book JSON (a `book_snapshot` with `top_n`), maintained from snapshots and deltas and from the collectors' top-N images; written only when its `sequence` is greater than the stored `seq` (a Lua script compares), so several storage services converge to the newest image |
//!
//! Every key has a TTL (default 1 h). Every change is published on
//! `{prefix}:updates:{subject}` (the event's NATS subject) with the JSON as message.
//! Writes of a batch go in one pipeline.

mod query;
mod sink;

use std::time::Duration;

use marketprism_core::model::MarketEvent;
use redis::aio::ConnectionManager;

use crate::{EventKind, Result, StorageError, hot::BookKeeper, query::InstrumentKey};

/// Redis hot-store settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// URL, e.g. `redis://127.0.0.1:6379/0`.
    pub url: String,
    /// Key prefix (default `mp`).
    pub key_prefix: String,
    /// TTL of every key (default 1 h).
    pub ttl: Duration,
    /// Trades kept per instrument (default 1000).
    pub trades_cap: usize,
    /// Levels per side of the stored book (default 20).
    pub book_depth: usize,
    /// Publish updates on `{prefix}:updates:{subject}` (default true).
    pub publish_updates: bool,
}

impl RedisConfig {
    /// Defaults for `url`.
    ///
    /// ```
    /// use marketprism_storage::redis::RedisConfig;
    /// let c = RedisConfig::new("redis://127.0.0.1:6379").key_prefix("t1").trades_cap(50);
    /// assert_eq!((c.key_prefix.as_str(), c.trades_cap), ("t1", 50));
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            key_prefix: "mp".into(),
            ttl: Duration::from_secs(3600),
            trades_cap: 1000,
            book_depth: 20,
            publish_updates: true,
        }
    }
    /// Sets the key prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
    /// Sets the TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Sets the trades kept per instrument.
    pub fn trades_cap(mut self, cap: usize) -> Self {
        self.trades_cap = cap.max(1);
        self
    }
    /// Sets the book depth.
    pub fn book_depth(mut self, depth: usize) -> Self {
        self.book_depth = depth.max(1);
        self
    }
}

/// The Redis hot store. Cheap to clone (one multiplexed, auto-reconnecting connection).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    config: RedisConfig,
    books: std::sync::Arc<BookKeeper>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn redis_err(operation: &str, e: redis::RedisError) -> StorageError {
    let retryable =
        e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal();
    StorageError::backend("redis", operation, retryable, e)
}

impl RedisStore {
    /// Connects.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| redis_err("open", e))?;
        let conn = ConnectionManager::new(client)
            .await
            .map_err(|e| redis_err("connect", e))?;
        Ok(RedisStore {
            conn,
            books: std::sync::Arc::new(BookKeeper::new(config.book_depth)),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The key of `kind` (a hot kind) for `key`.
    pub fn latest_key(&self, kind: EventKind, key: &InstrumentKey) -> String {
        self.key(kind.as_str(), key)
    }

    /// The recent-trades key of `key`.
    pub fn trades_key(&self, key: &InstrumentKey) -> String {
        self.key("trades", key)
    }

    /// The book key of `key`.
    pub fn book_key(&self, key: &InstrumentKey) -> String {
        self.key("book", key)
    }

    /// The update channel of `event`.
    pub fn updates_channel(&self, event: &MarketEvent) -> String {
        format!(
            "{}:updates:{}",
            self.config.key_prefix,
            marketprism_core::subject::subject_of(event)
        )
    }

    fn key(&self, family: &str, key: &InstrumentKey) -> String {
        format!(
            "{}:{family}:{}:{}:{}",
            self.config.key_prefix, key.exchange, key.market, key.symbol
        )
    }
}
