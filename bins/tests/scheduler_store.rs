//! One conformance suite, three task stores: the embedded file, Redis and NATS JetStream KV
//! must behave alike (the engine and the API only see the `TaskStore` trait).

use std::time::{Duration, Instant};

use marketprism_bins::scheduler::{
    FileStore, HISTORY_LIMIT, NatsKvStore, RedisStore, RunRecord, Task, TaskInput, TaskStore,
};
use marketprism_core::testing::{TestServer, require_server};

#[tokio::test]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FileStore::open(dir.path().join("scheduler.json")).expect("open");
    conformance(&store).await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let Some(url) = require_server(TestServer::Redis) else {
        return;
    };
    let prefix = format!("mp:test:store:{}", unique());
    let store = RedisStore::connect(&url, &prefix).await.expect("connect");
    conformance(&store).await;
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await
        .expect("keys");
    if !keys.is_empty() {
        let () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .expect("del");
    }
}

#[tokio::test]
async fn nats_kv_store_conforms() {
    let Some(url) = require_server(TestServer::Nats) else {
        return;
    };
    // `:` is not allowed in bucket names: this also checks the prefix is made into one.
    let prefix = format!("mp:test:store:{}", unique());
    let store = NatsKvStore::connect(&url, &prefix, Duration::from_secs(60))
        .await
        .expect("connect");
    conformance(&store).await;
    // The bucket itself stays bounded: old runs are removed, not only hidden (the store trims
    // once 50 runs past the limit; the suite writes more than that).
    let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.expect("nats"));
    let [_, runs, _] = NatsKvStore::bucket_names(&prefix);
    let stored = js
        .get_key_value(runs)
        .await
        .expect("runs bucket")
        .status()
        .await
        .expect("status")
        .values();
    assert!(
        stored <= (HISTORY_LIMIT + 50) as u64,
        "{stored} runs stored"
    );
    store.delete_buckets().await.expect("delete buckets");
}

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos)
}

fn task(id: &str, name: &str) -> Task {
    TaskInput {
        id: Some(id.into()),
        name: Some(name.into()),
        cron_expression: Some("*/5 * * * *".into()),
        nats_subject: Some("control.test".into()),
        ..TaskInput::default()
    }
    .apply(None, 0)
    .expect("valid task")
}

