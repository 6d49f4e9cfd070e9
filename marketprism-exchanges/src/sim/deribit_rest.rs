//! Deribit public REST methods (`/api/v2/public/…`, JSON-RPC envelopes): instruments,
//! order book (with `change_id`), book summaries, volatility index data, test, time.

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

use super::deribit::{envelope, num, rpc_error, summary};
use super::instrument::Kind;
use super::market::{SymbolMarket, Top};
use super::{Shared, lock, now_ms};

type Q = Query<HashMap<String, String>>;
type S = State<Arc<Shared>>;

fn ok(result: Value) -> Response {
    Json(envelope(&Value::Null, result)).into_response()
}

fn not_found(param: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(rpc_error(
            &Value::Null,
            -32602,
            "Invalid params",
            Some(("instrument not found", param)),
        )),
    )
        .into_response()
}

pub(crate) fn rest_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v2/public/get_instruments", get(instruments))
        .route("/api/v2/public/get_order_book", get(order_book))
        .route(
            "/api/v2/public/get_book_summary_by_currency",
            get(book_summary),
        )
        .route("/api/v2/public/get_volatility_index_data", get(volatility))
        .route(
            "/api/v2/public/test",
            get(|| async { ok(json!({"version": "1.2.26"})) }),
        )
        .route(
            "/api/v2/public/get_time",
            get(|| async { ok(json!(now_ms())) }),
        )
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Option => "option",
        Kind::Spot => "spot",
        _ => "future",
    }
}

fn matches(s: &SymbolMarket, q: &HashMap<String, String>) -> bool {
    q.get("currency")
        .is_none_or(|c| c == "any" || *c == s.params.base)
        && q.get("kind").is_none_or(|k| k == kind_name(s.params.kind))
}

async fn instruments(State(shared): S, Query(q): Q) -> Response {
    let m = lock(&shared.market);
    let list: Vec<Value> = m.symbols.iter().filter(|s| matches(s, &q)).enumerate().map(|(i, s)| {
        let p = &s.params;
        let mut v = json!({"tick_size": num(p.tick), "taker_commission": 0.0005, "maker_commission": 0.0, "settlement_period": match p.kind { Kind::Perpetual => "perpetual", _ => "month" },
            "quote_currency": if p.kind == Kind::Option { p.base.as_str() } else { p.quote.as_str() }, "min_trade_amount": num(p.lot), "kind": kind_name(p.kind),
            "is_active": true, "instrument_name": &*s.symbol, "instrument_id": 100 + i, "expiration_timestamp": p.expiry_ms.unwrap_or(32_503_708_800_000),
            "creation_timestamp": 1_534_242_287_000i64, "contract_size": num(if p.kind == Kind::Option { Decimal::ONE } else { p.lot }), "base_currency": p.base,
            "counter_currency": p.quote, "settlement_currency": p.base, "price_index": format!("{}_usd", p.base.to_lowercase()), "block_trade_commission": 0.00025});
        if p.kind == Kind::Option {
            v["strike"] = p.strike.map(num).unwrap_or(Value::Null);
            v["option_type"] = json!(if p.call { "call" } else { "put" });
        }
        v
    }).collect();
    ok(Value::Array(list))
}

async fn order_book(State(shared): S, Query(q): Q) -> Response {
    let Some(name) = q.get("instrument_name") else {
        return not_found("instrument_name");
    };
    let depth = q
        .get("depth")
        .and_then(|d| d.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 10_000);
    let m = lock(&shared.market);
    let Some(s) = m.get(name) else {
        return not_found("instrument_name");
    };
    let top = Top {
        bids: s.bids(1),
        asks: s.asks(1),
    };
    let mut v = summary(s, Some(&top));
    let side = |v: Vec<(Decimal, Decimal)>| {
        Value::Array(
            v.into_iter()
                .map(|(p, a)| json!([num(p), num(a)]))
                .collect(),
        )
    };
    v["change_id"] = json!(s.last_id());
    v["bids"] = side(s.bids(depth));
    v["asks"] = side(s.asks(depth));
    ok(v)
}

async fn book_summary(State(shared): S, Query(q): Q) -> Response {
    let m = lock(&shared.market);
    let list: Vec<Value> = m.symbols.iter().filter(|s| matches(s, &q)).map(|s| {
        let (b, a) = (s.bids(1).first().copied().unwrap_or_default(), s.asks(1).first().copied().unwrap_or_default());
        json!({"volume": num(s.stats.volume), "quote_currency": s.params.quote, "open_interest": num(s.deriv.open_interest), "mid_price": num(s.mid()),
            "mark_price": num(s.deriv.mark), "low": num(s.stats.low), "high": num(s.stats.high), "last": num(s.stats.last), "instrument_name": &*s.symbol,
            "estimated_delivery_price": num(s.deriv.index), "creation_timestamp": now_ms(), "bid_price": num(b.0), "ask_price": num(a.0), "base_currency": s.params.base,
            "funding_8h": num(s.deriv.funding_rate), "current_funding": num(s.deriv.funding_rate)})
    }).collect();
    ok(Value::Array(list))
}

async fn volatility(State(shared): S, Query(q): Q) -> Response {
    let m = lock(&shared.market);
    let Some(s) = m
        .symbols
        .iter()
        .find(|s| q.get("currency").is_some_and(|c| *c == s.params.base))
    else {
        return not_found("currency");
    };
    let res: i64 = q
        .get("resolution")
        .and_then(|r| r.parse().ok())
        .unwrap_or(60)
        .max(1)
        * 1000;
    let end = q
        .get("end_timestamp")
        .and_then(|e| e.parse::<i64>().ok())
        .unwrap_or_else(now_ms);
    let iv = s.deriv.iv;
    let rows: Vec<Value> = (0..10)
        .rev()
        .map(|i| {
            let t = end - end.rem_euclid(res) - i * res;
            json!([
                t,
                num(iv),
                num(iv + Decimal::ONE),
                num(iv - Decimal::ONE),
                num(iv)
            ])
        })
        .collect();
    ok(json!({"data": rows, "continuation": null}))
}
