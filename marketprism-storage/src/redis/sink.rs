//! The Redis [`Sink`]: one pipeline per batch.

use async_trait::async_trait;
use marketprism_core::{
    model::MarketEvent,
    sink::{Health, Sink},
};

use super::{RedisStore, redis_err};
use crate::{EventKind, Result, hot::latest_per_key, query::InstrumentKey};

/// Sets the hash `KEYS[1]` to (`ARGV[1]` ts, `ARGV[2]` json) unless it holds a newer ts
/// (non-negative integers compared as decimal strings: Lua numbers are doubles), sets the TTL
/// `ARGV[3]`, publishes `ARGV[2]` on `ARGV[4]` when not empty. Returns 1 when written.
const SET_IF_NEWER: &str = r"
local cur = redis.call('HGET', KEYS[1], 'ts')
local new = ARGV[1]
if cur and (#cur > #new or (#cur == #new and cur > new)) then return 0 end
redis.call('HSET', KEYS[1], 'ts', new, 'json', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[2]) end
return 1
";

/// The book's compare-and-set: sets the hash `KEYS[1]` to (`ARGV[1]` sequence, `ARGV[2]`
/// json) only when it holds no image or an older sequence (compared as decimal strings, as
/// in [`SET_IF_NEWER`]; equal is not newer), then the TTL `ARGV[3]` and a publish on `ARGV[4]`
/// when not empty. A book key of an older release (a string) is replaced. Returns 1 when
/// written. One script, so two storage services writing the same book cannot interleave.
const BOOK_SET_IF_NEWER: &str = r"
if redis.call('TYPE', KEYS[1]).ok == 'string' then redis.call('DEL', KEYS[1]) end
local cur = redis.call('HGET', KEYS[1], 'seq')
local new = ARGV[1]
if cur and (#cur > #new or (#cur == #new and cur >= new)) then return 0 end
redis.call('HSET', KEYS[1], 'seq', new, 'json', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[2]) end
return 1
";

impl RedisStore {
    /// Writes the hot state of `batch` in one pipeline.
    pub async fn write_events(&self, batch: &[MarketEvent]) -> Result<()> {
        let ttl = self.config.ttl.as_secs().max(1);
        let cap = self.config.trades_cap as isize;
        let mut pipe = redis::pipe();
        let channel = |e: &MarketEvent| {
            if self.config.publish_updates {
                self.updates_channel(e)
            } else {
                String::new()
            }
        };
        for event in latest_per_key(batch) {
            let Some(key) = InstrumentKey::of(event) else {
                continue;
            };
            let json = serde_json::to_string(event)?;
            pipe.cmd("EVAL")
                .arg(SET_IF_NEWER)
                .arg(1)
                .arg(self.latest_key(EventKind::of(event), &key))
                .arg(event.exchange_ts().max(0).to_string())
                .arg(json)
                .arg(ttl)
                .arg(channel(event))
                .ignore();
        }
        for event in batch {
            let MarketEvent::Trade(trade) = event else {
                continue;
            };
            let Some(key) = InstrumentKey::of(event) else {
                continue;
            };
            let tkey = self.trades_key(&key);
            let json = serde_json::to_string(event)?;
            pipe.cmd("ZADD")
                .arg(&tkey)
                .arg(trade.exchange_ts as f64)
                .arg(&json)
                .ignore();
            pipe.cmd("ZREMRANGEBYRANK")
                .arg(&tkey)
                .arg(0)
                .arg(-(cap + 1))
                .ignore();
            pipe.cmd("EXPIRE").arg(&tkey).arg(ttl).ignore();
            if self.config.publish_updates {
                pipe.cmd("PUBLISH")
                    .arg(self.updates_channel(event))
                    .arg(&json)
                    .ignore();
            }
        }
        for (key, snapshot) in self.books.apply(batch) {
            let sequence = snapshot.sequence.to_string();
            let event = MarketEvent::BookSnapshot(snapshot);
            let json = serde_json::to_string(&event)?;
            pipe.cmd("EVAL")
                .arg(BOOK_SET_IF_NEWER)
                .arg(1)
                .arg(self.book_key(&key))
                .arg(sequence)
                .arg(json)
                .arg(ttl)
                .arg(channel(&event))
                .ignore();
        }
        if pipe.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_err("write", e))
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| redis_err("ping", e))
    }
}

#[async_trait]
impl Sink for RedisStore {
    fn name(&self) -> &str {
        "redis"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), marketprism_core::Error> {
        self.write_events(batch)
            .await
            .map_err(|e| e.into_sink_error("redis"))
    }
    async fn flush(&self) -> Result<(), marketprism_core::Error> {
        Ok(())
    }
    async fn health(&self) -> Health {
        match self.ping().await {
            Ok(()) => Health::Healthy,
            Err(e) => Health::Unhealthy {
                reason: e.to_string(),
            },
        }
    }
}
