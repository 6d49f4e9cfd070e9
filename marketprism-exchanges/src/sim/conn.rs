//! The per-connection loop shared by all venues: subscriptions are the protocol's business
//! ([`Protocol`]); this loop forwards market updates, runs keep-alive timers, and carries
//! out connection faults (drop, stall, malformed frame, shutdown notice, max lifetime).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};

use super::faults::ConnCmd;
use super::market::Update;
use super::{Shared, binance, deribit, lock, okx};
use crate::Venue;

const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// What a connection tells the world about itself (for stats and symbol-targeted faults).
#[derive(Debug)]
pub(crate) struct ConnInfo {
    pub(crate) path: String,
    pub(crate) started: Instant,
    pub(crate) subscriptions: Vec<String>,
    pub(crate) symbols: BTreeSet<String>,
    pub(crate) frames_sent: u64,
}

/// A registered connection.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub(crate) info: Arc<Mutex<ConnInfo>>,
    pub(crate) cmd: mpsc::Sender<ConnCmd>,
}

/// Something to send.
#[derive(Debug)]
pub(crate) enum Out {
    Text(String),
    Ping,
    Close(u16, String),
}

/// What a protocol handler sees of its connection.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) info: &'a Mutex<ConnInfo>,
    pub(crate) id: u64,
}

impl Ctx<'_> {
    /// Records the connection's subscriptions (stream names) and their symbols.
    pub(crate) fn set_subscriptions(&self, subs: Vec<String>, symbols: BTreeSet<String>) {
        let mut i = lock(self.info);
        i.subscriptions = subs;
        i.symbols = symbols;
    }
}

