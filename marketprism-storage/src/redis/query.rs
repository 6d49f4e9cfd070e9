//! [`HotStore`] over Redis.

use async_trait::async_trait;
use marketprism_core::{
    model::{BookSnapshot, MarketEvent, Trade},
    sink::{Health, Sink},
};

use super::{RedisStore, redis_err};
use crate::{
    EventKind, Result, StorageError,
    query::{HotStore, InstrumentKey, check_hot_kind},
};

fn corrupt(e: serde_json::Error) -> StorageError {
    StorageError::Corrupt {
        what: "redis value",
        message: e.to_string(),
    }
}

#[async_trait]
impl HotStore for RedisStore {
    fn name(&self) -> &str {
        "redis"
    }

    async fn latest(&self, kind: EventKind, key: &InstrumentKey) -> Result<Option<MarketEvent>> {
        check_hot_kind(kind)?;
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.latest_key(kind, key))
            .arg("json")
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("read", e))?;
        json.map(|j| serde_json::from_str(&j).map_err(corrupt))
            .transpose()
    }

    async fn recent_trades(&self, key: &InstrumentKey, limit: usize) -> Result<Vec<Trade>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.trades_key(key))
            .arg(0)
            .arg(limit.saturating_sub(1))
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("read", e))?;
        members
            .iter()
            .map(|m| match serde_json::from_str(m).map_err(corrupt)? {
                MarketEvent::Trade(t) => Ok(t),
                other => Err(StorageError::Corrupt {
                    what: "redis trade",
                    message: format!("a `{}` in the trades set", other.kind()),
                }),
            })
            .collect()
    }

    async fn book(&self, key: &InstrumentKey) -> Result<Option<BookSnapshot>> {
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.book_key(key))
            .arg("json")
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_err("read", e))?;
        match json
            .map(|j| serde_json::from_str(&j).map_err(corrupt))
            .transpose()?
        {
            None => Ok(None),
            Some(MarketEvent::BookSnapshot(b)) => Ok(Some(b)),
            Some(other) => Err(StorageError::Corrupt {
                what: "redis book",
                message: format!("a `{}` under the book key", other.kind()),
            }),
        }
    }

    async fn health(&self) -> Health {
        Sink::health(self).await
    }
}
