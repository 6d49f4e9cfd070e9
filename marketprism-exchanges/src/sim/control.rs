//! Control and stats routes, and the REST middleware (counting, Binance weights, injected
//! rate limits).
//!
//! | route | body / answer |
//! |---|---|
//! | `POST /_sim/faults` | a [`Fault`](super::Fault) or an array of them → `{"injected":n,"targets":m}` |
//! | `POST /_sim/pause`, `POST /_sim/resume` | → `{"paused":bool}` |
//! | `GET /_sim/stats` | [`SimStats`] |
//! | `GET /_sim/book?symbol=X[&sequence=N][&depth=D]` | [`TruthBook`] (404 if unknown / out of history) |
//! | `GET /_sim/trades?symbol=X` | `{"symbol":"X","ids":[…],"truncated":false}` |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::faults::{self, Fault};
use super::{Shared, lock, now_ms};
use crate::{Channel, Venue};

/// Statistics of a running simulator (`GET /_sim/stats`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimStats {
    /// Venue name.
    pub venue: String,
    /// True while paused.
    pub paused: bool,
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// Per native symbol.
    pub symbols: BTreeMap<String, SymbolStats>,
    /// Open connections.
    pub connections: Vec<ConnStats>,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// REST calls.
    pub rest: RestStats,
    /// Faults injected.
    pub faults_injected: u64,
    /// Replayed lines (replay mode).
    pub replayed: u64,
}

/// Per-symbol statistics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SymbolStats {
    /// Events produced per channel (`book` = diffs, `trades`, `bbo`, `ticker`, `funding`, …).
    pub events: BTreeMap<Channel, u64>,
    /// Trades produced.
    pub trades: u64,
    /// First trade id.
    pub first_trade_id: Option<u64>,
    /// Last trade id (ids are contiguous: `last - first + 1 == trades`).
    pub last_trade_id: Option<u64>,
    /// All trade ids when there are at most 100 (else fetch `/_sim/trades`).
    pub trade_ids: Option<Vec<u64>>,
    /// Id of the last diff (Binance `u`, OKX `seqId`, Deribit `change_id`).
    pub sequence: u64,
    /// `lastUpdateId` a REST snapshot would carry now.
    pub snapshot_id: u64,
}

/// One open connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnStats {
    /// Id (target of connection faults).
    pub id: u64,
    /// Path and query of the upgrade request.
    pub path: String,
    /// Subscribed streams / channels, in the venue's naming.
    pub subscriptions: Vec<String>,
    /// Age in milliseconds.
    pub age_ms: u64,
    /// Frames sent.
    pub frames_sent: u64,
}

/// REST counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestStats {
    /// Calls received.
    pub calls: u64,
    /// Calls answered with an injected 429/418.
    pub rate_limited: u64,
    /// Calls per path.
    pub by_path: BTreeMap<String, u64>,
    /// Binance weight used in the current minute.
    pub weight_1m: u64,
    /// Minute (epoch ms / 60000) of `weight_1m`.
    #[serde(skip)]
    pub(crate) minute: i64,
}

/// The truth book of a symbol (`GET /_sim/book`); prices and sizes as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthBook {
    /// Native symbol.
    pub symbol: String,
    /// Id of the diff after which this is the book.
    pub sequence: u64,
    /// Bids, best first.
    pub bids: Vec<(Decimal, Decimal)>,
    /// Asks, best first.
    pub asks: Vec<(Decimal, Decimal)>,
}

pub(crate) fn stats(shared: &Shared) -> SimStats {
    let symbols = {
        let m = lock(&shared.market);
        m.symbols
            .iter()
            .map(|s| {
                let n = s.stats.count;
                let st = SymbolStats {
                    events: s.events.clone(),
                    trades: n,
                    first_trade_id: s.trade_ids.first().copied(),
                    last_trade_id: (n > 0).then_some(s.stats.last_id),
                    trade_ids: (s.trade_ids.len() <= 100).then(|| s.trade_ids.clone()),
                    sequence: s.last_id(),
                    snapshot_id: s.snapshot_id(),
                };
                (s.symbol.to_string(), st)
            })
            .collect()
    };
    let connections = lock(&shared.conns)
        .iter()
        .map(|(id, e)| {
            let i = lock(&e.info);
            ConnStats {
                id: *id,
                path: i.path.clone(),
                subscriptions: i.subscriptions.clone(),
                age_ms: i.started.elapsed().as_millis() as u64,
                frames_sent: i.frames_sent,
            }
        })
        .collect();
    SimStats {
        venue: shared.config.venue.to_string(),
        paused: shared.paused.load(Ordering::Relaxed),
        uptime_ms: shared.started.elapsed().as_millis() as u64,
        symbols,
        connections,
        connections_total: shared.next_conn.load(Ordering::Relaxed),
        rest: lock(&shared.rest).clone(),
        faults_injected: shared.faults_injected.load(Ordering::Relaxed),
        replayed: shared.replayed.load(Ordering::Relaxed),
    }
}