/// A venue's WebSocket protocol.
pub(crate) trait Protocol: Send + 'static {
    /// Frames to send right after the upgrade.
    fn on_open(&mut self, _ctx: &Ctx<'_>) -> Vec<Out> {
        Vec::new()
    }
    /// A text frame from the client.
    fn on_text(&mut self, text: &str, ctx: &Ctx<'_>) -> Vec<Out>;
    /// A market update; push what this connection should receive.
    fn on_update(&mut self, update: &Update, ctx: &Ctx<'_>, out: &mut Vec<Out>);
    /// The shutdown announcement.
    fn shutdown_notice(&mut self, ctx: &Ctx<'_>) -> Vec<Out>;
    /// When [`on_timer`](Protocol::on_timer) wants to run next.
    fn timer(&self) -> Option<Instant> {
        None
    }
    /// Keep-alive work (pings, heartbeats, timeouts).
    fn on_timer(&mut self, _now: Instant, _ctx: &Ctx<'_>) -> Vec<Out> {
        Vec::new()
    }
    /// A pong arrived.
    fn on_pong(&mut self) {}
}

/// Fallback route: WebSocket upgrade on any path, else 404.
pub(crate) async fn ws_or_404(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &shared).await {
        Ok(ws) => ws,
        Err(_) => {
            let body = serde_json::json!({"code": -1, "msg": format!("sim: no route for {path}")});
            return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
        }
    };
    let full = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    match shared.config.venue {
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
            let proto = binance::BinanceWs::new(&shared, &path, &query);
            ws.on_upgrade(move |socket| run(socket, shared, proto, full))
        }
        Venue::Okx => {
            let proto = okx::OkxWs::new(&shared);
            ws.on_upgrade(move |socket| run(socket, shared, proto, full))
        }
        Venue::Deribit => {
            let proto = deribit::DeribitWs::new(&shared);
            ws.on_upgrade(move |socket| run(socket, shared, proto, full))
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

enum Flow {
    Continue,
    /// Close politely (frame already sent or not wanted).
    Stop,
}

async fn send(socket: &mut WebSocket, info: &Mutex<ConnInfo>, outs: Vec<Out>) -> Flow {
    for out in outs {
        let (msg, stop) = match out {
            Out::Text(t) => (Message::Text(t.into()), false),
            Out::Ping => (Message::Ping(axum::body::Bytes::from_static(b"sim")), false),
            Out::Close(code, reason) => (
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                true,
            ),
        };
        match tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await {
            Ok(Ok(())) => lock(info).frames_sent += 1,
            _ => return Flow::Stop,
        }
        if stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Runs one connection until it closes.
pub(crate) async fn run<P: Protocol>(
    mut socket: WebSocket,
    shared: Arc<Shared>,
    mut proto: P,
    path: String,
) {
    let id = shared
        .next_conn
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let (cmd_tx, mut cmd_rx) = mpsc::channel(16);
    let started = Instant::now();
    let info = Arc::new(Mutex::new(ConnInfo {
        path,
        started,
        subscriptions: Vec::new(),
        symbols: BTreeSet::new(),
        frames_sent: 0,
    }));
    // Subscribe to updates before anything else, so snapshots taken later are consistent.
    let mut rx = shared.tx.subscribe();
    lock(&shared.conns).insert(
        id,
        ConnEntry {
            info: info.clone(),
            cmd: cmd_tx,
        },
    );
    let mut lifetime = shared.lifetime.subscribe();
    tracing::debug!(id, "sim: connection opened");
    let ctx = Ctx {
        shared: &shared,
        info: &info,
        id,
    };
    let mut stalled_until: Option<Instant> = None;
    let mut close_at: Option<Instant> = None;
    let grace = shared.config.shutdown_grace;
    let mut flow = send(&mut socket, &info, proto.on_open(&ctx)).await;
    while let Flow::Continue = flow {
        if let Some(until) = stalled_until {
            // Stalled: read nothing (so no pong), send nothing, drop market data.
            tokio::select! {
                _ = shared.cancel.cancelled() => flow = Flow::Stop,
                _ = sleep_until(until) => stalled_until = None,
                cmd = cmd_rx.recv() => match cmd {
                    Some(ConnCmd::Drop) | None => return unregister(&shared, id),
                    Some(ConnCmd::Stall(d)) => stalled_until = Some(until.max(Instant::now() + d)),
                    Some(_) => {}
                },
                r = rx.recv() => if let Err(broadcast::error::RecvError::Closed) = r { flow = Flow::Stop },
            }
            continue;
        }
        let deadline = (*lifetime.borrow()).map(|d| started + d);
        let timer = proto.timer();
        flow = tokio::select! {
            _ = shared.cancel.cancelled() => send(&mut socket, &info, vec![Out::Close(1001, "simulator shutting down".into())]).await,
            _ = sleep_opt(deadline) => send(&mut socket, &info, vec![Out::Close(1000, "max connection lifetime reached".into())]).await,
            _ = sleep_opt(close_at) => send(&mut socket, &info, vec![Out::Close(1001, "server shutdown".into())]).await,
            _ = sleep_opt(timer) => {
                let outs = proto.on_timer(Instant::now(), &ctx);
                send(&mut socket, &info, outs).await
            }
            _ = lifetime.changed() => Flow::Continue,
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let outs = proto.on_text(t.as_str(), &ctx);
                    send(&mut socket, &info, outs).await
                }
                Some(Ok(Message::Pong(_))) => { proto.on_pong(); Flow::Continue }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Flow::Stop,
                Some(Ok(_)) => Flow::Continue,
            },
            r = rx.recv() => match r {
                Ok(u) => {
                    let mut outs = Vec::new();
                    proto.on_update(&u, &ctx, &mut outs);
                    send(&mut socket, &info, outs).await
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(id, n, "sim: slow connection dropped");
                    send(&mut socket, &info, vec![Out::Close(1008, format!("slow consumer: {n} updates behind"))]).await
                }
                Err(broadcast::error::RecvError::Closed) => Flow::Stop,
            },
            cmd = cmd_rx.recv() => match cmd {
                Some(ConnCmd::Drop) | None => return unregister(&shared, id),
                Some(ConnCmd::Stall(d)) => { stalled_until = Some(Instant::now() + d); Flow::Continue }
                Some(ConnCmd::Malformed) => send(&mut socket, &info, vec![Out::Text(MALFORMED.into())]).await,
                Some(ConnCmd::Shutdown) => {
                    close_at = Some(Instant::now() + grace);
                    let outs = proto.shutdown_notice(&ctx);
                    send(&mut socket, &info, outs).await
                }
            },
        };
    }
    unregister(&shared, id);
}

/// The malformed frame: truncated JSON.
pub(crate) const MALFORMED: &str = "{\"sim\":\"malformed frame\",\"data\":[1,2";

fn unregister(shared: &Shared, id: u64) {
    lock(&shared.conns).remove(&id);
    tracing::debug!(id, "sim: connection closed");
}