fn run(run_id: &str, task_id: &str, started_at_ms: i64) -> RunRecord {
    RunRecord {
        run_id: run_id.into(),
        task_id: task_id.into(),
        scheduled_for_ms: Some(started_at_ms),
        trigger: "schedule".into(),
        started_at_ms,
        finished_at_ms: None,
        duration_ms: None,
        status: "running".into(),
        error: None,
        http_status: None,
        instance: "test".into(),
    }
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

/// The behaviour every store must have. Runs are written in start-time order, as the engine
/// does: the file store orders by write, the others by start time.
async fn conformance(store: &dyn TaskStore) {
    let name = store.name();

    // Tasks.
    assert!(store.list().await.expect("list").is_empty(), "{name}");
    assert_eq!(store.get("a").await.expect("get"), None, "{name}");
    assert!(!store.delete("a").await.expect("delete"), "{name}");
    store.put(&task("b", "B")).await.expect("put");
    store.put(&task("a", "A")).await.expect("put");
    let listed: Vec<String> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["a", "b"], "{name}: sorted by id");
    assert_eq!(
        store.get("a").await.expect("get"),
        Some(task("a", "A")),
        "{name}"
    );
    store.put(&task("a", "A2")).await.expect("replace");
    assert_eq!(
        store.get("a").await.expect("get").map(|t| t.name),
        Some("A2".into()),
        "{name}"
    );
    assert_eq!(store.list().await.expect("list").len(), 2, "{name}");
    assert!(store.delete("a").await.expect("delete"), "{name}");
    assert!(!store.delete("a").await.expect("delete again"), "{name}");
    assert_eq!(store.get("a").await.expect("get"), None, "{name}");
    let listed: Vec<String> = store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["b"], "{name}");

    // Runs: newest first, equal start times by run id descending, upsert by run id.
    assert!(
        store.runs(None, 10).await.expect("runs").is_empty(),
        "{name}"
    );
    store
        .put_run(&run("run-1", "a", 100))
        .await
        .expect("put_run");
    store
        .put_run(&run("run-2", "b", 150))
        .await
        .expect("put_run");
    store
        .put_run(&run("run-3", "a", 200))
        .await
        .expect("put_run");
    store
        .put_run(&run("run-4", "a", 200))
        .await
        .expect("put_run");
    let mut done = run("run-1", "a", 100);
    done.status = "success".into();
    done.finished_at_ms = Some(120);
    store.put_run(&done).await.expect("update run");
    let all = store.runs(None, 10).await.expect("runs");
    assert_eq!(ids(&all), ["run-4", "run-3", "run-2", "run-1"], "{name}");
    assert_eq!(all[3], done, "{name}: the update replaced the run");
    let a = store.runs(Some("a"), 10).await.expect("runs of a");
    assert_eq!(ids(&a), ["run-4", "run-3", "run-1"], "{name}");
    let a = store.runs(Some("a"), 2).await.expect("runs of a");
    assert_eq!(ids(&a), ["run-4", "run-3"], "{name}: limit");
    assert!(
        store.runs(None, 0).await.expect("runs").is_empty(),
        "{name}"
    );
    assert!(
        store.runs(Some("zz"), 10).await.expect("runs").is_empty(),
        "{name}"
    );
    // An update may change any field, the start time too: still one run.
    store
        .put_run(&run("run-5", "c", 300))
        .await
        .expect("put_run");
    store
        .put_run(&run("run-5", "c", 310))
        .await
        .expect("put_run");
    let all = store.runs(None, 10).await.expect("runs");
    assert_eq!(
        ids(&all),
        ["run-5", "run-4", "run-3", "run-2", "run-1"],
        "{name}"
    );
    assert_eq!(all[0].started_at_ms, 310, "{name}");

    // History: the newest HISTORY_LIMIT runs of all tasks together.
    let extra = 60;
    for i in 0..HISTORY_LIMIT + extra {
        let started = 1_000 + i as i64;
        store
            .put_run(&run(&format!("bulk-{i:05}"), "bulk", started))
            .await
            .expect("put_run");
    }
    let all = store.runs(None, usize::MAX).await.expect("runs");
    assert_eq!(all.len(), HISTORY_LIMIT, "{name}");
    assert_eq!(
        all[0].run_id,
        format!("bulk-{:05}", HISTORY_LIMIT + extra - 1),
        "{name}"
    );
    assert_eq!(
        all[HISTORY_LIMIT - 1].run_id,
        format!("bulk-{extra:05}"),
        "{name}"
    );
    assert!(
        store.runs(Some("a"), 10).await.expect("runs").is_empty(),
        "{name}: older runs of every task went"
    );
    assert_eq!(
        store.runs(Some("bulk"), 5).await.expect("runs").len(),
        5,
        "{name}"
    );

    // Leases: one holder until the TTL passes, then free again, also after a re-take.
    let ttl = Duration::from_secs(1);
    let mut taken = Instant::now();
    assert!(store.try_lease("t:1", ttl).await.expect("lease"), "{name}");
    assert!(!store.try_lease("t:1", ttl).await.expect("lease"), "{name}");
    assert!(store.try_lease("t:2", ttl).await.expect("lease"), "{name}");
    for round in 0..2 {
        let (asked, got) = wait_for_lease(store, "t:1", ttl).await;
        assert!(
            got.duration_since(taken) >= ttl,
            "{name}: lease free before its TTL"
        );
        assert!(
            !store.try_lease("t:1", ttl).await.expect("lease"),
            "{name}: re-taken lease {round} not held"
        );
        taken = asked;
    }
}

/// Retries until the lease is taken: when the winning call was made and when it returned.
/// Panics when the lease stays held well past `ttl`.
async fn wait_for_lease(store: &dyn TaskStore, key: &str, ttl: Duration) -> (Instant, Instant) {
    let deadline = Instant::now() + ttl + Duration::from_secs(6);
    loop {
        let asked = Instant::now();
        if store.try_lease(key, ttl).await.expect("lease") {
            return (asked, Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "{}: lease `{key}` still held long after its TTL",
            store.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
