//! The conformance suite against every backend: memory always; etcd, NATS and Redis against
//! real servers (`scripts/services.sh start`; under `CI=true` a missing server fails).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use marketprism_discovery::{Backend, MemoryBackend, backend_from_url, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_conformance() {
    let store = MemoryBackend::new();
    conformance::run_all(|| {
        let store = store.clone();
        async move { Arc::new(store) as Arc<dyn Backend> }
    })
    .await
    .assert_all_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_url_conformance() {
    let url = format!("memory://conf{:08x}", rand_u32());
    conformance::run_all(|| {
        let url = url.clone();
        async move { backend_from_url(&url).await.unwrap() }
    })
    .await
    .assert_all_passed();
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_conformance() {
    use marketprism_core::testing::{TestServer, host_port, require_server};
    let Some(url) = require_server(TestServer::Etcd) else {
        return;
    };
    let url = format!(
        "etcd://{}?namespace=conf{:08x}",
        host_port(&url).unwrap(),
        rand_u32()
    );
    conformance::run_all(|| {
        let url = url.clone();
        async move { backend_from_url(&url).await.unwrap() }
    })
    .await
    .assert_all_passed();
}

#[cfg(feature = "nats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_conformance() {
    use marketprism_core::testing::{TestServer, require_server};
    let Some(url) = require_server(TestServer::Nats) else {
        return;
    };
    let ns = format!("conf{:08x}", rand_u32());
    let backend_url = format!("{url}?namespace={ns}");
    let report = conformance::run_all(|| {
        let url = backend_url.clone();
        async move { backend_from_url(&url).await.unwrap() }
    })
    .await;
    // Each run makes its own bucket; remove it so repeated runs leave nothing behind.
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    js.delete_key_value(format!("mp-discovery-{ns}"))
        .await
        .unwrap();
    report.assert_all_passed();
}

#[cfg(feature = "redis")]
async fn redis_conformance(keyspace_events: &str) {
    use marketprism_core::testing::{TestServer, require_server};
    let Some(url) = require_server(TestServer::Redis) else {
        return;
    };
    let url = format!(
        "{url}?namespace=conf{:08x}&keyspace_events={keyspace_events}",
        rand_u32()
    );
    conformance::run_all(|| {
        let url = url.clone();
        async move { backend_from_url(&url).await.unwrap() }
    })
    .await
    .assert_all_passed();
}

/// Expiry seen through keyspace notifications (turned on with CONFIG SET).
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keyspace_notifications_conformance() {
    redis_conformance("set").await;
}

/// Expiry seen by comparing listings only.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_polling_conformance() {
    redis_conformance("off").await;
}
