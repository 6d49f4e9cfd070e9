//! A FAKE Consul agent over HTTPS, for tests only: an in-memory imitation of the few endpoints
//! the `consul` backend uses, written from Consul's API documentation — not Consul. It keeps
//! TTL checks (critical after the TTL without a pass, reaped after
//! `DeregisterCriticalServiceAfter`), a global `X-Consul-Index` and blocking queries
//! (`?index=&wait=`), enough to run the conformance suite through the real TLS client path.
//! What it proves: our requests, TLS set-up and parsing work together. What it cannot prove:
//! that a real agent behaves like this.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpListener,
    sync::watch,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

struct Entry {
    body: Value,
    ttl: Duration,
    reap_after: Duration,
    last_pass: Instant,
    critical_since: Option<Instant>,
}

#[derive(Default)]
struct State {
    index: u64,
    services: BTreeMap<String, Entry>,
}

/// A running fake agent.
pub struct FakeConsul {
    /// `127.0.0.1:port`.
    pub addr: std::net::SocketAddr,
    /// The self-signed certificate the agent presents (PEM), for `ca_file`.
    pub ca_pem: String,
    /// How many requests were served.
    pub requests: Arc<std::sync::atomic::AtomicU64>,
}

fn secs(v: &Value) -> Duration {
    let s = v.as_str().unwrap_or("0s");
    Duration::from_secs(s.trim_end_matches('s').parse().unwrap_or(0))
}

impl FakeConsul {
    /// Starts the agent on a free loopback port with a fresh self-signed certificate for
    /// `127.0.0.1` and `localhost`.
    pub async fn start() -> FakeConsul {
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (changed, _) = watch::channel(0u64);
        let changed = Arc::new(changed);
        let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(reaper(state.clone(), changed.clone()));
        let count = requests.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, state, changed) = (acceptor.clone(), state.clone(), changed.clone());
                let count = count.clone();
                tokio::spawn(async move {
                    // A plain-HTTP client fails the handshake here: that is the point.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(tls, state, changed, count).await;
                });
            }
        });
        FakeConsul {
            addr,
            ca_pem: ck.cert.pem(),
            requests,
        }
    }
}

/// Marks checks critical after their TTL and removes them after `DeregisterCriticalServiceAfter`.
async fn reaper(state: Arc<Mutex<State>>, changed: Arc<watch::Sender<u64>>) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut st = state.lock().unwrap();
        let now = Instant::now();
        let mut bumped = false;
        for e in st.services.values_mut() {
            if e.critical_since.is_none() && now.duration_since(e.last_pass) > e.ttl {
                e.critical_since = Some(now);
                bumped = true;
            }
        }
        let before = st.services.len();
        st.services.retain(|_, e| {
            e.critical_since
                .is_none_or(|t| now.duration_since(t) < e.reap_after)
        });
        if bumped || st.services.len() != before {
            st.index += 1;
            changed.send_replace(st.index);
        }
    }
}

