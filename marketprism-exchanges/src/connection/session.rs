//! One WebSocket session: connect, subscribe, read frames into the normalizer, carry out its
//! actions (snapshots, resubscribes, rotation requests, replies), keep alive, detect stalls.

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use marketprism_core::model::{MarketEvent, Status, StatusKind, now_ns};
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior},
};
use tokio_tungstenite::tungstenite::Message;

use super::{CaptureTx, SessionCmd, SessionMsg};
use crate::{
    Action, Exchange, ExchangeError, FrameKind, InstrumentMap, Keepalive, Output, RestKind,
    Subscription,
    capture::CaptureRecord,
    transport::{RestClient, connect_ws},
};

/// What a session needs; cloned from the supervisor for each new session.
#[derive(Clone)]
pub(crate) struct SessionParams {
    pub(crate) exchange: Arc<dyn Exchange>,
    /// The exchange's name, once (logs, metrics, capture, errors).
    pub(crate) venue: Arc<str>,
    pub(crate) label: String,
    pub(crate) ws_base: String,
    pub(crate) subscriptions: Arc<[Subscription]>,
    pub(crate) instruments: InstrumentMap,
    pub(crate) book_depth: Option<usize>,
    pub(crate) rest: RestClient,
    pub(crate) stall_timeout: Duration,
    pub(crate) capture: Option<CaptureTx>,
}

type SnapshotResult = (String, Result<String, ExchangeError>);

/// Runs one session to its end, reporting through `to_supervisor`.
pub(crate) async fn run_session(
    id: u64,
    params: SessionParams,
    to_supervisor: mpsc::Sender<SessionMsg>,
    mut commands: mpsc::Receiver<SessionCmd>,
) {
    let conn = format!("{}.{id}", params.label);
    let result = session_inner(id, &conn, &params, &to_supervisor, &mut commands).await;
    let _ = to_supervisor.send(SessionMsg::Ended(id, result)).await;
}

