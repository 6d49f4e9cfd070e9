//! The data-storage-service HTTP API (the original system's routes, with real semantics),
//! over any [`HistoryStore`] and [`HotStore`]. Mount [`routes`] into
//! `marketprism_core::runtime::Service`.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /api/v1/storage/hot/trades` · `/hot/tickers` · `/hot/orderbooks` | writes one event or an array (model JSON; `type` may be omitted) to the hot store; `/hot/trades` also takes the original system's trade body (`amount`, `timestamp`, native symbol), translated as `docs/migration.md` says, with header `x-marketprism-translated: <count>` |
//! | `GET /api/v1/storage/hot/trades/{exchange}/{symbol}` | recent trades, newest first (`limit`, default 100) |
//! | `GET /api/v1/storage/hot/tickers/{exchange}/{symbol}` | latest ticker (404 when none) |
//! | `GET /api/v1/storage/hot/orderbooks/{exchange}/{symbol}` | top-N book |
//! | `GET /api/v1/storage/hot/latest/{type}/{exchange}/{symbol}` | latest `bbo`, `ticker`, `funding_rate`, `open_interest`, `mark_price` |
//! | `POST /api/v1/storage/cold/archive` | writes events (`{"events":[...]}` or an array) to the history store, idempotently; any other body (the original's "archive now") answers 400 with `new_form` |
//! | `GET /api/v1/storage/cold/{type}/{exchange}/{symbol}` | history: `start_time`, `end_time` (ns since epoch; `start` inclusive, `end` exclusive), `limit` (default 1000), `order` (`asc`/`desc`) |
//! | `POST /api/v1/storage/lifecycle/cleanup` | retention: `{"retention_days": N}` (or `retention_hours`, rounded up to days) |
//! | `POST /api/v1/storage/lifecycle/archive` | daily archive: `{"days_ago": N}` (default 1) seals that UTC day (ClickHouse: `OPTIMIZE … PARTITION … FINAL` per table) |
//! | `GET /api/v1/storage/stats` · `/status` · `/database/status` | counts per kind, service status, store health |
//!
//! Every route takes `market` as an optional query parameter (inferred from the symbol
//! otherwise, see [`InstrumentKey::infer`]). Invalid input answers 400 with
//! `{"error": "...", "field": "<name>"}`; an exchange-native symbol (`BTCUSDT`,
//! `BTC-USDT-SWAP`, `BTC-PERPETUAL`) is invalid input whose message names the normalized
//! form (`use the normalized symbol, e.g. BTC-USDT`), never an empty 200.

use std::{collections::HashMap, sync::Arc, time::Instant};

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use marketprism_core::{
    model::{ExchangeId, MarketEvent, MarketType, Symbol},
    sink::Sink,
};
use serde_json::{Value, json};

mod lifecycle;

use lifecycle::{archive_day, cleanup, database_status, stats, status};

use crate::{
    EventKind, StorageError,
    query::{EventQuery, HistoryStore, HotStore, InstrumentKey, Order},
};

/// A source of extra status (e.g. the pipeline's counters) shown on `/status` and `/stats`.
pub type StatusFn = Arc<dyn Fn() -> Value + Send + Sync>;

/// What the routes serve from.
#[derive(Clone)]
pub struct ApiState {
    history: Arc<dyn HistoryStore>,
    hot: Arc<dyn HotStore>,
    hot_sink: Arc<dyn Sink>,
    cold_sink: Arc<dyn Sink>,
    status: Option<StatusFn>,
    started: Instant,
}

impl ApiState {
    /// State over the given stores: hot writes go to `hot_sink`, archives to `cold_sink`.
    pub fn new(
        history: Arc<dyn HistoryStore>,
        hot: Arc<dyn HotStore>,
        hot_sink: Arc<dyn Sink>,
        cold_sink: Arc<dyn Sink>,
    ) -> Self {
        ApiState {
            history,
            hot,
            hot_sink,
            cold_sink,
            status: None,
            started: Instant::now(),
        }
    }

