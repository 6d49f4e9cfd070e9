//! etcd with authentication: a private etcd started by this test on free loopback ports
//! (the binary `scripts/services.sh` installs: `etcd` on PATH, in /usr/sbin, /usr/bin or /sbin,
//! or `MARKETPRISM_ETCD_BIN`), with `auth enable`, a root user, a role `mp` with readwrite on
//! `/marketprism/discovery/` and users `mpuser` (in the role) and `nobody` (no role). Under
//! `CI=true` a missing etcd binary fails the test instead of skipping it.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "etcd")]

use std::{path::PathBuf, process::Stdio, sync::Arc, time::Duration};

use marketprism_discovery::{
    Backend, DiscoveryError, Registry, ServiceInstance, backend_from_url, conformance,
};
use serde_json::json;

/// A password with characters that must be percent-encoded in a URL.
const PASSWORD: &str = "p@ss:w/rd";
const PASSWORD_IN_URL: &str = "p%40ss%3Aw%2Frd";

fn etcd_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MARKETPRISM_ETCD_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|d| PathBuf::from(d).join("etcd"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The etcd child; killed (by its own handle) when dropped.
struct Etcd {
    child: tokio::process::Child,
    port: u16,
    _dir: TempDir,
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn gateway(port: u16, path: &str, body: serde_json::Value, token: Option<&str>) {
    let mut req = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v3/{path}"))
        .body(body.to_string());
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let text = req.send().await.unwrap().text().await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(answer.get("error").is_none(), "{path}: {answer}");
}

async fn start_etcd_with_auth() -> Option<Etcd> {
    // reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(bin) = etcd_bin() else {
        assert!(
            !marketprism_core::testing::is_ci(),
            "CI=true and no etcd binary (run scripts/services.sh start or set MARKETPRISM_ETCD_BIN)"
        );
        eprintln!("skipping: no etcd binary (scripts/services.sh installs it)");
        return None;
    };
    let (port, peer) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("mp-etcd-auth-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let client = format!("http://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = tokio::process::Command::new(bin)
        .args(["--name", "auth0", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("auth0={peer_url}")])
        // Tokens forgotten after 2 s idle, so the test sees a re-authentication.
        .args([
            "--auth-token-ttl",
            "2",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let etcd = Etcd {
        child,
        port,
        _dir: TempDir(dir),
    };
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ok = http
            .get(format!("{client}/health"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
            .is_some();
        if ok {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "etcd did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (path, body) in [
        (
            "auth/user/add",
            json!({"name": "root", "password": "rootpw"}),
        ),
        ("auth/user/grant", json!({"user": "root", "role": "root"})),
        ("auth/role/add", json!({"name": "mp"})),
        (
            "auth/role/grant",
            json!({"name": "mp", "perm": {"permType": "READWRITE",
                "key": b64("/marketprism/discovery/"), "range_end": b64("/marketprism/discovery0")}}),
        ),
        (
            "auth/user/add",
            json!({"name": "mpuser", "password": PASSWORD}),
        ),
        ("auth/user/grant", json!({"user": "mpuser", "role": "mp"})),
        (
            "auth/user/add",
            json!({"name": "nobody", "password": "nobodypw"}),
        ),
        ("auth/enable", json!({})),
    ] {
        gateway(port, path, body, None).await;
    }
    Some(etcd)
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn url(port: u16, userinfo: &str) -> String {
    format!(
        "etcd://{userinfo}127.0.0.1:{port}?namespace=auth{:08x}",
        rand::random::<u32>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_password_registers_and_refuses_wrong_credentials() {
    let Some(etcd) = start_etcd_with_auth().await else {
        return;
    };
    let port = etcd.port;
    let inst = ServiceInstance::builder("authed", "127.0.0.1", 9000)
        .id("a1")
        .build()
        .unwrap();

    // The right password: register, list, and again after the token expired (re-auth).
    let good = backend_from_url(&url(port, &format!("mpuser:{PASSWORD_IN_URL}@")))
        .await
        .unwrap();
    let lease = good.register(&inst, Duration::from_secs(10)).await.unwrap();
    assert_eq!(good.list("authed").await.unwrap(), vec![inst.clone()]);
    tokio::time::sleep(Duration::from_secs(4)).await; // longer than --auth-token-ttl
    good.renew(&lease).await.unwrap();
    assert_eq!(good.list("authed").await.unwrap(), vec![inst.clone()]);
    good.deregister("authed", "a1").await.unwrap();

    // A wrong password: a clear, non-retryable error that never shows the password.
    let bad = backend_from_url(&url(port, "mpuser:wrong-secret@"))
        .await
        .unwrap();
    let err = bad
        .register(&inst, Duration::from_secs(10))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DiscoveryError::Auth { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        msg.contains("`mpuser`") && msg.contains("password"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-secret") && !format!("{err:?}").contains("wrong-secret"));

    // Through a Registry: no retry loop, the same error at once.
    let started = std::time::Instant::now();
    let registry = Registry::builder(bad).build();
    let err = registry.register(inst.clone()).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::Auth { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // No credentials at all on an etcd with auth: the error says how to give them.
    let anonymous = backend_from_url(&url(port, "")).await.unwrap();
    let err = anonymous
        .register(&inst, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Auth { .. }), "{err:?}");
    assert!(
        err.to_string().contains("etcd://user:password@host"),
        "{err}"
    );

    // A user without a role: permission denied, naming the prefix to grant.
    let nobody = backend_from_url(&url(port, "nobody:nobodypw@"))
        .await
        .unwrap();
    let err = nobody
        .register(&inst, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, DiscoveryError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("/marketprism/discovery/"), "{err}");
    let err = nobody.watch("authed").await.err().unwrap();
    assert!(matches!(err, DiscoveryError::Auth { .. }), "{err:?}");
}

/// The whole conformance suite (watches included) through an authenticated etcd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_password_passes_the_conformance_suite() {
    let Some(etcd) = start_etcd_with_auth().await else {
        return;
    };
    let url = url(etcd.port, &format!("mpuser:{PASSWORD_IN_URL}@"));
    conformance::run_all(|| {
        let url = url.clone();
        async move { backend_from_url(&url).await.unwrap() as Arc<dyn Backend> }
    })
    .await
    .assert_all_passed();
}
