//! scheduler-service (port 8084): cron tasks (UTC) that call an endpoint of a discovered
//! service or publish to NATS; run history; each firing happens once across instances
//! (a lease per task and fire time in the shared store).
//!
//! Routes (the seeds'): `GET|POST /api/v1/scheduler/tasks`, `GET|PUT|DELETE
//! /api/v1/scheduler/tasks/{id}`, `POST .../tasks/{id}/run`, `POST .../tasks/{id}/cancel`,
//! `GET .../tasks/{id}/runs`, `GET /api/v1/scheduler/runs`, `GET /api/v1/scheduler/status`,
//! `POST /api/v1/scheduler/start`, `POST /api/v1/scheduler/stop`.

mod api;
mod engine;
mod store;
mod store_nats;
mod task;

use std::{
    collections::HashMap,
    future::Future,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use marketprism_core::runtime::Service;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use api::routes;
pub use engine::Engine;
pub use store::{FileStore, HISTORY_LIMIT, RedisStore, TaskStore};
pub use store_nats::NatsKvStore;
pub use task::{RunRecord, Task, TaskInput, check_cron, parse_cron};

use crate::common::{self, DiscoverySection, NatsSection, Result, ServiceSection, now_ms};

/// Scheduler configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery (task targets are found here).
    pub discovery: DiscoverySection,
    /// NATS, for tasks that publish (and the task store with `store.backend = "nats"`).
    pub nats: NatsSection,
    /// Redis: shared tasks, history and leases (several schedulers).
    pub redis: RedisSection,
    /// Task store.
    pub store: StoreSection,
    /// Engine.
    pub scheduler: EngineSection,
    /// Built-in tasks.
    pub builtin: BuiltinSection,
}

/// `[redis]`. Env `REDIS_URL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// `redis://host:6379`: tasks, run history and leases shared by every scheduler (keys
    /// under `store.prefix`).
    pub url: Option<String>,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// Which store holds tasks, history and leases.
    pub backend: StoreBackend,
    /// Embedded store file (the `file` backend).
    pub path: PathBuf,
    /// Redis key prefix; NATS bucket names are made from it (`:` and other characters a
    /// bucket name cannot hold become `_`: `mp_scheduler_tasks`, `_runs`, `_leases`).
    pub prefix: String,
}

/// `store.backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Redis when `redis.url` is set, else the file. Never NATS: `nats.url` is often set only
    /// for tasks that publish, and switching stores would lose the tasks kept in the file.
    #[default]
    Auto,
    /// The embedded JSON file `store.path` (one scheduler: leases are in memory).
    File,
    /// Redis at `redis.url`.
    Redis,
    /// NATS JetStream key-value buckets at `nats.url`.
    Nats,
}

/// `[scheduler]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// How often due tasks are checked (ms).
    pub tick_ms: u64,
    /// Lease lifetime per firing (must exceed clock skew between instances).
    pub lease_ttl_secs: u64,
    /// Fire on schedule from the start (else wait for `POST /start`).
    pub start_running: bool,
    /// The most often a task may fire, in seconds (default 10): a schedule of every second is
    /// refused with 400 naming this key.
    pub min_interval_secs: u64,
}

/// `[builtin]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinSection {
    /// Create the built-in tasks when missing.
    pub enabled: bool,
    /// Retention: drop history older than this many days.
    pub retention_days: u32,
    /// When retention runs.
    pub retention_cron: String,
    /// When the daily archive runs.
    pub archive_cron: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            service: ServiceSection::new("scheduler-service", 8084),
            discovery: DiscoverySection::default(),
            nats: NatsSection::default(),
            redis: RedisSection::default(),
            store: StoreSection {
                backend: StoreBackend::Auto,
                path: PathBuf::from("marketprism-data/scheduler.json"),
                prefix: "mp:scheduler".into(),
            },
            scheduler: EngineSection {
                tick_ms: 250,
                lease_ttl_secs: 3600,
                start_running: true,
                min_interval_secs: task::MIN_CRON_INTERVAL_SECS,
            },
            builtin: BuiltinSection {
                enabled: true,
                retention_days: 30,
                retention_cron: "0 3 * * *".into(),
                archive_cron: "30 0 * * *".into(),
            },
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        SchedulerConfig::default().store
    }
}
impl Default for EngineSection {
    fn default() -> Self {
        SchedulerConfig::default().scheduler
    }
}
impl Default for BuiltinSection {
    fn default() -> Self {
        SchedulerConfig::default().builtin
    }
}

fn builtin_tasks(b: &BuiltinSection) -> Vec<Task> {
    let t = |id: &str, cron: &str, path: &str, payload: Value| Task {
        id: id.into(),
        name: id.into(),
        cron_expression: cron.into(),
        enabled: true,
        target_service: Some("data-storage-service".into()),
        target_endpoint: Some(path.into()),
        method: "POST".into(),
        nats_subject: None,
        payload: Some(payload),
        timeout_secs: 600,
        builtin: true,
        created_at_ms: now_ms(),
        updated_at_ms: now_ms(),
    };
    vec![
        t(
            "retention-cleanup",
            &b.retention_cron,
            "/api/v1/storage/lifecycle/cleanup",
            json!({ "retention_days": b.retention_days }),
        ),
        t(
            "daily-archive",
            &b.archive_cron,
            "/api/v1/storage/lifecycle/archive",
            json!({ "days_ago": 1 }),
        ),
    ]
}