    /// State over one store that is sink, history and hot store at once (the embedded store).
    ///
    /// ```no_run
    /// # #[cfg(feature = "embedded")] {
    /// use std::sync::Arc;
    /// use marketprism_storage::{api::{ApiState, routes}, embedded::EmbeddedStore};
    /// let store = Arc::new(EmbeddedStore::open("store.redb").expect("open"));
    /// let router = routes(ApiState::single(store));
    /// # let _ = router; }
    /// ```
    pub fn single<S>(store: Arc<S>) -> Self
    where
        S: HistoryStore + HotStore + Sink + 'static,
    {
        ApiState::new(store.clone(), store.clone(), store.clone(), store)
    }

    /// Adds an extra status source (shown under `pipeline`).
    pub fn with_status(mut self, status: StatusFn) -> Self {
        self.status = Some(status);
        self
    }
}

/// The storage routes, to merge into the service router.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/storage/hot/trades", post(post_trades))
        .route("/api/v1/storage/hot/tickers", post(post_tickers))
        .route("/api/v1/storage/hot/orderbooks", post(post_books))
        .route(
            "/api/v1/storage/hot/trades/{exchange}/{symbol}",
            get(hot_trades),
        )
        .route(
            "/api/v1/storage/hot/tickers/{exchange}/{symbol}",
            get(hot_ticker),
        )
        .route(
            "/api/v1/storage/hot/orderbooks/{exchange}/{symbol}",
            get(hot_book),
        )
        .route(
            "/api/v1/storage/hot/latest/{kind}/{exchange}/{symbol}",
            get(hot_latest),
        )
        .route("/api/v1/storage/cold/archive", post(archive))
        .route(
            "/api/v1/storage/cold/{kind}/{exchange}/{symbol}",
            get(cold_query),
        )
        .route("/api/v1/storage/lifecycle/cleanup", post(cleanup))
        .route("/api/v1/storage/lifecycle/archive", post(archive_day))
        .route("/api/v1/storage/stats", get(stats))
        .route("/api/v1/storage/status", get(status))
        .route("/api/v1/storage/database/status", get(database_status))
        .with_state(state)
}

/// An API error: 400 naming the field, 404, or 500/503 from a store.
#[derive(Debug)]
struct ApiError(StatusCode, Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match &e {
            StorageError::InvalidInput { field, .. } => ApiError(
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string(), "field": field}),
            ),
            _ if e.is_retryable() => ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": e.to_string()}),
            ),
            _ => ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": e.to_string()}),
            ),
        }
    }
}

/// An event type from a path: its name, or a plural / legacy alias of the seeds' API.
fn event_kind(name: &str) -> Result<EventKind, ApiError> {
    let name = match name {
        "trades" => "trade",
        "tickers" => "ticker",
        "funding" | "funding_rates" => "funding_rate",
        "orderbook" | "orderbooks" | "book" => "book_snapshot",
        other => other,
    };
    name.parse()
        .map_err(|e: marketprism_core::Error| bad("type", format!("{e}")))
}

fn bad(field: &'static str, message: impl Into<String>) -> ApiError {
    StorageError::InvalidInput {
        field,
        message: message.into(),
    }
    .into()
}

type ApiResult = Result<Response, ApiError>;
type Params = Query<HashMap<String, String>>;

fn instrument(
    exchange: &str,
    symbol: &str,
    params: &HashMap<String, String>,
) -> Result<InstrumentKey, ApiError> {
    // Any valid exchange name: a user's own exchange is stored and served like the built-ins.
    let exchange: ExchangeId = exchange
        .parse()
        .map_err(|e| bad("exchange", format!("{e}")))?;
    if symbol.is_empty() || symbol.contains(['.', ' ', '*', '>']) {
        return Err(bad(
            "symbol",
            format!("`{symbol}` is not a normalized symbol"),
        ));
    }
    if let Some(why) = crate::native::refusal(symbol) {
        return Err(bad("symbol", why));
    }
    let mut key = InstrumentKey::infer(exchange, symbol);
    if let Some(m) = params.get("market") {
        key.market = m
            .parse::<MarketType>()
            .map_err(|_| bad("market", format!("unknown market `{m}`")))?;
    }
    Ok(key)
}

