//! The storage HTTP API over the embedded store, without a socket (`oneshot`).
#![cfg(feature = "embedded")]

mod common;

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use http_body_util::BodyExt;
use marketprism_core::model::*;
use marketprism_storage::{
    api::{ApiState, routes},
    embedded::EmbeddedStore,
};
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(dir: &tempfile::TempDir) -> Router {
    let store = Arc::new(EmbeddedStore::open(dir.path().join("api.redb")).expect("open"));
    routes(ApiState::single(store).with_status(Arc::new(|| json!({"state": "running"}))))
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn hot_write_and_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let base = common::now_s_ns();
    let trades = common::trades(ExchangeId::BINANCE, "BTC-USDT", 5, base);
    let body: Vec<Value> = trades
        .iter()
        .map(|t| {
            let mut v = serde_json::to_value(t).expect("json");
            v.as_object_mut().expect("object").remove("type");
            v
        })
        .collect();
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/hot/trades",
        Some(Value::Array(body)),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert_eq!(resp["stored"], 5);
    let (code, resp) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/trades/binance/BTC-USDT?limit=2",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let got: Vec<Trade> = serde_json::from_value(resp["trades"].clone()).expect("trades");
    let newest: Vec<MarketEvent> = got.into_iter().map(MarketEvent::Trade).collect();
    assert_eq!(newest, vec![trades[4].clone(), trades[3].clone()]);

    let each = common::one_of_each(ExchangeId::OKX, "ETH-USDT", base);
    let ticker = each
        .iter()
        .find(|e| matches!(e, MarketEvent::Ticker(_)))
        .expect("ticker")
        .clone();
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/storage/hot/tickers",
        Some(serde_json::to_value(&ticker).expect("json")),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, resp) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/tickers/okx/ETH-USDT",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        serde_json::from_value::<MarketEvent>(resp).expect("event"),
        ticker
    );
    let (code, _) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/tickers/okx/XRP-USDT",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    let book = each
        .iter()
        .find(|e| matches!(e, MarketEvent::BookSnapshot(_)))
        .expect("book")
        .clone();
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/storage/hot/orderbooks",
        Some(serde_json::to_value(&book).expect("json")),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let (code, resp) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/orderbooks/okx/ETH-USDT",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let MarketEvent::BookSnapshot(got) = serde_json::from_value(resp).expect("event") else {
        panic!("not a book")
    };
    let MarketEvent::BookSnapshot(sent) = book else {
        panic!("not a book")
    };
    assert_eq!(
        (got.sequence, got.bids, got.asks),
        (sent.sequence, sent.bids, sent.asks)
    );
}

#[tokio::test]
async fn cold_archive_query_and_cleanup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let base = common::now_s_ns();
    let trades = common::trades(ExchangeId::OKX, "BTC-USDT-PERP", 20, base);
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/cold/archive",
        Some(json!({"events": trades})),
    )
    .await;
    assert_eq!(
        (code, resp["archived"].clone()),
        (StatusCode::OK, json!(20))
    );
    let uri = format!(
        "/api/v1/storage/cold/trades/okx/BTC-USDT-PERP?start_time={}&end_time={}&limit=3&order=desc",
        base + 5_000_000,
        base + 15_000_000
    );
    let (code, resp) = call(&app, "GET", &uri, None).await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    let got: Vec<MarketEvent> = serde_json::from_value(resp["events"].clone()).expect("events");
    assert_eq!(
        got,
        vec![trades[14].clone(), trades[13].clone(), trades[12].clone()]
    );

    let (code, resp) = call(&app, "GET", "/api/v1/storage/stats", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(resp["total_events"], 20);
    assert_eq!(resp["pipeline"]["state"], "running");
    let (code, _) = call(&app, "GET", "/api/v1/storage/status", None).await;
    assert_eq!(code, StatusCode::OK);
    let (code, resp) = call(&app, "GET", "/api/v1/storage/database/status", None).await;
    assert_eq!(
        (code, resp["history"]["name"].clone()),
        (StatusCode::OK, json!("embedded"))
    );
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/lifecycle/cleanup",
        Some(json!({"retention_hours": 48})),
    )
    .await;
    assert_eq!(
        (code, resp["retention_days"].clone()),
        (StatusCode::OK, json!(2))
    );
    // schemathesis: `null` is the same as leaving the other field out.
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/lifecycle/cleanup",
        Some(json!({"retention_days": null, "retention_hours": 72})),
    )
    .await;
    assert_eq!(
        (code, resp["retention_days"].clone()),
        (StatusCode::OK, json!(3))
    );
    // The daily archive (what the scheduler's built-in task calls): yesterday by default.
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/lifecycle/archive",
        Some(json!({})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert_eq!(resp["days_ago"], json!(1));
    let yesterday = marketprism_core::model::now_ns() / 86_400_000_000_000 - 1;
    let day = resp["report"]["day"].as_u64().expect("day") as u32;
    let (y, m, d) = (i64::from(day / 10_000), day / 100 % 100, day % 100);
    assert_eq!(
        marketprism_core::model::Instrument::date_ns(y, m, d),
        yesterday * 86_400_000_000_000,
        "{day} is yesterday (UTC)"
    );
}

