//! Live fan-out over WebSocket: `GET /ws/v1/stream?subjects=trade.binance.*.BTC-USDT,book.okx.>`.
//!
//! Protocol (any language; see `docs/gateway.md`):
//! 1. Connect with credentials in `Authorization: Bearer …` or `X-API-Key` (role `read`).
//!    `subjects` is a comma-separated list of NATS subject patterns (the parameter may also
//!    repeat); at most `ws.max_subjects`. A subject with a control character, invalid UTF-8
//!    (percent-encoded), an empty token or an empty entry is refused with 400 and the reason.
//!    One client IP may hold `ws.max_connections_per_ip` connections; more get 429.
//! 2. The first text frame is `{"type":"subscribed","subjects":[…]}`: from then on every event
//!    published on a matching subject is delivered.
//! 3. Each further text frame is one normalized `MarketEvent` as JSON (`type` tag: `trade`,
//!    `book_snapshot`, `book_delta`, `bbo`, `status`, …). Overlapping patterns deliver an event
//!    once per matching pattern.
//! 4. Client → server frames are ignored (pings are answered).
//!
//! Each client has a bounded buffer of `ws.client_buffer` events. When it is full the client
//! is too slow: the gateway stops sending events and closes with code 1008 and reason
//! `client too slow` (the socket is dropped if even the close frame cannot be written within
//! `ws.close_timeout_ms`). Sources are never blocked by a client: deliveries use `try_send`.
//! When the gateway shuts down, or the source ends, clients are closed with 1001.

mod query;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError, atomic::Ordering},
    time::Duration,
};

use axum::{
    extract::{
        FromRequestParts, Request, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
    },
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use marketprism_core::subject::SubjectPattern;
use tokio::sync::{Notify, mpsc};

use crate::{GatewayError, GatewayState, events::EventStream, ratelimit::client_ip};

/// The close reason sent to a client whose buffer overflowed.
pub const TOO_SLOW_REASON: &str = "client too slow";

/// Live connections per client IP.
#[derive(Debug, Default)]
pub(crate) struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    /// Counts one more connection from `ip` unless it already holds `limit` (0: no limit).
    fn acquire(&self, ip: IpAddr, limit: usize) -> bool {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, ip: IpAddr) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

/// Decrements the live-client counts when the connection ends, however it ends.
struct ClientGuard {
    state: Arc<GatewayState>,
    /// The IP counted in [`PerIp`], once it was.
    ip: Option<IpAddr>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.state.stats.ws_clients.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("marketprism_gateway_ws_clients").decrement(1.0);
        if let Some(ip) = self.ip {
            self.state.ws_per_ip.release(ip);
        }
    }
}

/// What a refusal says about connecting (appended to each reason).
const HOW: &str = "connect with a WebSocket client to ws://HOST/ws/v1/stream?subjects=trade.%3E (subject patterns percent-encoded: `>` is %3E)";

/// Any method but `GET` on `/ws/v1/stream`: 405 with a body saying how to connect.
pub(crate) async fn wrong_method() -> Response {
    let mut r = GatewayError::BadRequest {
        message: format!("/ws/v1/stream accepts only GET with a WebSocket upgrade; {HOW}"),
    }
    .into_response();
    *r.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    r.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("GET"),
    );
    r
}

/// `GET /ws/v1/stream`. Every refusal has a JSON body saying why.
pub(crate) async fn handler(
    State(state): State<Arc<GatewayState>>,
    req: Request,
) -> Result<Response, GatewayError> {
    let ip = client_ip(&req, &state.trusted_proxies);
    let (mut parts, _body) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(e) => {
            return Err(GatewayError::BadRequest {
                message: format!("not a WebSocket handshake ({}); {HOW}", e.body_text()),
            });
        }
    };
    let ws = &state.config.ws;
    let patterns = query::patterns(parts.uri.query().unwrap_or_default(), ws.max_subjects)?;
    let previous = state.stats.ws_clients.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!("marketprism_gateway_ws_clients").increment(1.0);
    let mut guard = ClientGuard {
        state: Arc::clone(&state),
        ip: None,
    };
    if previous >= ws.max_clients {
        return Err(GatewayError::TooManyClients {
            limit: ws.max_clients,
        });
    }
    // Without a peer address (socket-less tests) there is nothing to count by.
    if let Some(ip) = ip {
        if !state.ws_per_ip.acquire(ip, ws.max_connections_per_ip) {
            metrics::counter!("marketprism_gateway_rate_limited_total", "scope" => "ws_ip")
                .increment(1);
            return Err(GatewayError::TooManyConnectionsPerIp {
                limit: ws.max_connections_per_ip,
            });
        }
        guard.ip = Some(ip);
    }
    // Subscribe before upgrading, so a failing source is an HTTP 503, and so the
    // subscription is live when the client reads the `subscribed` frame.
    let mut streams = Vec::with_capacity(patterns.len());
    for p in &patterns {
        streams.push(state.events.subscribe(p, ws.client_buffer).await?);
    }
    let events = futures::stream::select_all(streams).boxed();
    let names: Vec<&str> = patterns.iter().map(SubjectPattern::as_str).collect();
    let hello = serde_json::json!({ "type": "subscribed", "subjects": names }).to_string();
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            run(socket, events, hello, &guard.state).await;
            drop(guard);
        })
        .into_response())
}

