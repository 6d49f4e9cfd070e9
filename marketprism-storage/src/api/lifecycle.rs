//! Lifecycle and status routes of the storage API: retention cleanup, the daily archive,
//! statistics and status (the query and write routes are in the parent module).

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
    response::IntoResponse,
};
use marketprism_core::sink::Health;
use serde_json::{Value, json};

use super::{ApiResult, ApiState, bad, object_body};
use crate::query::MAX_DAYS_BACK;

pub(super) async fn cleanup(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let body = object_body(body)?;
    // `null` is the same as leaving the field out.
    let given = |k: &str| body.get(k).filter(|v| !v.is_null());
    let (days_field, hours_field) = (given("retention_days"), given("retention_hours"));
    if days_field.is_some() && hours_field.is_some() {
        return Err(bad(
            "retention_hours",
            "give retention_days or retention_hours, not both",
        ));
    }
    let days = match (days_field, hours_field) {
        (Some(d), _) => d
            .as_u64()
            .ok_or_else(|| bad("retention_days", "must be a non-negative integer"))?,
        (None, Some(h)) => h
            .as_u64()
            .ok_or_else(|| bad("retention_hours", "must be a non-negative integer"))?
            .div_ceil(24),
        (None, None) => return Err(bad("retention_days", "missing (or give retention_hours)")),
    };
    let field = if days_field.is_some() {
        "retention_days"
    } else {
        "retention_hours"
    };
    let days = u32::try_from(days)
        .ok()
        .filter(|d| *d <= MAX_DAYS_BACK)
        .ok_or_else(|| bad(field, format!("must be at most {MAX_DAYS_BACK} days")))?;
    let report = s.history.drop_older_than(days).await?;
    Ok(Json(json!({"status": "ok", "retention_days": days, "report": report})).into_response())
}

pub(super) async fn archive_day(
    State(s): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let body = object_body(body)?;
    let days_ago = match body.get("days_ago") {
        None => 1,
        Some(d) => d
            .as_u64()
            .ok_or_else(|| bad("days_ago", "must be a non-negative integer"))
            .and_then(|d| {
                u32::try_from(d)
                    .ok()
                    .filter(|d| *d <= MAX_DAYS_BACK)
                    .ok_or_else(|| bad("days_ago", format!("must be at most {MAX_DAYS_BACK}")))
            })?,
    };
    let report = s.history.finalize_day(days_ago).await?;
    Ok(Json(json!({"status": "ok", "days_ago": days_ago, "report": report})).into_response())
}

pub(super) async fn stats(State(s): State<ApiState>) -> ApiResult {
    let kinds = s.history.stats().await?;
    let total: u64 = kinds.iter().map(|k| k.events).sum();
    Ok(Json(json!({"store": s.history.name(), "total_events": total, "by_type": kinds, "pipeline": s.status.as_ref().map(|f| f())})).into_response())
}

fn health_json(name: &str, h: &Health) -> Value {
    json!({"name": name, "health": h})
}

pub(super) async fn status(State(s): State<ApiState>) -> ApiResult {
    let (history, hot) = tokio::join!(s.history.health(), s.hot.health());
    let up = history.is_up() && hot.is_up();
    Ok(Json(json!({
        "service": "data-storage-service",
        "status": if up { "running" } else { "degraded" },
        "uptime_seconds": s.started.elapsed().as_secs(),
        "history_store": s.history.name(),
        "hot_store": s.hot.name(),
        "pipeline": s.status.as_ref().map(|f| f()),
    }))
    .into_response())
}

pub(super) async fn database_status(State(s): State<ApiState>) -> ApiResult {
    let (history, hot) = tokio::join!(s.history.health(), s.hot.health());
    let code = if history.is_up() && hot.is_up() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        code,
        Json(json!({
            "history": health_json(s.history.name(), &history),
            "hot": health_json(s.hot.name(), &hot),
        })),
    )
        .into_response())
}