fn number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    field: &'static str,
) -> Result<Option<T>, ApiError> {
    params
        .get(field)
        .map(|v| {
            v.parse()
                .map_err(|_| bad(field, format!("`{v}` is not a valid number")))
        })
        .transpose()
}

fn limit(params: &HashMap<String, String>, default: usize) -> Result<usize, ApiError> {
    let n = number::<usize>(params, "limit")?.unwrap_or(default);
    if n == 0 || n > crate::query::MAX_LIMIT {
        return Err(bad(
            "limit",
            format!("must be between 1 and {}", crate::query::MAX_LIMIT),
        ));
    }
    Ok(n)
}

/// Parses one event or an array; each must be of `kind` (the `type` tag may be omitted).
fn events_of(body: Value, kind: Option<EventKind>) -> Result<Vec<MarketEvent>, ApiError> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(mut o) if o.contains_key("events") => match o.remove("events") {
            Some(Value::Array(items)) => items,
            _ => return Err(bad("events", "must be an array of events")),
        },
        other => vec![other],
    };
    if items.is_empty() {
        return Err(bad("events", "no events given"));
    }
    items
        .into_iter()
        .map(|mut item| {
            let Value::Object(o) = &mut item else {
                return Err(bad("events", "each event must be a JSON object"));
            };
            if let Some(kind) = kind {
                match o.get("type") {
                    None => {
                        o.insert("type".into(), Value::String(kind.as_str().into()));
                    }
                    Some(Value::String(t)) if t == kind.as_str() => {}
                    // A non-string `type` was silently replaced by the route's kind.
                    Some(t) => return Err(bad("type", format!("expected `{kind}`, got {t}"))),
                }
            }
            crate::api_checks::check_no_floats(&item)?;
            let event = serde_json::from_value::<MarketEvent>(item).map_err(|e| {
                let msg = e.to_string();
                let field = [
                    "exchange",
                    "market",
                    "symbol",
                    "price",
                    "size",
                    "side",
                    "trade_id",
                    "type",
                    "bids",
                    "asks",
                    "sequence",
                    "exchange_ts",
                    "local_ts",
                    "last_price",
                ]
                .into_iter()
                .find(|f| msg.contains(&format!("`{f}`")))
                .unwrap_or("body");
                bad(field, msg)
            })?;
            crate::api_checks::check_event(&event)?;
            Ok(event)
        })
        .collect()
}

fn json_body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    body.map(|Json(v)| v).map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": e.body_text(), "field": "body"}),
            )
        } else {
            bad("body", e.body_text())
        }
    })
}

/// A JSON object body (the lifecycle routes): an array or a scalar was read as `{}`.
fn object_body(body: Result<Json<Value>, JsonRejection>) -> Result<Value, ApiError> {
    json_body(body).and_then(|v| {
        if v.is_object() {
            Ok(v)
        } else {
            Err(bad("body", "must be a JSON object"))
        }
    })
}

async fn write(sink: &Arc<dyn Sink>, events: Vec<MarketEvent>) -> ApiResult {
    sink.write_batch(&events)
        .await
        .map_err(StorageError::from)?;
    Ok((
        StatusCode::OK,
        Json(json!({"status": "ok", "stored": events.len()})),
    )
        .into_response())
}

async fn post_trades(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let (body, translated) =
        crate::api_original::original_trades(json_body(body)?).map_err(refused)?;
    let mut resp = write(&s.hot_sink, events_of(body, Some(EventKind::Trade))?).await?;
    if translated > 0 {
        // The original's body was accepted; say what it became (docs/migration.md).
        resp.headers_mut().insert(
            "x-marketprism-translated",
            axum::http::HeaderValue::from(translated),
        );
    }
    Ok(resp)
}

fn refused(r: crate::api_original::Refusal) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("invalid {}: {}", r.field, r.message), "field": r.field, "new_form": r.new_form}),
    )
}

async fn post_tickers(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    write(
        &s.hot_sink,
        events_of(json_body(body)?, Some(EventKind::Ticker))?,
    )
    .await
}

async fn post_books(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    write(
        &s.hot_sink,
        events_of(json_body(body)?, Some(EventKind::BookSnapshot))?,
    )
    .await
}