enum End {
    TooSlow,
    Shutdown,
    SourceEnded,
    ClientGone,
}

async fn run(socket: WebSocket, events: EventStream, hello: String, state: &GatewayState) {
    let buffer = state.config.ws.client_buffer.max(1);
    let close_timeout = Duration::from_millis(state.config.ws.close_timeout_ms);
    let (tx, mut rx) = mpsc::channel::<Bytes>(buffer);
    let slow = Arc::new(Notify::new());
    let forwarder = tokio::spawn(forward(events, tx, Arc::clone(&slow)));
    let (mut sink, mut incoming) = socket.split();
    let mut shutdown = state.shutdown.subscribe();

    let mut end = End::ClientGone;
    if sink.send(Message::Text(hello.into())).await.is_ok() {
        end = loop {
            tokio::select! {
                biased;
                () = slow.notified() => break End::TooSlow,
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break End::Shutdown,
                next = rx.recv() => {
                    let Some(bytes) = next else { break End::SourceEnded };
                    let frame = match Utf8Bytes::try_from(bytes.clone()) {
                        Ok(text) => Message::Text(text),
                        Err(_) => Message::Binary(bytes),
                    };
                    // A stalled client blocks this send; the overflow signal still wins.
                    tokio::select! {
                        biased;
                        () = slow.notified() => break End::TooSlow,
                        sent = sink.send(frame) => if sent.is_err() { break End::ClientGone },
                    }
                    state.stats.ws_events_sent.fetch_add(1, Ordering::Relaxed);
                }
                message = incoming.next() => match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break End::ClientGone,
                    Some(Ok(_)) => {}
                },
            }
        };
    }
    forwarder.abort();
    let close = |code, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    match end {
        End::TooSlow => {
            state
                .stats
                .ws_slow_disconnects
                .fetch_add(1, Ordering::Relaxed);
            metrics::counter!("marketprism_gateway_ws_slow_disconnects_total").increment(1);
            tracing::info!("live client too slow: disconnected");
            let _ = tokio::time::timeout(
                close_timeout,
                sink.send(close(close_code::POLICY, TOO_SLOW_REASON)),
            )
            .await;
        }
        End::SourceEnded | End::Shutdown => {
            let reason = if matches!(end, End::Shutdown) {
                "gateway shutting down"
            } else {
                "event source closed"
            };
            let _ = tokio::time::timeout(close_timeout, sink.send(close(close_code::AWAY, reason)))
                .await;
        }
        End::ClientGone => {}
    }
}

/// Moves events from the source into the client's buffer without ever waiting: a full buffer
/// ends the client (signalled on `slow`), so the source is never held back.
async fn forward(mut events: EventStream, tx: mpsc::Sender<Bytes>, slow: Arc<Notify>) {
    while let Some(event) = events.next().await {
        match tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                slow.notify_one();
                return;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_counts_and_releases() {
        let per_ip = PerIp::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(per_ip.acquire(a, 2));
        assert!(per_ip.acquire(a, 2));
        assert!(!per_ip.acquire(a, 2));
        assert!(per_ip.acquire(b, 2));
        per_ip.release(a);
        assert!(per_ip.acquire(a, 2));
        per_ip.release(b);
        assert!(!per_ip.0.lock().expect("lock").contains_key(&b));
        assert!(per_ip.acquire(b, 0), "0 is no limit");
    }
}
