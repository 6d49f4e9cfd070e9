//! The NATS JetStream key-value store: several schedulers share tasks, history and leases
//! through a NATS server they already use, without Redis.
//!
//! Three buckets named after `store.prefix` (characters a bucket name cannot hold become `_`,
//! so `mp:scheduler` gives `mp_scheduler_tasks`, `mp_scheduler_runs`, `mp_scheduler_leases`):
//!
//! - tasks: key = task id, value = the task's JSON;
//! - runs: key = `<task id>.<started_at_ms>.<run id>`, value = the run's JSON. The start time
//!   and task are in the key so listing, ordering and trimming read the subjects only, and
//!   fetch the values of the runs actually returned;
//! - leases: one key per firing, created only when absent (the publish expects the key's last
//!   sequence to be 0) and removed by the server after the lease TTL (per-message TTL, NATS
//!   2.11+; older servers: the bucket's `max_age`, set to the configured lease TTL).
//!
//! Key parts are escaped so that any string is a valid key: bytes outside `[A-Za-z0-9_-]`
//! become `=XX` (hex). Valid task ids are therefore their own keys.

use std::time::Duration;

use async_nats::{
    HeaderMap, HeaderValue,
    header::{NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_TTL},
    jetstream::{
        self,
        context::{CreateKeyValueErrorKind, PublishErrorKind},
        kv::{self, Operation},
    },
};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};

use super::{
    store::{HISTORY_LIMIT, TaskStore},
    task::{RunRecord, Task},
};
use crate::common::Result;

/// Runs stored beyond [`HISTORY_LIMIT`] before the oldest are removed: trimming lists every
/// run, so it happens once per this many new runs rather than on each one. Listings never show
/// more than [`HISTORY_LIMIT`] either way.
const TRIM_SLACK: usize = 50;

/// Values fetched at once when listing.
const FETCH_CONCURRENCY: usize = 16;

/// How long the server keeps the marker it leaves when a lease expires. Only needed because
/// per-message TTLs come with markers; a short one keeps the bucket small.
const MARKER_TTL: Duration = Duration::from_secs(1);

/// NATS JetStream KV: buckets `<prefix>_tasks`, `<prefix>_runs`, `<prefix>_leases` (see the
/// module docs for the keys).
pub struct NatsKvStore {
    js: jetstream::Context,
    tasks: kv::Store,
    runs: kv::Store,
    leases: kv::Store,
    /// The leases bucket allows per-message TTLs (else leases last the bucket's `max_age`).
    lease_ttl_per_key: bool,
}

impl NatsKvStore {
    /// Connects to `url` and opens (creating when missing) the buckets for `prefix`.
    /// `lease_ttl` is the bucket-wide lease lifetime used only on servers without per-message
    /// TTLs (before 2.11).
    pub async fn connect(url: &str, prefix: &str, lease_ttl: Duration) -> Result<Self> {
        Self::open(
            crate::common::connect_nats(url, "scheduler-service").await?,
            prefix,
            lease_ttl,
        )
        .await
    }

    /// Opens (creating when missing) the buckets for `prefix` over an existing connection.
    pub async fn open(
        client: async_nats::Client,
        prefix: &str,
        lease_ttl: Duration,
    ) -> Result<Self> {
        Self::open_replicated(client, prefix, lease_ttl, 1).await
    }

    /// [`NatsKvStore::open`], creating missing buckets with `replicas` copies on a JetStream
    /// cluster (`nats.replicas`; existing buckets keep theirs).
    pub async fn open_replicated(
        client: async_nats::Client,
        prefix: &str,
        lease_ttl: Duration,
        replicas: usize,
    ) -> Result<Self> {
        let js = jetstream::new(client);
        let [tasks, runs, leases] = Self::bucket_names(prefix);
        let plain = |bucket: String, description: &str| kv::Config {
            bucket,
            description: description.to_owned(),
            history: 1,
            num_replicas: replicas.clamp(1, 5),
            ..Default::default()
        };
        let tasks = open_bucket(&js, plain(tasks, "MarketPrism scheduler tasks")).await?;
        let runs = open_bucket(&js, plain(runs, "MarketPrism scheduler run history")).await?;
        let lease_config = kv::Config {
            limit_markers: Some(MARKER_TTL),
            ..plain(leases.clone(), "MarketPrism scheduler firing leases")
        };
        let leases = match js.create_key_value(lease_config.clone()).await {
            Ok(store) => store,
            Err(e) if e.kind() == CreateKeyValueErrorKind::LimitMarkersNotSupported => {
                tracing::warn!(
                    "NATS server without per-message TTL: scheduler leases last the bucket max_age"
                );
                let config = kv::Config {
                    limit_markers: None,
                    max_age: lease_ttl,
                    ..lease_config
                };
                open_bucket(&js, config).await?
            }
            // Created by another scheduler with other settings: use it as it is.
            Err(e) => js
                .get_key_value(leases)
                .await
                .map_err(|g| format!("leases bucket: {e}; {g}"))?,
        };
        let lease_ttl_per_key = leases.stream.cached_info().config.allow_message_ttl;
        if !lease_ttl_per_key && leases.stream.cached_info().config.max_age.is_zero() {
            tracing::warn!(
                bucket = %leases.name,
                "leases bucket has neither per-message TTL nor max_age: leases never expire"
            );
        }
        Ok(NatsKvStore {
            js,
            tasks,
            runs,
            leases,
            lease_ttl_per_key,
        })
    }

