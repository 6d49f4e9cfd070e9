//! The scheduler's API as an attacker and a careless operator meet it (issue 13, findings 3
//! and 7): service credential on every route but health and metrics (admin ones included),
//! schedules that fire every second or never are refused with the reason, type errors are
//! JSON 400s, cancelling an unknown task is a 404, and the scheduler sends its credential to
//! the services it calls.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, http::HeaderMap, routing::post};
use marketprism_bins::scheduler::{self, SchedulerConfig};
use marketprism_discovery::{Registry, ServiceInstance};
use serde_json::{Value, json};

const TOKEN: &str = "scheduler-test-token-0123456789";

#[tokio::test]
async fn credential_schedule_limits_and_json_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let discovery = format!("memory://schedapi{}", std::process::id());
    // A target that records the credential it was called with.
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let s = Arc::clone(&seen);
    let app = Router::new().route(
        "/api/v1/tick",
        post(move |h: HeaderMap| {
            let s = Arc::clone(&s);
            async move {
                let t = h
                    .get("x-marketprism-service-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                s.lock().expect("lock").push(t);
                "ok"
            }
        }),
    );
    let target = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target_port = target.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(target, app).await });
    let reg = Registry::from_url(&discovery).await.expect("registry");
    reg.register(
        ServiceInstance::builder("tick-target", "127.0.0.1", target_port)
            .build()
            .expect("instance"),
    )
    .await
    .expect("register");

    let mut c = SchedulerConfig::default();
    c.discovery.url = discovery;
    c.store.path = dir.path().join("tasks.json");
    c.builtin.enabled = false;
    c.service.tokens.0 = vec![TOKEN.to_owned()];
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(scheduler::run(c, l, async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    marketprism_bins::common::install_crypto();
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>, token: Option<&str>| {
        let mut r = http.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            r = r.header("x-marketprism-service-token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let resp = r.send().await.expect("send");
            let code = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            (
                code,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    use reqwest::Method;

    // Finding 3: nothing but health and metrics without the credential, admin routes included.
    assert_eq!(call(Method::GET, "/health", None, None).await.0, 200);
    assert_eq!(call(Method::GET, "/metrics", None, None).await.0, 200);
    for (m, p) in [
        (Method::POST, "/api/v1/scheduler/stop"),
        (Method::GET, "/api/v1/scheduler/tasks"),
        (Method::POST, "/api/v1/scheduler/tasks"),
    ] {
        let (code, body) = call(m.clone(), p, Some(json!({})), None).await;
        assert_eq!(code, 401, "{m} {p}: {body}");
        let (code, _) = call(
            m.clone(),
            p,
            Some(json!({})),
            Some("wrong-token-0123456789"),
        )
        .await;
        assert_eq!(code, 401, "{m} {p} with a wrong token");
    }
    let t = Some(TOKEN);

    // Finding 7: schedules that fire every second or never; the reason is in the answer.
    let task = |cron: &str| {
        json!({"id": "t1", "cron_expression": cron, "target_service": "tick-target",
               "target_endpoint": "/api/v1/tick"})
    };
    for (cron, why) in [
        ("* * * * * *", "min_interval_secs"),
        ("*/5 * * * * *", "minimum interval"),
        ("0 0 30 2 *", "never fires"),
        ("61 * * * *", "invalid cron"),
    ] {
        let (code, body) = call(Method::POST, "/api/v1/scheduler/tasks", Some(task(cron)), t).await;
        assert_eq!(code, 400, "{cron}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains(why)),
            "{cron}: {body}"
        );
    }
    // Type errors: JSON 400, not plain-text 422.
    let (code, body) = call(
        Method::POST,
        "/api/v1/scheduler/tasks",
        Some(json!({"id": "t1", "cron_expression": 5})),
        t,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("cron_expression")),
        "{body}"
    );
    // Unknown task: 404.
    let (code, body) = call(
        Method::POST,
        "/api/v1/scheduler/tasks/nosuch/cancel",
        None,
        t,
    )
    .await;
    assert_eq!(code, 404, "{body}");
    // schemathesis (stateful): the runs of a task that does not exist (deleted) are 404 too.
    let (code, body) = call(Method::GET, "/api/v1/scheduler/tasks/nosuch/runs", None, t).await;
    assert_eq!(code, 404, "{body}");

    // A valid task; run now: the target sees the scheduler's credential.
    let (code, body) = call(
        Method::POST,
        "/api/v1/scheduler/tasks",
        Some(task("0 3 * * *")),
        t,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(Method::POST, "/api/v1/scheduler/tasks/t1/run", None, t).await;
    assert!(code < 300, "{code} {body}");
    for _ in 0..50 {
        if !seen.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(*seen.lock().expect("lock"), vec![Some(TOKEN.to_owned())]);
    let (code, _) = call(Method::POST, "/api/v1/scheduler/stop", None, t).await;
    assert_eq!(code, 200);

    let _ = stop.send(());
    let _ = server.await;
}
