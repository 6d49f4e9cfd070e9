//! Binance REST endpoints: depth snapshots, exchangeInfo, open interest, long/short ratios,
//! premium index (mark price and funding), ping and time — for spot (`/api/v3`), USDⓈ-M
//! (`/fapi/v1`) and COIN-M (`/dapi/v1`); ratios under `/futures/data/`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::binance::{decimals, fixed};
use super::instrument::Kind;
use super::market::SymbolMarket;
use super::{Shared, lock, now_ms};
use crate::Venue;

type Q = Query<HashMap<String, String>>;
type S = State<Arc<Shared>>;

pub(crate) fn rest_routes() -> Router<Arc<Shared>> {
    let mut r = Router::new()
        .route("/futures/data/globalLongShortAccountRatio", get(ratio))
        .route("/futures/data/topLongShortAccountRatio", get(ratio))
        .route("/futures/data/topLongShortPositionRatio", get(ratio));
    for p in ["/api/v3", "/fapi/v1", "/dapi/v1"] {
        r = r
            .route(&format!("{p}/depth"), get(depth))
            .route(&format!("{p}/exchangeInfo"), get(exchange_info))
            .route(&format!("{p}/ping"), get(|| async { Json(json!({})) }))
            .route(
                &format!("{p}/time"),
                get(|| async { Json(json!({"serverTime": now_ms()})) }),
            );
    }
    for p in ["/fapi/v1", "/dapi/v1"] {
        r = r
            .route(&format!("{p}/openInterest"), get(open_interest))
            .route(&format!("{p}/premiumIndex"), get(premium_index));
    }
    r
}

fn bad_symbol() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": -1121, "msg": "Invalid symbol."})),
    )
        .into_response()
}

fn missing(name: &str) -> Response {
    let msg = format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed.");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": -1102, "msg": msg})),
    )
        .into_response()
}

async fn depth(State(shared): S, Query(q): Q) -> Response {
    let Some(symbol) = q.get("symbol") else {
        return missing("symbol");
    };
    let spot = shared.config.venue == Venue::BinanceSpot;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(if spot { 100 } else { 500 });
    let limit = limit.clamp(1, if spot { 5000 } else { 1000 });
    let dp = decimals(&shared, symbol);
    let m = lock(&shared.market);
    let Some(s) = m.get(symbol) else {
        return bad_symbol();
    };
    let side = |v: Vec<(Decimal, Decimal)>| -> Value {
        Value::Array(
            v.into_iter()
                .map(|(p, q)| json!([fixed(p, dp.0), fixed(q, dp.1)]))
                .collect(),
        )
    };
    let (bids, asks) = (side(s.bids(limit)), side(s.asks(limit)));
    let body = if spot {
        json!({"lastUpdateId": s.snapshot_id(), "bids": bids, "asks": asks})
    } else {
        // The book's own time, as the exchange's matching engine stamps it.
        let t = s.book_ts_ms();
        json!({"lastUpdateId": s.snapshot_id(), "E": t, "T": t, "bids": bids, "asks": asks})
    };
    Json(body).into_response()
}

fn symbol_info(venue: Venue, s: &SymbolMarket) -> Value {
    let p = &s.params;
    let (pdp, qdp) = if venue == Venue::BinanceSpot {
        (8, 8)
    } else {
        (p.tick.scale(), p.lot.scale())
    };
    let filters = json!([
        {"filterType": "PRICE_FILTER", "minPrice": fixed(p.tick, pdp), "maxPrice": fixed(Decimal::from(1_000_000u32), pdp), "tickSize": fixed(p.tick, pdp)},
        {"filterType": "LOT_SIZE", "minQty": fixed(p.lot, qdp), "maxQty": fixed(Decimal::from(9_000_000u32), qdp), "stepSize": fixed(p.lot, qdp)},
    ]);
    let sym = &*s.symbol;
    if venue == Venue::BinanceSpot {
        return json!({"symbol": sym, "status": "TRADING", "baseAsset": p.base, "baseAssetPrecision": 8, "quoteAsset": p.quote,
            "quotePrecision": 8, "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": true,
            "isMarginTradingAllowed": false, "filters": filters, "permissions": [], "permissionSets": [["SPOT"]]});
    }
    let (contract_type, delivery) = match (p.kind, p.expiry_ms) {
        (Kind::Future, Some(e)) => ("CURRENT_QUARTER", e),
        _ => ("PERPETUAL", 4_133_404_800_000),
    };
    let pair = sym.split('_').next().unwrap_or(sym);
    let mut v = json!({"symbol": sym, "pair": pair, "contractType": contract_type, "deliveryDate": delivery, "onboardDate": 1_569_398_400_000i64,
        "status": "TRADING", "baseAsset": p.base, "quoteAsset": p.quote, "marginAsset": p.quote, "pricePrecision": pdp, "quantityPrecision": qdp,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "filters": filters, "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC"]});
    if venue == Venue::BinanceCoinm {
        v["marginAsset"] = json!(p.base);
        v["contractSize"] = json!(p.contract_size.to_string().parse::<u64>().unwrap_or(100));
        v["contractStatus"] = json!("TRADING");
        v["status"] = json!("TRADING");
    }
    v
}

