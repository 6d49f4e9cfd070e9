//! Live fan-out over WebSocket: `GET /ws/v1/stream?subjects=trade.binance.*.BTC-USDT,book.okx.>`.
//!
//! Protocol (any language; see `docs/gateway.md`):
//! 1. Connect with credentials in `Authorization: Bearer …` or `X-API-Key` (role `read`).
//!    `subjects` is a comma-separated list of NATS subject patterns (the parameter may also
//!    repeat); at most `ws.max_subjects`.
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

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    extract::{
        Query, State, WebSocketUpgrade,
        rejection::QueryRejection,
        ws::rejection::WebSocketUpgradeRejection,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code},
    },
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use marketprism_core::subject::SubjectPattern;
use tokio::sync::{Notify, mpsc};

use crate::{GatewayError, GatewayState, events::EventStream};

/// The close reason sent to a client whose buffer overflowed.
pub const TOO_SLOW_REASON: &str = "client too slow";

/// Parses the `subjects` parameters: comma-separated, may repeat.
fn patterns(query: &[(String, String)], max: usize) -> Result<Vec<SubjectPattern>, GatewayError> {
    let mut out: Vec<SubjectPattern> = Vec::new();
    for raw in query
        .iter()
        .filter(|(k, _)| k == "subjects" || k == "subject")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let p = SubjectPattern::new(raw).map_err(|e| GatewayError::BadRequest {
            message: e.to_string(),
        })?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(GatewayError::BadRequest {
            message: "`subjects` is required, e.g. ?subjects=trade.binance.*.BTC-USDT".to_owned(),
        });
    }
    if out.len() > max {
        return Err(GatewayError::BadRequest {
            message: format!("at most {max} subject patterns per connection"),
        });
    }
    Ok(out)
}

/// Decrements the live-client count when the connection ends, however it ends.
struct ClientGuard(Arc<GatewayState>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.stats.ws_clients.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("marketprism_gateway_ws_clients").decrement(1.0);
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
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, GatewayError> {
    let ws = &state.config.ws;
    let Query(query) = query.map_err(|e| GatewayError::BadRequest {
        message: format!("query string: {}; {HOW}", e.body_text()),
    })?;
    let patterns = patterns(&query, ws.max_subjects)?;
    let upgrade = upgrade.map_err(|e| GatewayError::BadRequest {
        message: format!("not a WebSocket handshake ({}); {HOW}", e.body_text()),
    })?;
    let previous = state.stats.ws_clients.fetch_add(1, Ordering::Relaxed);
    metrics::gauge!("marketprism_gateway_ws_clients").increment(1.0);
    let guard = ClientGuard(Arc::clone(&state));
    if previous >= ws.max_clients {
        return Err(GatewayError::TooManyClients {
            limit: ws.max_clients,
        });
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
            run(socket, events, hello, &guard.0).await;
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

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_comma_separated_and_repeated_subjects() {
        let p = patterns(
            &q(&[
                ("subjects", "trade.binance.*.BTC-USDT, book.okx.>"),
                ("subjects", "trade.binance.*.BTC-USDT"),
            ]),
            4,
        )
        .expect("valid");
        assert_eq!(p.len(), 2);
        assert!(patterns(&q(&[]), 4).is_err());
        assert!(patterns(&q(&[("subjects", "a..b")]), 4).is_err());
        assert!(patterns(&q(&[("subjects", "a,b,c")]), 2).is_err());
    }
}
