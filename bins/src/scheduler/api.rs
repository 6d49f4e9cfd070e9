//! The scheduler's HTTP API: tasks (list, create, read, update, delete, run now, cancel),
//! their runs, and the engine's status, start and stop.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Engine, Task, TaskInput};

/// The scheduler routes over an engine.
pub fn routes(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/api/v1/scheduler/tasks", get(list).post(create))
        .route(
            "/api/v1/scheduler/tasks/{id}",
            get(get_task).put(update).delete(delete),
        )
        .route("/api/v1/scheduler/tasks/{id}/run", post(run_now))
        .route("/api/v1/scheduler/tasks/{id}/cancel", post(cancel))
        .route("/api/v1/scheduler/tasks/{id}/runs", get(task_runs))
        .route("/api/v1/scheduler/runs", get(all_runs))
        .route("/api/v1/scheduler/status", get(status))
        .route("/api/v1/scheduler/start", post(start))
        .route("/api/v1/scheduler/stop", post(stop_scheduler))
        .with_state(engine)
}

type Reply = (StatusCode, Json<Value>);

fn err(code: StatusCode, e: impl std::fmt::Display) -> Reply {
    (code, Json(json!({ "error": e.to_string() })))
}

fn view(t: &Task) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "next_run_ms".into(),
            json!(t.enabled.then(|| t.next_fire(chrono::Utc::now())).flatten()),
        );
    }
    v
}

async fn list(State(e): State<Arc<Engine>>) -> Reply {
    match e.store.list().await {
        Ok(ts) => (
            StatusCode::OK,
            Json(json!({ "tasks": ts.iter().map(view).collect::<Vec<_>>() })),
        ),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn create(
    State(e): State<Arc<Engine>>,
    input: Result<Json<TaskInput>, JsonRejection>,
) -> Reply {
    let input = body(input);
    if let Ok(TaskInput { id: Some(id), .. }) = &input {
        match e.store.get(id).await {
            Ok(Some(_)) => return err(StatusCode::CONFLICT, format!("task `{id}` exists")),
            Ok(None) => {}
            Err(x) => return err(StatusCode::SERVICE_UNAVAILABLE, x),
        }
    }
    let task = match input.and_then(|i| {
        e.accept(i, None)
            .map_err(|x| err(StatusCode::BAD_REQUEST, x))
    }) {
        Ok(t) => t,
        Err(reply) => return reply,
    };
    match e.store.put(&task).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({ "task_id": task.id, "task": view(&task) })),
        ),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn get_task(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> Reply {
    match e.store.get(&id).await {
        Ok(Some(t)) => {
            let runs = e.store.runs(Some(&id), 20).await.unwrap_or_default();
            (
                StatusCode::OK,
                Json(json!({ "task": view(&t), "recent_runs": runs })),
            )
        }
        Ok(None) => err(StatusCode::NOT_FOUND, format!("no task `{id}`")),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn update(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    input: Result<Json<TaskInput>, JsonRejection>,
) -> Reply {
    let input = body(input);
    let base = match e.store.get(&id).await {
        Ok(Some(t)) => t,
        Ok(None) => return err(StatusCode::NOT_FOUND, format!("no task `{id}`")),
        Err(x) => return err(StatusCode::SERVICE_UNAVAILABLE, x),
    };
    let task = match input.and_then(|i| {
        e.accept(i, Some(base))
            .map_err(|x| err(StatusCode::BAD_REQUEST, x))
    }) {
        Ok(t) => t,
        Err(reply) => return reply,
    };
    match e.store.put(&task).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "task": view(&task) }))),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn delete(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> Reply {
    match e.store.delete(&id).await {
        Ok(true) => (StatusCode::OK, Json(json!({ "deleted": id }))),
        Ok(false) => err(StatusCode::NOT_FOUND, format!("no task `{id}`")),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn run_now(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> Reply {
    match e.store.get(&id).await {
        Ok(Some(t)) => {
            let run_id = e.spawn(t, None);
            (
                StatusCode::ACCEPTED,
                Json(json!({ "task_id": id, "run_id": run_id })),
            )
        }
        Ok(None) => err(StatusCode::NOT_FOUND, format!("no task `{id}`")),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn cancel(State(e): State<Arc<Engine>>, Path(id): Path<String>) -> Reply {
    match e.store.get(&id).await {
        Ok(Some(_)) => (
            StatusCode::OK,
            Json(json!({ "task_id": id, "cancelled": e.cancel(&id) })),
        ),
        Ok(None) => err(StatusCode::NOT_FOUND, format!("no task `{id}`")),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

/// A JSON body, or why not: every refusal is a JSON 400 (axum's own would be a plain-text
/// 415/422), and a body over the limit stays a 413.
fn body(input: Result<Json<TaskInput>, JsonRejection>) -> Result<TaskInput, Reply> {
    input.map(|Json(i)| i).map_err(|r| {
        let code = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        err(code, r.body_text())
    })
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn task_runs(
    State(e): State<Arc<Engine>>,
    Path(id): Path<String>,
    Query(q): Query<Limit>,
) -> Reply {
    // A deleted (or never created) task has no runs resource; its past runs stay listed
    // under /api/v1/scheduler/runs.
    match e.store.get(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return err(StatusCode::NOT_FOUND, format!("no task `{id}`")),
        Err(x) => return err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
    match e.store.runs(Some(&id), q.limit.unwrap_or(100)).await {
        Ok(r) => (StatusCode::OK, Json(json!({ "runs": r }))),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn all_runs(State(e): State<Arc<Engine>>, Query(q): Query<Limit>) -> Reply {
    match e.store.runs(None, q.limit.unwrap_or(100)).await {
        Ok(r) => (StatusCode::OK, Json(json!({ "runs": r }))),
        Err(x) => err(StatusCode::SERVICE_UNAVAILABLE, x),
    }
}

async fn status(State(e): State<Arc<Engine>>) -> Reply {
    let tasks = e.store.list().await.map(|t| t.len()).unwrap_or(0);
    (
        StatusCode::OK,
        Json(json!({
            "running": e.running.load(Ordering::Relaxed),
            "instance": e.instance,
            "store": e.store.name(),
            "tasks": tasks,
            "active_runs": e.active_runs(),
            "fired": e.fired.load(Ordering::Relaxed),
            "timezone": "UTC",
        })),
    )
}

async fn start(State(e): State<Arc<Engine>>) -> Reply {
    e.running.store(true, Ordering::Relaxed);
    (StatusCode::OK, Json(json!({ "running": true })))
}

async fn stop_scheduler(State(e): State<Arc<Engine>>) -> Reply {
    e.running.store(false, Ordering::Relaxed);
    (StatusCode::OK, Json(json!({ "running": false })))
}
