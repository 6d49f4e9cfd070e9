//! Real HTTP upstreams and a real gateway on 127.0.0.1 for the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::Request,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use marketprism_gateway::{EventSource, Upstreams, config::GatewayConfig};
use tokio::{net::TcpListener, sync::oneshot};

/// What one upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
}

/// A real axum upstream on 127.0.0.1:0 that answers every path with
/// `{"instance": <name>, "path": ...}` and the status it is told to.
#[derive(Clone)]
pub struct TestUpstream {
    pub name: String,
    pub url: String,
    pub hits: Arc<AtomicUsize>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestUpstream {
    pub async fn start(name: &str) -> TestUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let up = TestUpstream {
            name: name.to_owned(),
            url: format!("http://{addr}"),
            hits: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::default(),
            seen: Arc::default(),
        };
        let handler_state = up.clone();
        let app = Router::new().fallback(move |req: Request| {
            let s = handler_state.clone();
            async move { s.handle(req).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        up
    }

    async fn handle(&self, req: Request) -> axum::response::Response {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        self.seen.lock().expect("lock").push(Seen {
            method: req.method().to_string(),
            path_and_query: path_and_query.clone(),
            headers: req.headers().clone(),
        });
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let status = StatusCode::from_u16(self.status.load(Ordering::SeqCst)).expect("status");
        (
            status,
            Json(serde_json::json!({ "instance": self.name, "path": path_and_query })),
        )
            .into_response()
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn set_delay(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A URL on which nothing listens (connection refused).
pub async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// A gateway served with [`marketprism_gateway::serve`] on 127.0.0.1:0; stops on drop.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub url: String,
    _stop: oneshot::Sender<()>,
}

impl TestGateway {
    pub async fn start(
        config: GatewayConfig,
        upstreams: Arc<dyn Upstreams>,
        events: Arc<dyn EventSource>,
    ) -> TestGateway {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let result = marketprism_gateway::serve(listener, config, upstreams, events, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(e) = result {
                eprintln!("gateway failed: {e}");
            }
        });
        TestGateway {
            addr,
            url: format!("http://{addr}"),
            _stop: stop,
        }
    }
}

/// A plain HTTP client for the tests.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Gateway config for proxy tests: no auth, no rate limits, fast timeouts.
pub fn open_config() -> GatewayConfig {
    let mut c = GatewayConfig::default()
        .without_auth()
        .without_rate_limits();
    c.proxy.timeout_ms = 2_000;
    c.proxy.connect_timeout_ms = 500;
    c
}