pub(crate) fn truth_book(
    shared: &Shared,
    symbol: &str,
    sequence: Option<u64>,
) -> Option<TruthBook> {
    let m = lock(&shared.market);
    let s = m.get(symbol)?;
    let seq = sequence.unwrap_or(s.last_id());
    let top = s.book_at(seq)?;
    let norm = |v: Vec<(Decimal, Decimal)>| {
        v.into_iter()
            .map(|(p, q)| (p.normalize(), q.normalize()))
            .collect()
    };
    Some(TruthBook {
        symbol: symbol.to_owned(),
        sequence: seq,
        bids: norm(top.bids),
        asks: norm(top.asks),
    })
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/faults", post(post_faults))
        .route("/_sim/pause", post(pause))
        .route("/_sim/resume", post(resume))
        .route("/_sim/stats", get(get_stats))
        .route("/_sim/book", get(get_book))
        .route("/_sim/trades", get(get_trades))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Fault),
    Many(Vec<Fault>),
}

async fn post_faults(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let faults = match serde_json::from_slice::<OneOrMany>(&body) {
        Ok(OneOrMany::One(f)) => vec![f],
        Ok(OneOrMany::Many(v)) => v,
        Err(e) => {
            let body = serde_json::json!({"error": format!("invalid fault: {e}")});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let targets: usize = faults.iter().map(|f| faults::inject(&shared, f)).sum();
    Json(serde_json::json!({"injected": faults.len(), "targets": targets})).into_response()
}

async fn pause(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    shared.paused.store(true, Ordering::Relaxed);
    Json(serde_json::json!({"paused": true}))
}

async fn resume(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    shared.paused.store(false, Ordering::Relaxed);
    Json(serde_json::json!({"paused": false}))
}

async fn get_stats(State(shared): State<Arc<Shared>>) -> Json<SimStats> {
    Json(stats(&shared))
}

#[derive(Deserialize)]
struct BookQuery {
    symbol: String,
    sequence: Option<u64>,
    depth: Option<usize>,
}

async fn get_book(State(shared): State<Arc<Shared>>, Query(q): Query<BookQuery>) -> Response {
    match truth_book(&shared, &q.symbol, q.sequence) {
        Some(mut b) => {
            if let Some(d) = q.depth {
                b.bids.truncate(d);
                b.asks.truncate(d);
            }
            Json(b).into_response()
        }
        None => {
            let body = serde_json::json!({"error": "unknown symbol or sequence outside the history", "symbol": q.symbol});
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct SymbolQuery {
    symbol: String,
}

async fn get_trades(State(shared): State<Arc<Shared>>, Query(q): Query<SymbolQuery>) -> Response {
    let m = lock(&shared.market);
    match m.get(&q.symbol) {
        Some(s) => Json(serde_json::json!({"symbol": q.symbol, "ids": s.trade_ids, "truncated": s.trade_ids_truncated})).into_response(),
        None => (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "unknown symbol"}))).into_response(),
    }
}

/// Binance request weight of a path (depth weights by limit; 1 elsewhere, 20 for spot
/// exchangeInfo).
fn weight(venue: Venue, path: &str, query: &str) -> u64 {
    let limit = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("limit="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(100);
    match (venue, path) {
        (Venue::BinanceSpot, "/api/v3/depth") => match limit {
            0..=100 => 5,
            101..=500 => 25,
            501..=1000 => 50,
            _ => 250,
        },
        (_, p) if p.ends_with("/depth") => match limit {
            0..=50 => 2,
            51..=100 => 5,
            101..=500 => 10,
            _ => 20,
        },
        (Venue::BinanceSpot, "/api/v3/exchangeInfo") => 20,
        _ => 1,
    }
}

/// REST middleware: counts calls and weight, answers injected rate limits, adds
/// `x-mbx-used-weight-1m` on Binance venues.
pub(crate) async fn rest_layer(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let venue = shared.config.venue;
    let path = req.uri().path().to_owned();
    let used = {
        let mut r = lock(&shared.rest);
        r.calls += 1;
        *r.by_path.entry(path.clone()).or_insert(0) += 1;
        let minute = now_ms() / 60_000;
        if r.minute != minute {
            r.minute = minute;
            r.weight_1m = 0;
        }
        r.weight_1m += weight(venue, &path, req.uri().query().unwrap_or(""));
        r.weight_1m
    };
    let binance = matches!(
        venue,
        Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm
    );
    let mut resp = match faults::take_rest_fault(&shared) {
        Some(f) => {
            lock(&shared.rest).rate_limited += 1;
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let body = match venue {
                Venue::Okx => {
                    serde_json::json!({"code": "50011", "msg": "Too Many Requests", "data": []})
                }
                Venue::Deribit => {
                    serde_json::json!({"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"}, "testnet": false})
                }
                _ if f.status == 418 => {
                    serde_json::json!({"code": -1003, "msg": format!("Way too many requests; IP banned until {}. Please use the websocket for live updates to avoid bans.", now_ms() + f.retry_after_s as i64 * 1000)})
                }
                _ => {
                    serde_json::json!({"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE. Please use the websocket for live updates to avoid polling the API."})
                }
            };
            let mut resp = (status, Json(body)).into_response();
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(f.retry_after_s));
            resp
        }
        None => next.run(req).await,
    };
    if binance {
        resp.headers_mut()
            .insert("x-mbx-used-weight-1m", HeaderValue::from(used));
        resp.headers_mut()
            .insert("x-mbx-used-weight", HeaderValue::from(used));
    }
    resp
}