#[tokio::test]
async fn a_user_exchange_is_served_like_the_built_ins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let bybit = ExchangeId::new("bybit").expect("valid");
    let trades = common::trades(bybit, "BTC-USDT", 3, common::now_s_ns());
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/hot/trades",
        Some(serde_json::to_value(&trades).expect("json")),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    let (code, resp) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/trades/bybit/BTC-USDT",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    let got: Vec<Trade> = serde_json::from_value(resp["trades"].clone()).expect("trades");
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|t| t.exchange == bybit));
    let (code, resp) = call(
        &app,
        "GET",
        "/api/v1/storage/cold/trades/bybit/BTC-USDT",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert!(resp.to_string().contains(r#""exchange":"bybit""#), "{resp}");
}

#[tokio::test]
async fn invalid_input_is_400_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let cases: &[(&str, &str, Option<Value>, &str)] = &[
        (
            "GET",
            "/api/v1/storage/hot/trades/nas.daq/BTC-USDT",
            None,
            "exchange",
        ),
        (
            "GET",
            "/api/v1/storage/hot/trades/binance/BTC-USDT?limit=abc",
            None,
            "limit",
        ),
        (
            "GET",
            "/api/v1/storage/hot/trades/binance/BTC-USDT?limit=0",
            None,
            "limit",
        ),
        (
            "GET",
            "/api/v1/storage/hot/trades/binance/BTC-USDT?market=moon",
            None,
            "market",
        ),
        (
            "GET",
            "/api/v1/storage/cold/trades/binance/BTC-USDT?start_time=10&end_time=5",
            None,
            "start_time",
        ),
        (
            "GET",
            "/api/v1/storage/cold/trades/binance/BTC-USDT?end_time=soon",
            None,
            "end_time",
        ),
        (
            "GET",
            "/api/v1/storage/cold/trades/binance/BTC-USDT?order=sideways",
            None,
            "order",
        ),
        (
            "GET",
            "/api/v1/storage/cold/candles/binance/BTC-USDT",
            None,
            "type",
        ),
        (
            "GET",
            "/api/v1/storage/hot/latest/trade/binance/BTC-USDT",
            None,
            "type",
        ),
        (
            "POST",
            "/api/v1/storage/hot/trades",
            Some(
                json!({"exchange": "binance", "market": "spot", "symbol": "BTC-USDT", "trade_id": "1", "side": "buy", "size": "1", "exchange_ts": 1, "local_ts": 1}),
            ),
            "price",
        ),
        (
            "POST",
            "/api/v1/storage/hot/trades",
            Some(json!({"type": "ticker"})),
            "type",
        ),
        (
            "POST",
            "/api/v1/storage/hot/trades",
            Some(json!([])),
            "events",
        ),
        (
            "POST",
            "/api/v1/storage/lifecycle/cleanup",
            Some(json!({})),
            "retention_days",
        ),
        (
            "POST",
            "/api/v1/storage/lifecycle/archive",
            Some(json!({"days_ago": "yesterday"})),
            "days_ago",
        ),
        // Found by schemathesis (docs/fuzzing.md): each was a 200.
        (
            "POST",
            "/api/v1/storage/lifecycle/archive",
            Some(json!([null, null])),
            "body",
        ),
        (
            "POST",
            "/api/v1/storage/lifecycle/cleanup",
            Some(json!({"retention_days": 0, "retention_hours": -1})),
            "retention_hours",
        ),
        (
            "POST",
            "/api/v1/storage/hot/trades",
            Some(json!([{"type": {}, "exchange": "binance", "market": "spot",
                "symbol": "BTC-USDT", "price": "1", "size": "1", "side": "buy",
                "trade_id": "1", "exchange_ts": 1, "local_ts": 1}])),
            "type",
        ),
    ];
    for (method, uri, body, field) in cases {
        let (code, resp) = call(&app, method, uri, body.clone()).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{method} {uri}: {resp}");
        assert_eq!(resp["field"], *field, "{method} {uri}: {resp}");
        assert!(
            resp["error"].as_str().is_some_and(|e| e.contains(field)),
            "{resp}"
        );
    }
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/storage/hot/trades")
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

/// Issue 13 finding 2: a huge retention once wrapped `today - days * day` and deleted every
/// stored event; a huge `days_ago` named a day in the future. Both are 400s naming the field,
/// and nothing is deleted.
#[tokio::test]
async fn huge_day_counts_are_refused_and_delete_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let trades = common::trades(ExchangeId::OKX, "BTC-USDT-PERP", 10, common::now_s_ns());
    let (code, _) = call(
        &app,
        "POST",
        "/api/v1/storage/cold/archive",
        Some(json!({"events": trades})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let cases = [
        (
            "cleanup",
            json!({"retention_days": 999_999}),
            "retention_days",
        ),
        (
            "cleanup",
            json!({"retention_days": 4_294_967_295u64}),
            "retention_days",
        ),
        (
            "cleanup",
            json!({"retention_days": u64::MAX}),
            "retention_days",
        ),
        (
            "cleanup",
            json!({"retention_hours": 999_999_999}),
            "retention_hours",
        ),
        ("archive", json!({"days_ago": 1_000_000}), "days_ago"),
        ("archive", json!({"days_ago": 4_294_967_295u64}), "days_ago"),
    ];
    for (op, body, field) in cases {
        let uri = format!("/api/v1/storage/lifecycle/{op}");
        let (code, resp) = call(&app, "POST", &uri, Some(body.clone())).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["field"], field, "{body}: {resp}");
    }
    let (_, resp) = call(&app, "GET", "/api/v1/storage/stats", None).await;
    assert_eq!(resp["total_events"], 10, "nothing deleted: {resp}");
    // The largest accepted values work and keep today's events.
    let max = marketprism_storage::query::MAX_DAYS_BACK;
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/lifecycle/cleanup",
        Some(json!({"retention_days": max})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/lifecycle/archive",
        Some(json!({"days_ago": max})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert!(
        resp["report"]["day"]
            .as_u64()
            .is_some_and(|d| d > 19_000_000),
        "{resp}"
    );
    let (_, resp) = call(&app, "GET", "/api/v1/storage/stats", None).await;
    assert_eq!(resp["total_events"], 10, "{resp}");

    // The library entry point checks too, not only the HTTP layer.
    let store = EmbeddedStore::open(dir.path().join("direct.redb")).expect("open");
    use marketprism_storage::query::HistoryStore;
    let err = store.drop_older_than(999_999).await.expect_err("refused");
    assert!(err.to_string().contains("retention_days"), "{err}");
}

/// Issue 16 item 2: a native symbol used to answer 200 with an empty list while the
/// normalized one worked; now it is a 400 naming the field and the normalized form.
#[tokio::test]
async fn native_symbols_are_refused_with_the_normalized_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let base = common::now_s_ns();
    let trades = common::trades(ExchangeId::BINANCE, "BTC-USDT", 3, base);
    let body = serde_json::to_value(&trades).expect("json");
    let (code, _) = call(&app, "POST", "/api/v1/storage/hot/trades", Some(body)).await;
    assert_eq!(code, StatusCode::OK);
    let (code, resp) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/trades/binance/BTC-USDT",
        None,
    )
    .await;
    assert_eq!((code, resp["count"].as_u64()), (StatusCode::OK, Some(3)));

    for (uri, normalized) in [
        ("/api/v1/storage/hot/trades/binance/BTCUSDT", "BTC-USDT"),
        ("/api/v1/storage/hot/trades/binance/btcusdt", "BTC-USDT"),
        (
            "/api/v1/storage/hot/tickers/binance/BTCUSD_PERP",
            "BTC-USD-PERP",
        ),
        (
            "/api/v1/storage/hot/orderbooks/okx/BTC-USDT-SWAP",
            "BTC-USDT-PERP",
        ),
        (
            "/api/v1/storage/hot/latest/bbo/deribit/BTC-PERPETUAL",
            "BTC-USD-PERP",
        ),
        (
            "/api/v1/storage/cold/trade/deribit/BTC-27DEC24",
            "BTC-USD-20241227",
        ),
    ] {
        let (code, resp) = call(&app, "GET", uri, None).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri}: {resp}");
        assert_eq!(resp["field"], "symbol", "{uri}: {resp}");
        let msg = resp["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&format!("use the normalized symbol, e.g. {normalized}")),
            "{uri}: {msg}"
        );
    }
}

/// Issue 13 item 7: events that cannot be real (negative prices or sizes) and symbols that
/// are not one subject token are refused, naming the field; a body over the limit is a 413.
#[tokio::test]
async fn impossible_events_and_oversized_bodies_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let trade = |symbol: &str, price: &str, size: &str| {
        let t = &common::trades(ExchangeId::BINANCE, "BTC-USDT", 1, common::now_s_ns())[0];
        let mut v = serde_json::to_value(t).expect("json");
        v["symbol"] = json!(symbol);
        v["price"] = json!(price);
        v["size"] = json!(size);
        v
    };
    let mut no_id = trade("BTC-USDT", "100", "1");
    no_id["trade_id"] = json!("");
    // schemathesis: JSON numbers are binary floats (`7e-266` became a size of 0).
    let mut float_size = trade("BTC-USDT", "100", "1");
    float_size["size"] = json!(7.047e-266);
    let mut float_price = trade("BTC-USDT", "100", "1");
    float_price["price"] = json!(0.1);
    let ticker = json!({"type": "ticker", "exchange": "binance", "market": "spot",
        "symbol": "BTC-USDT", "last_price": "100", "best_ask": -1, "exchange_ts": 1,
        "local_ts": 1});
    // An unknown field's float is ignored like the field; a decimal field's is refused.
    let mut extra_float = trade("BTC-USDT", "100", "1");
    extra_float["note"] = json!(0.5);
    extra_float["size"] = json!(0.5);
    for (body, field) in [
        (ticker, "best_ask"),
        (extra_float, "size"),
        (no_id, "trade_id"),
        (float_size, "size"),
        (float_price, "price"),
        (trade("BTC-USDT", "-1", "1"), "price"),
        (trade("BTC-USDT", "0", "1"), "price"),
        (trade("BTC-USDT", "100", "-0.5"), "size"),
        (trade("BTC.USDT", "100", "1"), "symbol"),
        (trade("BTC-*", "100", "1"), "symbol"),
        (trade("BTC->", "100", "1"), "symbol"),
        (trade("BTC USDT", "100", "1"), "symbol"),
        (trade("", "100", "1"), "symbol"),
    ] {
        let (code, resp) = call(
            &app,
            "POST",
            "/api/v1/storage/cold/archive",
            Some(json!({"events": [body.clone()]})),
        )
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["field"], field, "{body}: {resp}");
    }
    let (_, resp) = call(&app, "GET", "/api/v1/storage/stats", None).await;
    assert_eq!(resp["total_events"], 0, "nothing stored: {resp}");
    let (code, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/cold/archive",
        Some(json!({"events": [trade("BTC-USDT", "100.5", "0.01")]})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");

    // Over axum's default body limit (2 MiB): 413, not 400.
    let huge = json!({"events": [trade("BTC-USDT", "1", "1")], "pad": "x".repeat(3 << 20)});
    let (code, resp) = call(&app, "POST", "/api/v1/storage/cold/archive", Some(huge)).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{resp}");
    assert_eq!(resp["field"], "body");
}