/// Runs the scheduler.
pub async fn run(
    config: SchedulerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    common::install_crypto();
    let stop = common::shutdown_token(shutdown);
    let nats = match &config.nats.url {
        Some(url) => Some(common::connect_nats(url, "scheduler-service").await?),
        None => None,
    };
    let lease_ttl = Duration::from_secs(config.scheduler.lease_ttl_secs.max(1));
    let store = open_store(&config, nats.as_ref(), lease_ttl).await?;
    tracing::info!(store = store.name(), "scheduler task store");
    if config.builtin.enabled {
        for t in builtin_tasks(&config.builtin) {
            if store.get(&t.id).await?.is_none() {
                store.put(&t).await?;
            }
        }
    }
    let registry = common::registry(&config.discovery).await?;
    let engine = Arc::new(Engine {
        store,
        registry: registry.clone(),
        nats,
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()?,
        running: config.scheduler.start_running.into(),
        active: Mutex::new(HashMap::new()),
        instance: format!("{}-{:08x}", config.service.name, rand::random::<u32>()),
        fired: 0.into(),
        lease_ttl,
        min_interval_secs: config.scheduler.min_interval_secs,
        service_token: config.service.tokens.current().map(str::to_owned),
    });
    let service = Service::builder(config.service.name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .service_tokens(config.service.tokens.accepted())
        .routes(routes(Arc::clone(&engine)))
        .build();
    let addr = listener.local_addr()?;
    let http_stop = CancellationToken::new();
    let http = common::spawn_http(service, listener, http_stop.clone());
    common::register(&registry, &config.service, addr).await?;
    let loop_stop = stop.child_token();
    let ticker = tokio::spawn(Arc::clone(&engine).run(
        Duration::from_millis(config.scheduler.tick_ms.max(10)),
        loop_stop,
    ));
    stop.cancelled().await;
    common::deregister(&registry).await;
    let _ = ticker.await;
    // Drain: give runs in progress a moment to finish and record themselves.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.active_runs() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    common::finish(http_stop, http).await
}

/// The store `store.backend` selects (see [`StoreBackend`]).
async fn open_store(
    config: &SchedulerConfig,
    nats: Option<&async_nats::Client>,
    lease_ttl: Duration,
) -> Result<Arc<dyn TaskStore>> {
    let s = &config.store;
    Ok(match (s.backend, &config.redis.url, nats) {
        (StoreBackend::Auto | StoreBackend::Redis, Some(url), _) => {
            Arc::new(RedisStore::connect(url, &s.prefix).await?)
        }
        (StoreBackend::Redis, None, _) => {
            return Err("store.backend = \"redis\" needs redis.url".into());
        }
        (StoreBackend::Nats, _, Some(client)) => Arc::new(
            NatsKvStore::open_replicated(
                client.clone(),
                &s.prefix,
                lease_ttl,
                config.nats.replicas,
            )
            .await?,
        ),
        (StoreBackend::Nats, _, None) => {
            return Err("store.backend = \"nats\" needs nats.url".into());
        }
        (StoreBackend::Auto | StoreBackend::File, ..) => Arc::new(FileStore::open(s.path.clone())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_backend_is_set_by_name_and_defaults_to_auto() {
        let env = HashMap::new();
        let default = SchedulerConfig::default();
        let c = common::load_config(&default, None, &env, &[]).expect("defaults");
        assert_eq!(c.store.backend, StoreBackend::Auto);
        for (name, backend) in [
            ("file", StoreBackend::File),
            ("redis", StoreBackend::Redis),
            ("nats", StoreBackend::Nats),
        ] {
            let sets = [format!("store.backend={name}")];
            let c = common::load_config(&default, None, &env, &sets).expect("set");
            assert_eq!(c.store.backend, backend);
        }
        let sets = ["store.backend=etcd".to_owned()];
        assert!(common::load_config(&default, None, &env, &sets).is_err());
    }

    #[tokio::test]
    async fn auto_never_picks_nats_and_explicit_backends_need_their_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = SchedulerConfig::default();
        c.store.path = dir.path().join("scheduler.json");
        // `nats.url` alone (for publishing tasks) keeps the file store.
        c.nats.url = Some("nats://127.0.0.1:1".into());
        let ttl = Duration::from_secs(1);
        let store = open_store(&c, None, ttl).await.expect("file");
        assert_eq!(store.name(), "embedded");
        c.store.backend = StoreBackend::Nats;
        let e = open_store(&c, None, ttl).await.err().expect("no client");
        assert!(e.to_string().contains("nats.url"), "{e}");
        c.store.backend = StoreBackend::Redis;
        let e = open_store(&c, None, ttl).await.err().expect("no redis.url");
        assert!(e.to_string().contains("redis.url"), "{e}");
    }
}