    /// The bucket names for `prefix`: tasks, runs, leases.
    pub fn bucket_names(prefix: &str) -> [String; 3] {
        let base: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        ["tasks", "runs", "leases"].map(|s| format!("{base}_{s}"))
    }

    /// Deletes the three buckets with everything in them.
    pub async fn delete_buckets(&self) -> Result<()> {
        for store in [&self.tasks, &self.runs, &self.leases] {
            self.js.delete_key_value(&store.name).await?;
        }
        Ok(())
    }

    /// Every run key, newest first; equal start times by run id, descending (the order of the
    /// Redis store's `ZREVRANGE`).
    async fn run_keys(&self) -> Result<Vec<RunKey>> {
        let mut keys = Vec::new();
        let mut subjects = self
            .runs
            .stream
            .info_with_subjects(format!("{}>", self.runs.prefix))
            .await?;
        while let Some((subject, _)) = subjects.try_next().await? {
            if let Some(k) = subject
                .strip_prefix(self.runs.prefix.as_str())
                .and_then(RunKey::parse)
            {
                keys.push(k);
            }
        }
        keys.sort_unstable_by(|a, b| (b.started, &b.run_id).cmp(&(a.started, &a.run_id)));
        Ok(keys)
    }

    /// Removes every key of `store` matching `key` (a key or a pattern); how many messages went.
    /// A stream purge leaves no delete marker, so the bucket's subjects stay exactly its keys.
    async fn purge(store: &kv::Store, key: &str) -> Result<u64> {
        let r = store
            .stream
            .purge()
            .filter(format!("{}{key}", store.prefix))
            .await?;
        Ok(r.purged)
    }

    /// Publishes a lease expecting `last` as the key's last sequence (0: no message).
    async fn publish_lease(
        &self,
        key: &str,
        last: u64,
        ttl: Duration,
    ) -> std::result::Result<(), jetstream::context::PublishError> {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, HeaderValue::from(last));
        if self.lease_ttl_per_key {
            // Whole seconds, rounded up: the header's unit, and never shorter than asked.
            let secs = (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).max(1);
            headers.insert(NATS_MESSAGE_TTL, HeaderValue::from(secs));
        }
        let prefix = self
            .leases
            .put_prefix
            .as_ref()
            .unwrap_or(&self.leases.prefix);
        self.js
            .publish_with_headers(
                format!("{prefix}{key}"),
                headers,
                std::process::id().to_string().into(),
            )
            .await?
            .await
            .map(drop)
    }
}

/// Creates the bucket, or opens it when it exists with other settings (created by another
/// scheduler version): all instances must share it either way.
async fn open_bucket(js: &jetstream::Context, config: kv::Config) -> Result<kv::Store> {
    let bucket = config.bucket.clone();
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(e) => Ok(js
            .get_key_value(&bucket)
            .await
            .map_err(|g| format!("bucket {bucket}: {e}; {g}"))?),
    }
}

/// A run's key, parsed.
struct RunKey {
    key: String,
    task: String,
    started: i64,
    run_id: String,
}

impl RunKey {
    fn of(run: &RunRecord) -> String {
        format!(
            "{}.{}.{}",
            key_part(&run.task_id),
            run.started_at_ms,
            key_part(&run.run_id)
        )
    }

    fn parse(key: &str) -> Option<RunKey> {
        let mut parts = key.split('.');
        let (task, started, run) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(RunKey {
            key: key.to_owned(),
            task: unkey_part(task)?,
            started: started.parse().ok()?,
            run_id: unkey_part(run)?,
        })
    }
}