async fn exchange_info(State(shared): S, Query(q): Query<HashMap<String, String>>) -> Response {
    let venue = shared.config.venue;
    let m = lock(&shared.market);
    let symbols: Vec<Value> = m
        .symbols
        .iter()
        .filter(|s| q.get("symbol").is_none_or(|x| x == &*s.symbol))
        .map(|s| symbol_info(venue, s))
        .collect();
    let limits = json!([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": if venue == Venue::BinanceSpot { 6000 } else { 2400 }}]);
    Json(json!({"timezone": "UTC", "serverTime": now_ms(), "rateLimits": limits, "exchangeFilters": [], "symbols": symbols})).into_response()
}

async fn open_interest(State(shared): S, Query(q): Q) -> Response {
    let Some(symbol) = q.get("symbol") else {
        return missing("symbol");
    };
    let dp = decimals(&shared, symbol);
    let m = lock(&shared.market);
    let Some(s) = m.get(symbol) else {
        return bad_symbol();
    };
    let oi = fixed(s.deriv.open_interest, dp.1);
    let mut v = json!({"symbol": symbol, "openInterest": oi, "time": now_ms()});
    if shared.config.venue == Venue::BinanceCoinm {
        v["pair"] = json!(symbol.split('_').next().unwrap_or(symbol));
        v["contractType"] = json!(if s.params.kind == Kind::Perpetual {
            "PERPETUAL"
        } else {
            "CURRENT_QUARTER"
        });
    }
    Json(v).into_response()
}

fn premium(venue: Venue, s: &SymbolMarket) -> Value {
    let d = &s.deriv;
    let mut v = json!({"symbol": &*s.symbol, "markPrice": fixed(d.mark, 8), "indexPrice": fixed(d.index, 8), "estimatedSettlePrice": fixed(d.index, 8),
        "lastFundingRate": fixed(d.funding_rate, 8), "interestRate": "0.00010000", "nextFundingTime": d.next_funding_ms, "time": now_ms()});
    if venue == Venue::BinanceCoinm {
        v["pair"] = json!(s.symbol.split('_').next().unwrap_or(&s.symbol));
    }
    v
}

async fn premium_index(State(shared): S, Query(q): Q) -> Response {
    let venue = shared.config.venue;
    let m = lock(&shared.market);
    match q.get("symbol") {
        Some(sym) => match m.get(sym) {
            Some(s) if venue == Venue::BinanceCoinm => {
                Json(json!([premium(venue, s)])).into_response()
            }
            Some(s) => Json(premium(venue, s)).into_response(),
            None => bad_symbol(),
        },
        None => Json(Value::Array(
            m.symbols.iter().map(|s| premium(venue, s)).collect(),
        ))
        .into_response(),
    }
}

async fn ratio(State(shared): S, Query(q): Q) -> Response {
    let venue = shared.config.venue;
    let key = if venue == Venue::BinanceCoinm {
        "pair"
    } else {
        "symbol"
    };
    let Some(name) = q.get(key).or_else(|| q.get("symbol")) else {
        return missing(key);
    };
    let period_ms: i64 = match q.get("period").map(String::as_str).unwrap_or("5m") {
        "15m" => 900_000,
        "30m" => 1_800_000,
        "1h" => 3_600_000,
        "2h" => 7_200_000,
        "4h" => 14_400_000,
        "6h" => 21_600_000,
        "12h" => 43_200_000,
        "1d" => 86_400_000,
        _ => 300_000,
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(30)
        .clamp(1, 500);
    let m = lock(&shared.market);
    let Some(s) = m
        .symbols
        .iter()
        .find(|s| *s.symbol == **name || s.symbol.split('_').next() == Some(name.as_str()))
    else {
        return bad_symbol();
    };
    let now = now_ms();
    let last = now - now.rem_euclid(period_ms);
    let rows: Vec<Value> = (0..limit)
        .rev()
        .map(|i| {
            let r = (s.deriv.long_short_ratio + Decimal::new(i % 7, 2)).round_dp(4);
            let long = (r / (Decimal::ONE + r)).round_dp(4);
            let short = Decimal::ONE - long;
            let mut v = json!({"longShortRatio": fixed(r, 4), "longAccount": fixed(long, 4), "shortAccount": fixed(short, 4), "timestamp": last - i * period_ms});
            v[key] = json!(name);
            v
        })
        .collect();
    Json(Value::Array(rows)).into_response()
}