async fn archive(State(s): State<ApiState>, body: Result<Json<Value>, JsonRejection>) -> ApiResult {
    // The original's archive (move hot data to cold storage) took no events; here the route
    // writes events to history. A body that is not events answers 400 with the new forms.
    let not_events = || refused(crate::api_original::archive_refusal());
    let body = json_body(body).map_err(|e| {
        // No body at all (the original's bare POST) gets the new forms; a body too large or
        // broken JSON keeps its own answer.
        let text = e.1["error"].as_str().unwrap_or_default();
        if e.0 == StatusCode::BAD_REQUEST
            && (text.contains("EOF while parsing") || text.contains("Content-Type"))
        {
            not_events()
        } else {
            e
        }
    })?;
    let is_events = match &body {
        Value::Array(items) => !items.is_empty(),
        Value::Object(o) => o.contains_key("events") || o.contains_key("type"),
        _ => false,
    };
    if !is_events {
        return Err(not_events());
    }
    let events = events_of(body, None)?;
    s.cold_sink
        .write_batch(&events)
        .await
        .map_err(StorageError::from)?;
    Ok(Json(json!({"status": "ok", "archived": events.len()})).into_response())
}

async fn hot_trades(
    State(s): State<ApiState>,
    Path((ex, sym)): Path<(String, String)>,
    Query(p): Params,
) -> ApiResult {
    let key = instrument(&ex, &sym, &p)?;
    let trades = s.hot.recent_trades(&key, limit(&p, 100)?).await?;
    Ok(Json(json!({"exchange": key.exchange, "market": key.market, "symbol": key.symbol, "count": trades.len(), "trades": trades})).into_response())
}

async fn latest(
    s: &ApiState,
    kind: EventKind,
    ex: &str,
    sym: &str,
    p: &HashMap<String, String>,
) -> ApiResult {
    let key = instrument(ex, sym, p)?;
    match s.hot.latest(kind, &key).await? {
        Some(e) => Ok(Json(e).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no {kind} for {} {} {}", key.exchange, key.market, key.symbol)}),
        )),
    }
}

async fn hot_ticker(
    State(s): State<ApiState>,
    Path((ex, sym)): Path<(String, String)>,
    Query(p): Params,
) -> ApiResult {
    latest(&s, EventKind::Ticker, &ex, &sym, &p).await
}

async fn hot_latest(
    State(s): State<ApiState>,
    Path((kind, ex, sym)): Path<(String, String, String)>,
    Query(p): Params,
) -> ApiResult {
    let kind = event_kind(&kind)?;
    latest(&s, kind, &ex, &sym, &p).await
}

async fn hot_book(
    State(s): State<ApiState>,
    Path((ex, sym)): Path<(String, String)>,
    Query(p): Params,
) -> ApiResult {
    let key = instrument(&ex, &sym, &p)?;
    match s.hot.book(&key).await? {
        Some(b) => Ok(Json(MarketEvent::BookSnapshot(b)).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no book for {} {} {}", key.exchange, key.market, key.symbol)}),
        )),
    }
}

async fn cold_query(
    State(s): State<ApiState>,
    Path((kind, ex, sym)): Path<(String, String, String)>,
    Query(p): Params,
) -> ApiResult {
    let kind = event_kind(&kind)?;
    let key = instrument(&ex, &sym, &p)?;
    let order = match p.get("order").map(String::as_str) {
        None | Some("asc") => Order::OldestFirst,
        Some("desc") => Order::NewestFirst,
        Some(o) => return Err(bad("order", format!("`{o}` is neither asc nor desc"))),
    };
    let mut q = EventQuery::new(kind)
        .exchange(key.exchange)
        .symbol(Symbol::new(key.symbol.as_str()))
        .range(number(&p, "start_time")?, number(&p, "end_time")?)
        .limit(limit(&p, 1000)?)
        .order(order);
    if p.contains_key("market") {
        q = q.market(key.market);
    }
    q.validate()?;
    let events = s.history.query(&q).await?;
    Ok(Json(json!({"type": kind.as_str(), "exchange": key.exchange, "symbol": key.symbol, "count": events.len(), "events": events})).into_response())
}
