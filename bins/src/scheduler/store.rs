//! Where tasks, run history and firing leases live: an embedded JSON file (default, one
//! scheduler), Redis or NATS JetStream KV (`store_nats.rs`; with either, several schedulers
//! share tasks, history and leases).

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use redis::AsyncCommands;

use super::task::{RunRecord, Task};
use crate::common::Result;

/// Runs kept per store (all tasks together): the oldest by start time go first.
pub const HISTORY_LIMIT: usize = 1000;

/// Task storage + leases. Object-safe.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// `embedded`, `redis` or `nats`.
    fn name(&self) -> &'static str;
    /// Every task.
    async fn list(&self) -> Result<Vec<Task>>;
    /// One task.
    async fn get(&self, id: &str) -> Result<Option<Task>>;
    /// Creates or replaces a task.
    async fn put(&self, task: &Task) -> Result<()>;
    /// Deletes; false when absent.
    async fn delete(&self, id: &str) -> Result<bool>;
    /// Inserts or updates a run (by `run_id`).
    async fn put_run(&self, run: &RunRecord) -> Result<()>;
    /// Newest runs first, optionally of one task.
    async fn runs(&self, task_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>>;
    /// Takes `key` for `ttl` if nobody holds it; true when this caller got it. This is what
    /// makes each firing happen once across scheduler instances.
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<bool>;
}

/// A JSON file, rewritten atomically on change; leases in memory (one process).
pub struct FileStore {
    path: PathBuf,
    state: Mutex<FileState>,
    leases: Mutex<HashMap<String, Instant>>,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct FileState {
    tasks: BTreeMap<String, Task>,
    runs: Vec<RunRecord>,
}

impl FileStore {
    /// Opens (or creates) the file.
    pub fn open(path: PathBuf) -> Result<Self> {
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                FileState::default()
            }
            Err(e) => return Err(e.into()),
        };
        Ok(FileStore {
            path,
            state: Mutex::new(state),
            leases: Mutex::new(HashMap::new()),
        })
    }

    fn with<R>(&self, write: bool, f: impl FnOnce(&mut FileState) -> R) -> Result<R> {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = f(&mut s);
        if write {
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&*s)?)?;
            std::fs::rename(&tmp, &self.path)?;
        }
        Ok(r)
    }
}

#[async_trait]
impl TaskStore for FileStore {
    fn name(&self) -> &'static str {
        "embedded"
    }
    async fn list(&self) -> Result<Vec<Task>> {
        self.with(false, |s| s.tasks.values().cloned().collect())
    }
    async fn get(&self, id: &str) -> Result<Option<Task>> {
        self.with(false, |s| s.tasks.get(id).cloned())
    }
    async fn put(&self, task: &Task) -> Result<()> {
        self.with(true, |s| {
            s.tasks.insert(task.id.clone(), task.clone());
        })
    }
    async fn delete(&self, id: &str) -> Result<bool> {
        self.with(true, |s| s.tasks.remove(id).is_some())
    }
    async fn put_run(&self, run: &RunRecord) -> Result<()> {
        self.with(true, |s| {
            match s.runs.iter_mut().find(|r| r.run_id == run.run_id) {
                Some(r) => *r = run.clone(),
                None => s.runs.push(run.clone()),
            }
            let excess = s.runs.len().saturating_sub(HISTORY_LIMIT);
            s.runs.drain(..excess);
        })
    }
    async fn runs(&self, task_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        self.with(false, |s| {
            s.runs
                .iter()
                .rev()
                .filter(|r| task_id.is_none_or(|t| r.task_id == t))
                .take(limit)
                .cloned()
                .collect()
        })
    }
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<bool> {
        let mut l = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        l.retain(|_, until| *until > now);
        if l.contains_key(key) {
            return Ok(false);
        }
        l.insert(key.to_owned(), now + ttl);
        Ok(true)
    }
}

/// Redis: hash `<prefix>:tasks`, hash `<prefix>:runs` + sorted set `<prefix>:runs_by_time`,
/// leases `<prefix>:lease:<key>` taken with `SET NX PX`.
pub struct RedisStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisStore {
    /// Connects.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(RedisStore {
            conn,
            prefix: prefix.to_owned(),
        })
    }
    fn key(&self, k: &str) -> String {
        format!("{}:{k}", self.prefix)
    }
}

#[async_trait]
impl TaskStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn list(&self) -> Result<Vec<Task>> {
        let mut c = self.conn.clone();
        let all: HashMap<String, String> = c.hgetall(self.key("tasks")).await?;
        let mut v: Vec<Task> = all
            .values()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }
    async fn get(&self, id: &str) -> Result<Option<Task>> {
        let mut c = self.conn.clone();
        let j: Option<String> = c.hget(self.key("tasks"), id).await?;
        Ok(j.and_then(|j| serde_json::from_str(&j).ok()))
    }
    async fn put(&self, task: &Task) -> Result<()> {
        let mut c = self.conn.clone();
        let () = c
            .hset(self.key("tasks"), &task.id, serde_json::to_string(task)?)
            .await?;
        Ok(())
    }
    async fn delete(&self, id: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        let n: i64 = c.hdel(self.key("tasks"), id).await?;
        Ok(n > 0)
    }
    async fn put_run(&self, run: &RunRecord) -> Result<()> {
        let mut c = self.conn.clone();
        let (runs, by_time) = (self.key("runs"), self.key("runs_by_time"));
        let () = redis::pipe()
            .hset(&runs, &run.run_id, serde_json::to_string(run)?)
            .ignore()
            .zadd(&by_time, &run.run_id, run.started_at_ms)
            .ignore()
            .query_async(&mut c)
            .await?;
        let count: usize = c.zcard(&by_time).await?;
        if count > HISTORY_LIMIT {
            let old: Vec<String> = c
                .zrange(&by_time, 0, (count - HISTORY_LIMIT - 1) as isize)
                .await?;
            if !old.is_empty() {
                let () = redis::pipe()
                    .zrem(&by_time, &old)
                    .ignore()
                    .hdel(&runs, &old)
                    .ignore()
                    .query_async(&mut c)
                    .await?;
            }
        }
        Ok(())
    }
    async fn runs(&self, task_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        let mut c = self.conn.clone();
        let ids: Vec<String> = c.zrevrange(self.key("runs_by_time"), 0, -1).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let jsons: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("runs"))
            .arg(&ids)
            .query_async(&mut c)
            .await?;
        Ok(jsons
            .into_iter()
            .flatten()
            .filter_map(|j| serde_json::from_str::<RunRecord>(&j).ok())
            .filter(|r| task_id.is_none_or(|t| r.task_id == t))
            .take(limit)
            .collect())
    }
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<bool> {
        let mut c = self.conn.clone();
        let got: Option<String> = redis::cmd("SET")
            .arg(self.key(&format!("lease:{key}")))
            .arg(std::process::id())
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut c)
            .await?;
        Ok(got.is_some())
    }
}
