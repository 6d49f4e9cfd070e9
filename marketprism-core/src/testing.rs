//! Support for integration tests that need real servers (ClickHouse, NATS, Redis, etcd).
//!
//! `scripts/services.sh start` starts them on loopback and writes their URLs to
//! `MARKETPRISM_TEST_<NAME>_URL` variables. A test asks for a server with [`require_server`]:
//! when it is unreachable the test **fails** under `CI=true`, and is skipped with a loud
//! message otherwise (so `cargo test` still works for an SDK user without the servers).

use std::time::Duration;

/// A real server a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TestServer {
    /// ClickHouse HTTP interface (`MARKETPRISM_TEST_CLICKHOUSE_URL`, default `http://127.0.0.1:8123`).
    ClickHouse,
    /// NATS with JetStream (`MARKETPRISM_TEST_NATS_URL`, default `nats://127.0.0.1:4222`).
    Nats,
    /// Redis (`MARKETPRISM_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
    Redis,
    /// etcd v3 (`MARKETPRISM_TEST_ETCD_URL`, default `http://127.0.0.1:2379`).
    Etcd,
}

impl TestServer {
    /// The environment variable holding the server's URL.
    pub const fn env_var(self) -> &'static str {
        match self {
            TestServer::ClickHouse => "MARKETPRISM_TEST_CLICKHOUSE_URL",
            TestServer::Nats => "MARKETPRISM_TEST_NATS_URL",
            TestServer::Redis => "MARKETPRISM_TEST_REDIS_URL",
            TestServer::Etcd => "MARKETPRISM_TEST_ETCD_URL",
        }
    }

    /// The URL used when the variable is unset.
    pub const fn default_url(self) -> &'static str {
        match self {
            TestServer::ClickHouse => "http://127.0.0.1:8123",
            TestServer::Nats => "nats://127.0.0.1:4222",
            TestServer::Redis => "redis://127.0.0.1:6379",
            TestServer::Etcd => "http://127.0.0.1:2379",
        }
    }
}

/// True when running under CI (`CI` set to anything but `false`/`0`/empty).
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `host:port` of a URL such as `nats://127.0.0.1:4222` or `http://127.0.0.1:8123/`.
///
/// ```
/// use marketprism_core::testing::host_port;
/// assert_eq!(host_port("nats://127.0.0.1:4222"), Some("127.0.0.1:4222".to_owned()));
/// assert_eq!(host_port("http://localhost:8123/x"), Some("localhost:8123".to_owned()));
/// assert_eq!(host_port("nonsense"), None);
/// ```
pub fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    authority.contains(':').then(|| authority.to_owned())
}

/// The URL of `server` if it accepts TCP connections. Unreachable: panics under CI, else
/// prints why the test is skipped and returns `None`.
pub fn require_server(server: TestServer) -> Option<String> {
    let url = std::env::var(server.env_var()).unwrap_or_else(|_| server.default_url().to_owned());
    let reachable = host_port(&url)
        .and_then(|hp| {
            use std::net::ToSocketAddrs;
            hp.to_socket_addrs().ok()?.next()
        })
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        });
    if reachable {
        return Some(url);
    }
    let msg = format!(
        "{server:?} not reachable at {url} ({} ); start it with `scripts/services.sh start`",
        server.env_var()
    );
    assert!(!is_ci(), "CI=true and a required server is missing: {msg}");
    eprintln!("SKIPPED (not CI): {msg}");
    None
}

/// Runs `promtool check metrics` on a Prometheus exposition and panics with its findings when
/// it fails (every metric needs HELP text, names and labels must be valid). Without promtool
/// it panics under CI=true (`scripts/services.sh` installs it) and is skipped otherwise.
pub fn promtool_check_metrics(exposition: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !is_ci(),
                "CI=true and promtool is missing ({e}); scripts/services.sh installs it"
            );
            eprintln!("SKIPPED promtool check (not CI): {e}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let written = stdin.write_all(exposition.as_bytes());
        assert!(written.is_ok(), "writing to promtool: {written:?}");
    }
    let out = child.wait_with_output();
    let Ok(out) = out else {
        panic!("promtool did not finish: {out:?}");
    };
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
