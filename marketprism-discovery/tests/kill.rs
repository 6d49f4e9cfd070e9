//! "Killing a registered process without deregistering makes it disappear after its TTL":
//! this test binary re-runs itself as a child process (test `child_process_entry`, active
//! only when `MP_DISCOVERY_CHILD_URL` is set) that registers through a `Registry` and keeps
//! renewing; the parent checks the record outlives several TTLs, SIGKILLs the child and
//! checks the record is gone within TTL + slack — against real etcd, NATS and Redis.
//!
//! The memory backend lives inside one process, so killing the process kills the store too;
//! its in-process equivalent (dropping the registry: renewals stop, nothing deregisters) is
//! `tests/registry.rs::dropping_the_registry_lets_the_instance_expire`.
#![allow(clippy::unwrap_used)]
#![cfg_attr(
    not(any(feature = "etcd", feature = "nats", feature = "redis")),
    allow(dead_code)
)]

use std::{process::Stdio, time::Duration};

use marketprism_discovery::{Registry, ServiceInstance, backend_from_url};
use tokio::io::{AsyncBufReadExt, BufReader};

const CHILD_URL: &str = "MP_DISCOVERY_CHILD_URL";
const CHILD_SERVICE: &str = "MP_DISCOVERY_CHILD_SERVICE";
const TTL: Duration = Duration::from_secs(2);
const READY: &str = "MP_DISCOVERY_CHILD_READY";

/// The child: registers and renews until killed. A no-op in a normal test run.
#[tokio::test]
#[allow(clippy::print_stdout)]
async fn child_process_entry() {
    let (Ok(url), Ok(service)) = (std::env::var(CHILD_URL), std::env::var(CHILD_SERVICE)) else {
        return;
    };
    let backend = backend_from_url(&url).await.unwrap();
    let registry = Registry::builder(backend)
        .ttl(TTL)
        .renew_interval(Duration::from_millis(500))
        .health_check_interval(None)
        .build();
    let me = ServiceInstance::builder(service, "127.0.0.1", 9999)
        .id("child")
        .build()
        .unwrap();
    registry.register(me).await.unwrap();
    println!("{READY}");
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn listed(url: &str, service: &str) -> bool {
    let b = backend_from_url(url).await.unwrap();
    b.list(service)
        .await
        .unwrap()
        .iter()
        .any(|i| i.id == "child")
}

async fn kill_case(url: String) {
    let service = format!("killed-{:08x}", std::process::id() ^ now_nanos());
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, &url)
        .env(CHILD_SERVICE, &service)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(READY) {
                return;
            }
        }
        panic!("child exited before registering");
    })
    .await
    .expect("child registered within 30 s");

    assert!(listed(&url, &service).await, "child not listed");
    tokio::time::sleep(TTL * 2 + Duration::from_millis(500)).await;
    assert!(
        listed(&url, &service).await,
        "child's renewals did not keep it alive"
    );

    child.start_kill().unwrap(); // SIGKILL: no deregistration, no cleanup
    let status = child.wait().await.unwrap();
    assert!(!status.success());
    let killed = tokio::time::Instant::now();
    loop {
        if !listed(&url, &service).await {
            break;
        }
        assert!(
            killed.elapsed() < TTL + Duration::from_secs(5),
            "still listed {:?} after SIGKILL (TTL {TTL:?})",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone_after = killed.elapsed();
    eprintln!("{url}: gone {gone_after:?} after SIGKILL (TTL {TTL:?})");
}

fn now_nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[cfg(feature = "etcd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_expires_on_etcd() {
    use marketprism_core::testing::{TestServer, host_port, require_server};
    let Some(url) = require_server(TestServer::Etcd) else {
        return;
    };
    kill_case(format!(
        "etcd://{}?namespace=kill",
        host_port(&url).unwrap()
    ))
    .await;
}

#[cfg(feature = "nats")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_expires_on_nats() {
    use marketprism_core::testing::{TestServer, require_server};
    let Some(url) = require_server(TestServer::Nats) else {
        return;
    };
    kill_case(format!("{url}?namespace=kill")).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_expires_on_redis() {
    use marketprism_core::testing::{TestServer, require_server};
    let Some(url) = require_server(TestServer::Redis) else {
        return;
    };
    kill_case(format!("{url}?namespace=kill")).await;
}