/// Escapes `s` into one key token: `[A-Za-z0-9_-]` as is, any other byte as `=XX`; the empty
/// string as `=` (a key token cannot be empty).
fn key_part(s: &str) -> String {
    if s.is_empty() {
        return "=".into();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

/// Reverses [`key_part`]; `None` for what it cannot have produced.
fn unkey_part(s: &str) -> Option<String> {
    if s == "=" {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'=' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

#[async_trait]
impl TaskStore for NatsKvStore {
    fn name(&self) -> &'static str {
        "nats"
    }
    async fn list(&self) -> Result<Vec<Task>> {
        let mut keys = Vec::new();
        let mut subjects = self
            .tasks
            .stream
            .info_with_subjects(format!("{}>", self.tasks.prefix))
            .await?;
        while let Some((subject, _)) = subjects.try_next().await? {
            if let Some(k) = subject.strip_prefix(self.tasks.prefix.as_str()) {
                keys.push(k.to_owned());
            }
        }
        let mut fetches = futures::stream::iter(keys)
            .map(|k| self.tasks.get(k))
            .buffer_unordered(FETCH_CONCURRENCY);
        let mut v = Vec::new();
        while let Some(value) = fetches.next().await {
            // Unreadable values are skipped, as the Redis store does.
            if let Some(t) = value?.and_then(|b| serde_json::from_slice::<Task>(&b).ok()) {
                v.push(t);
            }
        }
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }
    async fn get(&self, id: &str) -> Result<Option<Task>> {
        let value = self.tasks.get(key_part(id)).await?;
        Ok(value.and_then(|b| serde_json::from_slice(&b).ok()))
    }
    async fn put(&self, task: &Task) -> Result<()> {
        self.tasks
            .put(key_part(&task.id), serde_json::to_vec(task)?.into())
            .await?;
        Ok(())
    }
    async fn delete(&self, id: &str) -> Result<bool> {
        Ok(Self::purge(&self.tasks, &key_part(id)).await? > 0)
    }
    async fn put_run(&self, run: &RunRecord) -> Result<()> {
        let revision = self
            .runs
            .put(RunKey::of(run), serde_json::to_vec(run)?.into())
            .await?;
        // The run may be stored under another key already (same run id, another task or start
        // time): remove the older message so the run is there once, as an upsert by run id.
        self.runs
            .stream
            .purge()
            .filter(format!("{}*.*.{}", self.runs.prefix, key_part(&run.run_id)))
            .sequence(revision)
            .await?;
        let stored = self.runs.stream.get_info().await?.state.messages;
        if stored > (HISTORY_LIMIT + TRIM_SLACK) as u64 {
            for old in self.run_keys().await?.iter().skip(HISTORY_LIMIT) {
                Self::purge(&self.runs, &old.key).await?;
            }
        }
        Ok(())
    }
    async fn runs(&self, task_id: Option<&str>, limit: usize) -> Result<Vec<RunRecord>> {
        // The newest HISTORY_LIMIT overall, then this task's: what the Redis store keeps.
        let keys: Vec<String> = self
            .run_keys()
            .await?
            .into_iter()
            .take(HISTORY_LIMIT)
            .filter(|k| task_id.is_none_or(|t| k.task == t))
            .map(|k| k.key)
            .collect();
        let mut fetches = futures::stream::iter(keys)
            .map(|k| self.runs.get(k))
            .buffered(FETCH_CONCURRENCY);
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(value) = fetches.next().await else {
                break;
            };
            if let Some(r) = value?.and_then(|b| serde_json::from_slice::<RunRecord>(&b).ok())
                && task_id.is_none_or(|t| r.task_id == t)
            {
                out.push(r);
            }
        }
        Ok(out)
    }
    async fn try_lease(&self, key: &str, ttl: Duration) -> Result<bool> {
        let key = key_part(key);
        let mut last = 0;
        // Bounded: each retry means the key changed between two requests, i.e. another
        // scheduler is taking the same lease right now; giving up then is the safe answer.
        for _ in 0..3 {
            match self.publish_lease(&key, last, ttl).await {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {}
                Err(e) => return Err(e.into()),
            }
            // Something is stored under the key: a live lease (held), or the marker the server
            // leaves when a lease expires (free: take it over at the marker's revision, which
            // `kv::Store::create_with_ttl` would do without the TTL, leaving a lease forever).
            match self.leases.entry(key.as_str()).await? {
                Some(e) if e.operation == Operation::Put => return Ok(false),
                Some(e) => last = e.revision,
                None => last = 0,
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_and_round_trip() {
        for s in [
            "every-second:1700000000000",
            "",
            "a.b",
            "x=y",
            "é",
            "run-00ff",
        ] {
            let k = key_part(s);
            assert!(
                k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{k}"
            );
            assert_eq!(unkey_part(&k).as_deref(), Some(s));
        }
        assert_eq!(key_part("daily-archive"), "daily-archive");
        assert_eq!(key_part("t:1"), "t=3A1");
        assert_eq!(
            NatsKvStore::bucket_names("mp:scheduler"),
            [
                "mp_scheduler_tasks",
                "mp_scheduler_runs",
                "mp_scheduler_leases"
            ]
        );
    }

    #[test]
    fn run_keys_parse() {
        let k = RunKey::parse("t=3A1.-5.run-1").expect("parses");
        assert_eq!(
            (k.task.as_str(), k.started, k.run_id.as_str()),
            ("t:1", -5, "run-1")
        );
        assert!(RunKey::parse("a.b").is_none());
        assert!(RunKey::parse("a.1.b.c").is_none());
        assert!(RunKey::parse("a.x.b").is_none());
    }
}