/// One request per connection (`connection: close`), like the backend's client may use.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    state: Arc<Mutex<State>>,
    changed: Arc<watch::Sender<u64>>,
    count: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = sock.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let len: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let param = |k: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_owned())
    };
    let (status, text) =
        match (method.as_str(), path) {
            ("GET", p) if p.starts_with("/v1/health/service/") => {
                let name = &p["/v1/health/service/".len()..];
                let want: u64 = param("index").and_then(|i| i.parse().ok()).unwrap_or(0);
                let wait = param("wait").map_or(Duration::from_secs(300), |w| secs(&json!(w)));
                let mut rx = changed.subscribe();
                let deadline = tokio::time::Instant::now() + wait;
                while want > 0 && *rx.borrow_and_update() <= want {
                    if tokio::time::timeout_at(deadline, rx.changed())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                let (text, index) =
                    {
                        let st = state.lock().unwrap();
                        let entries: Vec<Value> = st
                .services
                .values()
                .filter(|e| e.body["Name"] == name)
                .map(|e| {
                    let b = &e.body;
                    let check = if e.critical_since.is_some() { "critical" } else { "passing" };
                    json!({
                        "Node": { "Node": "fake", "Address": "127.0.0.1" },
                        "Service": { "ID": b["ID"], "Service": b["Name"], "Tags": b["Tags"],
                            "Address": b["Address"], "Port": b["Port"], "Meta": b["Meta"],
                            "Weights": b["Weights"] },
                        "Checks": [{ "CheckID": b["Check"]["CheckID"], "Status": check }],
                    })
                })
                .collect();
                        (Value::Array(entries).to_string(), st.index.max(1))
                    };
                return respond(
                    &mut sock,
                    200,
                    &[("X-Consul-Index", index.to_string())],
                    &text,
                )
                .await;
            }
            ("PUT", "/v1/agent/service/register") => {
                let b: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let Some(id) = b["ID"].as_str().map(str::to_owned) else {
                    return respond(&mut sock, 400, &[], "missing ID").await;
                };
                let mut st = state.lock().unwrap();
                let entry = Entry {
                    ttl: secs(&b["Check"]["TTL"]),
                    reap_after: secs(&b["Check"]["DeregisterCriticalServiceAfter"]),
                    last_pass: Instant::now(),
                    critical_since: None,
                    body: b,
                };
                st.services.insert(id, entry);
                st.index += 1;
                changed.send_replace(st.index);
                (200, String::new())
            }
            ("PUT", p) if p.starts_with("/v1/agent/check/pass/service:") => {
                let id = &p["/v1/agent/check/pass/service:".len()..];
                let mut st = state.lock().unwrap();
                let revived = match st.services.get_mut(id) {
                    Some(e) => {
                        e.last_pass = Instant::now();
                        Some(e.critical_since.take().is_some())
                    }
                    None => None,
                };
                match revived {
                    None => (
                        404,
                        format!("CheckID \"service:{id}\" does not have associated TTL"),
                    ),
                    Some(was_critical) => {
                        if was_critical {
                            st.index += 1;
                            changed.send_replace(st.index);
                        }
                        (200, String::new())
                    }
                }
            }
            ("PUT", p) if p.starts_with("/v1/agent/service/deregister/") => {
                let id = &p["/v1/agent/service/deregister/".len()..];
                let mut st = state.lock().unwrap();
                if st.services.remove(id).is_some() {
                    st.index += 1;
                    changed.send_replace(st.index);
                }
                (200, String::new())
            }
            ("GET", p) if p.starts_with("/v1/agent/health/service/id/") => {
                let id = &p["/v1/agent/health/service/id/".len()..];
                let st = state.lock().unwrap();
                match st.services.get(id) {
                    Some(e) if e.critical_since.is_some() => {
                        (503, json!({ "AggregatedStatus": "critical" }).to_string())
                    }
                    Some(_) => (200, json!({ "AggregatedStatus": "passing" }).to_string()),
                    None => (404, format!("ServiceId {id} not found")),
                }
            }
            ("GET", p) if p.starts_with("/v1/agent/service/") => {
                let id = &p["/v1/agent/service/".len()..];
                let st = state.lock().unwrap();
                match st.services.get(id) {
                    Some(e) => (
                        200,
                        json!({ "ID": id, "Service": e.body["Name"] }).to_string(),
                    ),
                    None => (404, "unknown service ID".to_owned()),
                }
            }
            ("GET", "/v1/catalog/services") => {
                let st = state.lock().unwrap();
                let mut out = serde_json::Map::new();
                for e in st.services.values() {
                    if let Some(name) = e.body["Name"].as_str() {
                        out.insert(name.to_owned(), e.body["Tags"].clone());
                    }
                }
                (200, Value::Object(out).to_string())
            }
            _ => (404, format!("fake consul: no route {method} {path}")),
        };
    respond(&mut sock, status, &[], &text).await;
}

async fn respond<S: AsyncWrite + Unpin>(
    sock: &mut S,
    status: u16,
    headers: &[(&str, String)],
    text: &str,
) {
    let mut resp = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\nconnection: close\r\n",
        text.len()
    );
    for (k, v) in headers {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(text);
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}