async fn session_inner(
    id: u64,
    conn: &str,
    p: &SessionParams,
    to_supervisor: &mpsc::Sender<SessionMsg>,
    commands: &mut mpsc::Receiver<SessionCmd>,
) -> Result<(), ExchangeError> {
    let ex = &*p.exchange;
    let venue = &p.venue;
    let url = ex.ws_url(&p.ws_base, &p.subscriptions);
    let mut ws = tokio::time::timeout(Duration::from_secs(10), connect_ws(&url))
        .await
        .map_err(|_| ExchangeError::Stalled {
            venue: venue.to_string(),
            silent_for: Duration::from_secs(10),
        })??;
    let send = |text: String| Message::Text(text.into());
    let mut request_id = id.saturating_mul(1_000_000);
    for frame in ex.on_connect_frames(request_id) {
        ws.send(send(frame)).await.map_err(|e| ws_err(&url, e))?;
    }
    request_id += 1;
    // Subscribe messages within the venue's per-second limit.
    let spacing = Duration::from_secs(1) / ex.max_subscribe_messages_per_sec().max(1);
    let frames = ex.subscribe_frames(&p.subscriptions, request_id);
    request_id += frames.len() as u64 + 1;
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(spacing).await;
        }
        ws.send(send(frame)).await.map_err(|e| ws_err(&url, e))?;
    }
    let exchange = ex.exchange_id();
    // Connection-wide status events carry the market of the connection's first instrument.
    let market = p
        .subscriptions
        .first()
        .and_then(|s| p.instruments.by_native(&s.native_symbol))
        .map_or(marketprism_core::model::MarketType::Spot, |i| i.market);
    let status =
        |kind: StatusKind| MarketEvent::Status(Status::new(exchange, market, None, now_ns(), kind));
    forward(
        to_supervisor,
        id,
        vec![status(StatusKind::Connected {
            connection: conn.to_owned(),
        })],
    )
    .await?;

    let mut normalizer = ex.normalizer(p.instruments.clone(), p.book_depth);
    let mut out = Output::new();
    let (snap_tx, mut snap_rx) = mpsc::channel::<SnapshotResult>(64);
    let mut last_rx = Instant::now();
    let mut live = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250).min(p.stall_timeout / 4));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_ping = Instant::now();
    let mut books_emitted = false;

    let end: Result<(), ExchangeError> = loop {
        out.clear();
        tokio::select! {
            frame = ws.next() => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => break Err(ws_err(&url, e)),
                    None => break Err(ExchangeError::Closed { venue: venue.to_string(), reason: "end of stream".into() }),
                };
                last_rx = Instant::now();
                let text = match frame {
                    Message::Text(t) => t,
                    Message::Close(c) => {
                        let reason = c.map_or_else(|| "close frame".to_owned(), |c| format!("{} {}", c.code, c.reason));
                        break Err(ExchangeError::Closed { venue: venue.to_string(), reason });
                    }
                    // Pings are answered by tungstenite itself; pongs and binary carry no data.
                    _ => continue,
                };
                let ts = now_ns();
                if let Some(cap) = &p.capture {
                    cap.send(CaptureRecord::Ws { ts, venue: Arc::clone(venue), conn: conn.to_owned(), frame: text.as_str().to_owned() }).await;
                }
                match normalizer.on_frame(text.as_str(), ts, &mut out) {
                    Ok(FrameKind::Data) if !live => {
                        live = true;
                        let _ = to_supervisor.send(SessionMsg::Live(id)).await;
                    }
                    Ok(FrameKind::ExchangeError { code, message }) => {
                        metrics::counter!("marketprism_exchange_error_frames_total", "venue" => venue.to_string()).increment(1);
                        tracing::warn!(%venue, conn, code, message, "exchange error frame");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        metrics::counter!("marketprism_exchange_errors_total", "venue" => venue.to_string(), "kind" => e.kind()).increment(1);
                        tracing::warn!(%venue, conn, error = %e, "frame rejected");
                    }
                }
            }
            Some((native_symbol, result)) = snap_rx.recv() => {
                match result {
                    Ok(body) => {
                        let ts = now_ns();
                        let kind = RestKind::DepthSnapshot { native_symbol };
                        if let Some(cap) = &p.capture {
                            cap.send(CaptureRecord::Rest { ts, venue: Arc::clone(venue), conn: conn.to_owned(), request: kind.clone(), body: body.clone() }).await;
                        }
                        if let Err(e) = normalizer.on_rest(&kind, &body, ts, &mut out) {
                            tracing::warn!(%venue, conn, error = %e, "snapshot rejected");
                        }
                    }
                    Err(e) => {
                        // The book stays unsynced (its resync status was already emitted); try again.
                        tracing::warn!(%venue, conn, symbol = native_symbol, error = %e, "snapshot failed; retrying");
                        spawn_snapshot(p, native_symbol, snap_tx.clone(), true);
                    }
                }
            }
            cmd = commands.recv() => match cmd {
                Some(SessionCmd::EmitBooks) => {
                    normalizer.emit_books(now_ns(), &mut out);
                    books_emitted = true;
                }
                Some(SessionCmd::Close) | None => {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
            },
            _ = tick.tick() => {
                let silent = last_rx.elapsed();
                if silent >= p.stall_timeout {
                    break Err(ExchangeError::Stalled { venue: venue.to_string(), silent_for: silent });
                }
                let ping = match ex.keepalive() {
                    Keepalive::TextPing { idle } if silent >= idle && last_ping.elapsed() >= idle => Some("ping"),
                    Keepalive::Periodic { interval, frame } if last_ping.elapsed() >= interval => Some(frame),
                    _ => None,
                };
                if let Some(frame) = ping {
                    last_ping = Instant::now();
                    ws.send(send(frame.to_owned())).await.map_err(|e| ws_err(&url, e))?;
                }
            }
        }
        for action in out.actions.drain(..) {
            match action {
                Action::FetchSnapshot { native_symbol } => {
                    spawn_snapshot(p, native_symbol, snap_tx.clone(), false)
                }
                Action::Resubscribe {
                    native_symbol,
                    channel,
                } => {
                    let sub = [Subscription::new(channel, native_symbol)];
                    for f in ex
                        .unsubscribe_frames(&sub, request_id)
                        .into_iter()
                        .chain(ex.subscribe_frames(&sub, request_id + 1))
                    {
                        ws.send(send(f)).await.map_err(|e| ws_err(&url, e))?;
                    }
                    request_id += 2;
                }
                Action::Rotate { reason } => {
                    let _ = to_supervisor.send(SessionMsg::Rotate(id, reason)).await;
                }
                Action::Send(text) => ws.send(send(text)).await.map_err(|e| ws_err(&url, e))?,
            }
        }
        if !out.events.is_empty() {
            forward(to_supervisor, id, std::mem::take(&mut out.events)).await?;
        }
        if std::mem::take(&mut books_emitted) {
            let _ = to_supervisor.send(SessionMsg::BooksEmitted(id)).await;
        }
    };

    // Unplanned end: every book of this session is unsynced from here on.
    let reason = end
        .as_ref()
        .err()
        .map_or_else(String::new, ToString::to_string);
    out.clear();
    let ts = now_ns();
    normalizer.on_disconnect(ts, &mut out);
    out.events.push(status(StatusKind::Disconnected {
        connection: conn.to_owned(),
        reason: reason.clone(),
    }));
    if let Some(cap) = &p.capture {
        cap.send(CaptureRecord::Disconnected {
            ts,
            venue: Arc::clone(venue),
            conn: conn.to_owned(),
            reason,
        })
        .await;
    }
    let _ = forward(to_supervisor, id, std::mem::take(&mut out.events)).await;
    end
}

fn ws_err(url: &str, e: tokio_tungstenite::tungstenite::Error) -> ExchangeError {
    ExchangeError::WebSocket {
        url: url.to_owned(),
        source: Box::new(e),
    }
}

async fn forward(
    to: &mpsc::Sender<SessionMsg>,
    id: u64,
    events: Vec<MarketEvent>,
) -> Result<(), ExchangeError> {
    to.send(SessionMsg::Events(id, events))
        .await
        .map_err(|_| ExchangeError::Core(marketprism_core::Error::BusClosed))
}

/// Fetches a depth snapshot through the venue's weight budget; `retry` waits a backoff first.
fn spawn_snapshot(
    p: &SessionParams,
    native_symbol: String,
    tx: mpsc::Sender<SnapshotResult>,
    retry: bool,
) {
    let Some(request) = p.exchange.snapshot_request(&native_symbol) else {
        return;
    };
    let rest = p.rest.clone();
    tokio::spawn(async move {
        if retry {
            tokio::time::sleep(marketprism_core::backoff::jitter(Duration::from_secs(1))).await;
        }
        let result = rest.get(&request).await;
        let _ = tx.send((native_symbol, result)).await;
    });
}
