//! The original system's request bodies (seed 004) on the storage API, over the embedded
//! store without a socket: accepted where unambiguous, else 400 with `new_form`.
#![cfg(feature = "embedded")]

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use http_body_util::BodyExt;
use marketprism_storage::{
    api::{ApiState, routes},
    embedded::EmbeddedStore,
};
use serde_json::{Value, json};
use tower::ServiceExt;

fn app(dir: &tempfile::TempDir) -> Router {
    let store = Arc::new(EmbeddedStore::open(dir.path().join("api.redb")).expect("open"));
    routes(ApiState::single(store))
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let translated = resp
        .headers()
        .get("x-marketprism-translated")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        translated,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The seed's own example, byte for byte.
const SEED_TRADE: &str = r#"{
    "timestamp": "2025-01-30T10:00:00Z",
    "symbol": "BTCUSDT",
    "exchange": "binance",
    "price": 50000.0,
    "amount": 0.001,
    "side": "buy",
    "trade_id": "12345"
}"#;

#[tokio::test]
async fn the_seed_trade_body_is_stored_and_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let (code, translated, resp) =
        call(&app, "POST", "/api/v1/storage/hot/trades", Some(SEED_TRADE)).await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert_eq!(resp["stored"], 1);
    assert_eq!(translated.as_deref(), Some("1"));
    let (code, _, got) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/trades/binance/BTC-USDT",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let t = &got["trades"][0];
    assert_eq!(
        (t["symbol"].as_str(), t["market"].as_str()),
        (Some("BTC-USDT"), Some("spot"))
    );
    assert_eq!(t["price"], "50000.0");
    assert_eq!(t["size"], "0.001");
    assert_eq!(t["trade_id"], "12345");
    assert_eq!(t["exchange_ts"], 1_738_231_200_000_000_000_i64);

    // An array of original trades, one with `market` given, one normalized already.
    let batch = json!([
        {"timestamp": "2025-01-30T10:00:01.5Z", "symbol": "BTCUSDT", "exchange": "binance",
         "market": "perpetual", "price": "50001", "amount": 2, "side": "sell", "trade_id": 12346},
        {"timestamp": "2025-01-30T10:00:02Z", "symbol": "ETH-USDT", "exchange": "okx",
         "price": 3000, "amount": 1, "side": "buy", "trade_id": "e1"}
    ]);
    let (code, translated, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/hot/trades",
        Some(&batch.to_string()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert_eq!(translated.as_deref(), Some("2"));
    let (_, _, got) = call(
        &app,
        "GET",
        "/api/v1/storage/hot/trades/binance/BTC-USDT-PERP",
        None,
    )
    .await;
    assert_eq!(got["trades"][0]["trade_id"], "12346");
    assert_eq!(
        got["trades"][0]["exchange_ts"],
        1_738_231_201_500_000_000_i64
    );
}

#[tokio::test]
async fn untranslatable_original_bodies_answer_400_with_the_new_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let cases = [
        (
            json!({"timestamp": 1_738_231_200, "symbol": "BTCUSDT", "exchange": "binance",
                "price": 1, "amount": 1, "side": "buy", "trade_id": "1"}),
            "timestamp",
        ),
        (
            json!({"timestamp": "30/01/2025", "symbol": "BTCUSDT", "exchange": "binance",
                "price": 1, "amount": 1, "side": "buy", "trade_id": "1"}),
            "timestamp",
        ),
        (
            json!({"timestamp": "2025-01-30T10:00:00Z", "symbol": "XYZ", "exchange": "binance",
                "price": 1, "amount": 1, "side": "buy", "trade_id": "1"}),
            "symbol",
        ),
        (
            json!({"timestamp": "2025-01-30T10:00:00Z", "symbol": "BTCUSDT", "exchange": "binance",
                "amount": 1, "side": "buy", "trade_id": "1"}),
            "price",
        ),
    ];
    for (body, field) in cases {
        let (code, _, resp) = call(
            &app,
            "POST",
            "/api/v1/storage/hot/trades",
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert_eq!(resp["field"], field, "{resp}");
        assert_eq!(resp["new_form"]["symbol"], "BTC-USDT", "{resp}");
        assert!(resp["new_form"]["exchange_ts"].is_i64());
    }
}

#[tokio::test]
async fn the_original_archive_request_answers_400_naming_the_new_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    for body in [
        None,
        Some("{}"),
        Some(r#"{"data_type": "trades", "hours": 24}"#),
        Some("[]"),
    ] {
        let (code, _, resp) = call(&app, "POST", "/api/v1/storage/cold/archive", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body:?}: {resp}");
        assert_eq!(resp["field"], "events");
        let msg = resp["error"].as_str().unwrap_or_default();
        assert!(msg.contains("/api/v1/storage/lifecycle/archive"), "{msg}");
        assert_eq!(
            resp["new_form"]["seal_a_day_of_history"]["route"],
            "POST /api/v1/storage/lifecycle/archive"
        );
        assert!(resp["new_form"]["write_events_to_history"]["events"].is_array());
    }
    // The new form itself is accepted.
    let events = json!({"events": [{"type": "trade", "exchange": "binance", "market": "spot",
        "symbol": "BTC-USDT", "trade_id": "a1", "side": "buy", "price": "1", "size": "1",
        "exchange_ts": 1, "local_ts": 2}]});
    let (code, _, resp) = call(
        &app,
        "POST",
        "/api/v1/storage/cold/archive",
        Some(&events.to_string()),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{resp}");
    assert_eq!(resp["archived"], 1);
}
