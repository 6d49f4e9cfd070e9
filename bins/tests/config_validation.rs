//! Issue 13 finding 4: a configuration that parses but cannot work stops the process at once
//! (non-zero, within a few seconds, nothing served), with one error naming the key and where
//! it was set — in every service binary and in the one-process mode.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::Command;

/// Runs `binary args` with `env`; it must exit non-zero within 10 s (not serve): returns its
/// stderr and how long it took.
async fn refused(binary: &str, args: &[&str], env: &[(&str, &str)]) -> (String, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .env("RUST_LOG", "error")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!("{binary} {args:?} still running after 10 s: it served a bad config")
        })
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{binary} {args:?} exited 0; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("http://"),
        "a banner was printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (stderr, started.elapsed())
}

fn assert_names(stderr: &str, needles: &[&str]) {
    for n in needles {
        assert!(stderr.contains(n), "`{n}` missing from: {stderr}");
    }
}

#[tokio::test]
async fn storage_with_a_clickhouse_url_that_is_not_one() {
    let (err, took) = refused(
        env!("CARGO_BIN_EXE_data-storage-service"),
        &["--listen", "127.0.0.1:0", "--set", "clickhouse.url=notaurl"],
        &[],
    )
    .await;
    assert_names(
        &err,
        &[
            "clickhouse.url",
            "--set clickhouse.url=notaurl",
            "not a URL",
        ],
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn collector_with_book_images_deeper_than_its_books() {
    let (err, took) = refused(
        env!("CARGO_BIN_EXE_market-data-collector"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            "book_depth=10",
            "--set",
            "book_image_depth=20",
        ],
        &[],
    )
    .await;
    assert_names(
        &err,
        &["book_image_depth", "20 is more than book_depth (10)"],
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn storage_with_a_bad_failover_url_or_a_relative_zookeeper_path() {
    let (err, took) = refused(
        env!("CARGO_BIN_EXE_data-storage-service"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            "clickhouse.url=http://127.0.0.1:1/?database=x,nope",
            "--set",
            "clickhouse.replicated.zookeeper_path=clickhouse/x",
        ],
        &[],
    )
    .await;
    assert_names(
        &err,
        &[
            "clickhouse.url",
            "is not a URL",
            "clickhouse.replicated.zookeeper_path",
            "--set clickhouse.replicated.zookeeper_path=clickhouse/x",
            "absolute ZooKeeper path",
        ],
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn collector_with_leases_and_a_static_shard_or_bad_lease_or_publish_values() {
    let (err, took) = refused(
        env!("CARGO_BIN_EXE_market-data-collector"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            "assignment.enabled=true",
            "--set",
            "assignment.redundancy=9",
            "--set",
            "assignment.lease_ttl_secs=1",
            "--set",
            "shard.count=2",
            "--set",
            "max_events_per_message=64",
            "--set",
            "batches_in_flight=0",
            "--set",
            "nats.stream_layout=bulk",
        ],
        &[],
    )
    .await;
    assert_names(
        &err,
        &[
            "nats.stream_layout",
            "JetStream cannot drop the second copy",
            "assignment.redundancy",
            "1 to 5",
            "assignment.lease_ttl_secs",
            "assignment.enabled",
            "shard",
            "max_events_per_message",
            "each event must be its own message",
            "batches_in_flight",
            "0 is not within 1 to 64",
        ],
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn scheduler_with_a_builtin_cron_that_never_fires_or_fires_every_second() {
    for (cron, why) in [
        ("61 * * * *", "invalid cron"),
        ("* * * * * *", "minimum interval"),
        ("0 0 30 2 *", "never fires"),
    ] {
        let set = format!("builtin.retention_cron={cron}");
        let (err, _) = refused(
            env!("CARGO_BIN_EXE_scheduler-service"),
            &["--listen", "127.0.0.1:0", "--set", &set],
            &[],
        )
        .await;
        assert_names(&err, &["builtin.retention_cron", why]);
    }
}

#[tokio::test]
async fn gateway_with_a_bad_key_hash_pem_or_cors_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        "[[gateway.auth.api_keys]]\nname = \"ops\"\nsha256 = \"not-a-sha256\"\nroles = [\"admin\"]\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8");
    let gw = env!("CARGO_BIN_EXE_api-gateway");
    let (err, _) = refused(gw, &["--listen", "127.0.0.1:0", "--config", path], &[]).await;
    assert_names(&err, &["key `gateway`", "gateway.toml"]);

    let (err, _) = refused(
        gw,
        &["--listen", "127.0.0.1:0"],
        &[(
            "MARKETPRISM_GATEWAY__AUTH__JWT__RS256_PUBLIC_KEY_PEM",
            "garbage",
        )],
    )
    .await;
    assert_names(
        &err,
        &[
            "key `gateway`",
            "MARKETPRISM_GATEWAY__AUTH__JWT__RS256_PUBLIC_KEY_PEM",
        ],
    );

    let (err, _) = refused(
        gw,
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            "gateway.cors.allowed_origins=[\"a\\u0001b\"]",
        ],
        &[],
    )
    .await;
    assert_names(&err, &["cors origin", "key `gateway`"]);
}

#[tokio::test]
async fn one_process_mode_refuses_unknown_and_bad_keys_before_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let mp = env!("CARGO_BIN_EXE_marketprism");
    let port = (40_000 + std::process::id() % 4_000 * 6).to_string();
    let base = [
        "run",
        "--host",
        "127.0.0.1",
        "--base-port",
        &port,
        "--data-dir",
        data,
    ];
    for (set, needles) in [
        (
            "nosuch.key=1",
            vec!["--set nosuch.key=1", "must start with a service"],
        ),
        ("storage.nosuch=1", vec!["nosuch", "storage"]),
        (
            "storage.clickhouse.url=notaurl",
            vec!["clickhouse.url", "not a URL"],
        ),
        (
            "gateway.service.listen=nowhere",
            vec!["service.listen", "HOST:PORT"],
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(["--set", set]);
        let (err, took) = refused(mp, &args, &[]).await;
        assert_names(&err, &needles);
        assert!(took < Duration::from_secs(3), "{set}: {took:?}");
    }
    assert!(Path::new(data).exists());
}

#[tokio::test]
async fn storage_with_a_stream_layout_that_is_not_one() {
    let (err, took) = refused(
        env!("CARGO_BIN_EXE_data-storage-service"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            "nats.stream_layout=sideways",
        ],
        &[],
    )
    .await;
    assert_names(&err, &["stream_layout", "sideways", "per_symbol", "bulk"]);
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn gateway_on_a_stream_without_per_symbol_subjects() {
    let (err, took) = refused(
        env!("CARGO_BIN_EXE_api-gateway"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--set",
            "nats.url=nats://127.0.0.1:1",
            "--set",
            "nats.stream_layout=bulk_only",
        ],
        &[],
    )
    .await;
    assert_names(&err, &["nats.stream_layout", "bulk_only", "WebSocket"]);
    assert!(took < Duration::from_secs(3), "{took:?}");
}
