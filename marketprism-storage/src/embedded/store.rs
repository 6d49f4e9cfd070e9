//! [`EmbeddedStore`]: sink, history store and hot store over one redb file.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use marketprism_core::{
    model::{BookSnapshot, MarketEvent, Trade},
    sink::{Health, Sink},
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::keys::*;
use crate::{
    EventKind, Result, StorageError,
    hot::{BookKeeper, latest_per_key, replaces},
    query::{
        EventQuery, HistoryStore, HotStore, InstrumentKey, KindStats, Order, RetentionReport,
        check_hot_kind, is_hot_only,
    },
};

/// One entry of a range scan.
type Entry<'a> = std::result::Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

const EVENTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("events");
const LATEST: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("latest");
const BOOKS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("books");

fn db_err(operation: &str, e: impl Into<redb::Error>) -> StorageError {
    let e: redb::Error = e.into();
    let retryable = matches!(e, redb::Error::Io(_));
    StorageError::backend("embedded", operation, retryable, e)
}

/// The embedded store. Cheap to clone; every operation runs on the blocking thread pool.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    books: Arc<BookKeeper>,
    path: Arc<Path>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`; its parent folder is created if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| db_err("create folder", e))?;
        }
        let db = Database::create(path).map_err(|e| db_err("open", e))?;
        let tx = db.begin_write().map_err(|e| db_err("open", e))?;
        for table in [EVENTS, LATEST, BOOKS] {
            tx.open_table(table).map_err(|e| db_err("open", e))?;
        }
        tx.commit().map_err(|e| db_err("open", e))?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            books: Arc::new(BookKeeper::new(20)),
            path: path.into(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StorageError::backend("embedded", "task", false, e))?
    }

    /// Writes `batch` in one durable transaction: every event (keyed by identity), the
    /// newest hot values, the top-N books.
    pub async fn write_events(&self, batch: &[MarketEvent]) -> Result<()> {
        let mut events = Vec::with_capacity(batch.len());
        for e in batch.iter().filter(|e| !is_hot_only(e)) {
            events.push((event_key(e), encode_value(e)?));
        }
        let mut latest = Vec::new();
        for e in latest_per_key(batch) {
            if let Some(key) = InstrumentKey::of(e) {
                latest.push((
                    latest_key(EventKind::of(e), &key),
                    e.exchange_ts(),
                    encode_value(e)?,
                ));
            }
        }
        let mut books = Vec::new();
        for (key, snap) in self.books.apply(batch) {
            let sequence = snap.sequence;
            books.push((
                instrument_id(&key),
                sequence,
                encode_value(&MarketEvent::BookSnapshot(snap))?,
            ));
        }
        self.blocking(move |db| {
            let op = "write";
            let tx = db.begin_write().map_err(|e| db_err(op, e))?;
            {
                let mut t = tx.open_table(EVENTS).map_err(|e| db_err(op, e))?;
                for (k, v) in &events {
                    t.insert(k.as_slice(), v.as_slice())
                        .map_err(|e| db_err(op, e))?;
                }
                let mut t = tx.open_table(LATEST).map_err(|e| db_err(op, e))?;
                for (k, ts, v) in &latest {
                    let newer = match t.get(k.as_slice()).map_err(|e| db_err(op, e))? {
                        Some(cur) => value_ts(cur.value())? <= *ts,
                        None => true,
                    };
                    if newer {
                        t.insert(k.as_slice(), v.as_slice())
                            .map_err(|e| db_err(op, e))?;
                    }
                }
                let mut t = tx.open_table(BOOKS).map_err(|e| db_err(op, e))?;
                for (k, sequence, v) in &books {
                    // Compare-and-set on the sequence, inside the write transaction.
                    let stored = match t.get(k.as_bytes()).map_err(|e| db_err(op, e))? {
                        Some(cur) => match decode_value(cur.value())? {
                            MarketEvent::BookSnapshot(b) => Some(b.sequence),
                            _ => None,
                        },
                        None => None,
                    };
                    if replaces(stored, *sequence) {
                        t.insert(k.as_bytes(), v.as_slice())
                            .map_err(|e| db_err(op, e))?;
                    }
                }
            }
            tx.commit().map_err(|e| db_err(op, e))
        })
        .await
    }

    /// Matching events of `q`, sorted by (ts, identity) in the query's order, at most `limit`
    /// (`usize::MAX` for counting).
    fn scan(db: &Database, q: &EventQuery, limit: usize) -> Result<Vec<MarketEvent>> {
        let op = "query";
        let tx = db.begin_read().map_err(|e| db_err(op, e))?;
        let t = tx.open_table(EVENTS).map_err(|e| db_err(op, e))?;
        // Narrowest key range the filters allow.
        let (start, end, exact) = match (q.exchange, &q.symbol, q.market) {
            (Some(ex), Some(sym), Some(m)) => {
                let p = instrument_prefix(q.kind, &InstrumentKey::new(ex, m, sym.clone()));
                let mut s = p.clone();
                s.extend_from_slice(&ts_bytes(q.from_ns.unwrap_or(i64::MIN)));
                let e = match q.to_ns {
                    Some(to) => {
                        let mut e = p.clone();
                        e.extend_from_slice(&ts_bytes(to));
                        e
                    }
                    None => prefix_end(&p),
                };
                (s, e, true)
            }
            (Some(ex), Some(sym), None) => {
                let p = series_prefix(q.kind, ex.as_str(), sym.as_str());
                (p.clone(), prefix_end(&p), false)
            }
            (Some(ex), None, _) => {
                let mut p = vec![q.kind.tag()];
                p.extend_from_slice(ex.as_str().as_bytes());
                p.push(0);
                (p.clone(), prefix_end(&p), false)
            }
            _ => (vec![q.kind.tag()], vec![q.kind.tag() + 1], false),
        };
        let range = t
            .range(start.as_slice()..end.as_slice())
            .map_err(|e| db_err(op, e))?;
        let mut out = Vec::new();
        let mut push = |entry: Entry<'_>| -> Result<bool> {
            let (_, v) = entry.map_err(|e| db_err(op, e))?;
            let v = v.value();
            if !q.matches_ts(value_ts(v)?) {
                return Ok(true);
            }
            let event = decode_value(v)?;
            if q.matches(&event) {
                out.push(event);
            }
            Ok(!exact || out.len() < limit)
        };
        if exact && q.order == Order::NewestFirst {
            for entry in range.rev() {
                if !push(entry)? {
                    break;
                }
            }
        } else {
            for entry in range {
                if !push(entry)? {
                    break;
                }
            }
        }
        if !exact {
            out.sort_by_key(|e| (e.exchange_ts(), crate::identity::event_id(e)));
            if q.order == Order::NewestFirst {
                out.reverse();
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

#[async_trait]
impl Sink for EmbeddedStore {
    fn name(&self) -> &str {
        "embedded"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), marketprism_core::Error> {
        self.write_events(batch)
            .await
            .map_err(|e| e.into_sink_error("embedded"))
    }
    async fn flush(&self) -> Result<(), marketprism_core::Error> {
        Ok(())
    }
    async fn health(&self) -> Health {
        Health::Healthy
    }
}

#[async_trait]
impl HistoryStore for EmbeddedStore {
    fn name(&self) -> &str {
        "embedded"
    }

    async fn query(&self, q: &EventQuery) -> Result<Vec<MarketEvent>> {
        q.validate()?;
        let q = q.clone();
        self.blocking(move |db| Self::scan(db, &q, q.limit)).await
    }

    async fn count(&self, q: &EventQuery) -> Result<u64> {
        let q = q.clone();
        self.blocking(move |db| Ok(Self::scan(db, &q, usize::MAX)?.len() as u64))
            .await
    }

    async fn stats(&self) -> Result<Vec<KindStats>> {
        self.blocking(|db| {
            let tx = db.begin_read().map_err(|e| db_err("stats", e))?;
            let t = tx.open_table(EVENTS).map_err(|e| db_err("stats", e))?;
            EventKind::ALL
                .into_iter()
                .map(|kind| {
                    let (s, e) = ([kind.tag()], [kind.tag() + 1]);
                    let events = t
                        .range(&s[..]..&e[..])
                        .map_err(|e| db_err("stats", e))?
                        .count() as u64;
                    Ok(KindStats {
                        kind: kind.as_str(),
                        events,
                    })
                })
                .collect()
        })
        .await
    }

    async fn drop_older_than(&self, days: u32) -> Result<RetentionReport> {
        let cutoff = crate::query::day_start_days_ago(
            marketprism_core::model::now_ns(),
            days,
            "retention_days",
        )?;
        self.blocking(move |db| {
            let op = "retention";
            let tx = db.begin_write().map_err(|e| db_err(op, e))?;
            let mut deleted = 0u64;
            {
                let mut t = tx.open_table(EVENTS).map_err(|e| db_err(op, e))?;
                t.retain(|_, v| {
                    let keep = value_ts(v).map_or(true, |ts| ts >= cutoff);
                    deleted += u64::from(!keep);
                    keep
                })
                .map_err(|e| db_err(op, e))?;
            }
            tx.commit().map_err(|e| db_err(op, e))?;
            Ok(RetentionReport {
                partitions_dropped: 0,
                events_deleted: deleted,
            })
        })
        .await
    }

    async fn health(&self) -> Health {
        Health::Healthy
    }
}

#[async_trait]
impl HotStore for EmbeddedStore {
    fn name(&self) -> &str {
        "embedded"
    }

    async fn latest(&self, kind: EventKind, key: &InstrumentKey) -> Result<Option<MarketEvent>> {
        check_hot_kind(kind)?;
        let k = latest_key(kind, key);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(|e| db_err("read", e))?;
            let t = tx.open_table(LATEST).map_err(|e| db_err("read", e))?;
            let v = t.get(k.as_slice()).map_err(|e| db_err("read", e))?;
            v.map(|v| decode_value(v.value())).transpose()
        })
        .await
    }

    async fn recent_trades(&self, key: &InstrumentKey, limit: usize) -> Result<Vec<Trade>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let q = EventQuery::new(EventKind::Trade)
            .exchange(key.exchange)
            .market(key.market)
            .symbol(key.symbol.clone())
            .limit(limit)
            .order(Order::NewestFirst);
        let events = self.blocking(move |db| Self::scan(db, &q, q.limit)).await?;
        Ok(events
            .into_iter()
            .filter_map(|e| match e {
                MarketEvent::Trade(t) => Some(t),
                _ => None,
            })
            .collect())
    }

    async fn book(&self, key: &InstrumentKey) -> Result<Option<BookSnapshot>> {
        let k = instrument_id(key);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(|e| db_err("read", e))?;
            let t = tx.open_table(BOOKS).map_err(|e| db_err("read", e))?;
            match t.get(k.as_bytes()).map_err(|e| db_err("read", e))? {
                None => Ok(None),
                Some(v) => match decode_value(v.value())? {
                    MarketEvent::BookSnapshot(b) => Ok(Some(b)),
                    _ => Ok(None),
                },
            }
        })
        .await
    }

    async fn health(&self) -> Health {
        Health::Healthy
    }
}
