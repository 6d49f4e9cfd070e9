//! Consul without a Consul server: a recording HTTP stub (a MOCK, not Consul) verifies the
//! requests the backend sends — methods, paths, the ACL header, bodies — and that answers in
//! the documented shapes are read correctly. Real-server semantics (TTL expiry, blocking
//! query timing) are NOT tested here; see the crate docs for the gap.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "consul")]

mod common;

use std::time::Duration;

use futures::StreamExt;
use marketprism_discovery::{
    DiscoveryError, RemovalReason, ServiceInstance, WatchEvent, backend_from_url,
};

fn health_answer(body: &serde_json::Value, check: &str) -> String {
    serde_json::json!([{
        "Node": { "Node": "n1", "Address": "10.0.0.1" },
        "Service": {
            "ID": body["ID"], "Service": body["Name"], "Tags": body["Tags"],
            "Address": body["Address"], "Port": body["Port"], "Meta": body["Meta"],
            "Weights": body["Weights"]
        },
        "Checks": [{ "CheckID": format!("service:{}", body["ID"].as_str().unwrap()), "Status": check }]
    }])
    .to_string()
}

#[tokio::test]
async fn sends_the_documented_requests_with_the_acl_token() {
    let registered = std::sync::Arc::new(std::sync::Mutex::new(None::<serde_json::Value>));
    let reg = registered.clone();
    let stub = common::Stub::start(move |r| {
        let path = r.target.split('?').next().unwrap_or_default().to_owned();
        match (r.method.as_str(), path.as_str()) {
            ("PUT", "/v1/agent/service/register") => {
                *reg.lock().unwrap() = serde_json::from_str(&r.body).ok();
                (200, vec![], String::new())
            }
            ("PUT", "/v1/agent/check/pass/service:t1.api.api-1") => (200, vec![], String::new()),
            ("PUT", p) if p.starts_with("/v1/agent/check/pass/") => {
                (404, vec![], "Unknown check".into())
            }
            ("GET", "/v1/agent/health/service/id/t1.api.api-1") => (200, vec![], "{}".into()),
            ("GET", p) if p.starts_with("/v1/agent/health/service/id/") => {
                (404, vec![], String::new())
            }
            ("PUT", p) if p.starts_with("/v1/agent/service/deregister/") => {
                (200, vec![], String::new())
            }
            ("GET", "/v1/health/service/api") => {
                let body = reg.lock().unwrap().clone().unwrap_or_default();
                let text = if body.is_null() {
                    "[]".into()
                } else {
                    health_answer(&body, "passing")
                };
                (200, vec![("X-Consul-Index".into(), "42".into())], text)
            }
            ("GET", "/v1/catalog/services") => (
                200,
                vec![],
                r#"{"consul":[],"api":["mp-ns-t1"],"other":["mp-ns-t2"]}"#.into(),
            ),
            _ => (400, vec![], "unexpected".into()),
        }
    })
    .await;
    let url = format!("consul://{}?token=s3cr3t&dc=dc1&namespace=t1", stub.addr);
    let b = backend_from_url(&url).await.unwrap();
    let inst = ServiceInstance::builder("api", "127.0.0.1", 8080)
        .id("api-1")
        .weight(3)
        .tag("web")
        .build()
        .unwrap();
    let lease = b.register(&inst, Duration::from_secs(10)).await.unwrap();
    b.renew(&lease).await.unwrap();
    assert_eq!(b.list("api").await.unwrap(), vec![inst.clone()]);
    assert_eq!(b.services().await.unwrap(), ["api"]);
    b.update(&lease, &inst.with_weight(5)).await.unwrap();
    b.deregister("api", "api-1").await.unwrap();
    let mut gone = lease.clone();
    gone.id = "api-2".into();
    assert!(matches!(
        b.renew(&gone).await,
        Err(DiscoveryError::NotFound { .. })
    ));
    assert!(matches!(
        b.update(&gone, &inst.with_weight(1)).await,
        Err(DiscoveryError::InvalidInstance { .. })
    ));

    let reqs = stub.recorded();
    let lines: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        lines,
        [
            "PUT /v1/agent/service/register?dc=dc1",
            "GET /v1/agent/health/service/id/t1.api.api-1?dc=dc1",
            "PUT /v1/agent/check/pass/service:t1.api.api-1?dc=dc1",
            "GET /v1/health/service/api?dc=dc1",
            "GET /v1/catalog/services?dc=dc1",
            "GET /v1/agent/health/service/id/t1.api.api-1?dc=dc1",
            "PUT /v1/agent/service/register?dc=dc1",
            "PUT /v1/agent/service/deregister/t1.api.api-1?dc=dc1",
            "GET /v1/agent/health/service/id/t1.api.api-2?dc=dc1",
        ]
    );
    assert!(
        reqs.iter()
            .all(|r| r.header("X-Consul-Token") == Some("s3cr3t"))
    );
    let body: serde_json::Value = serde_json::from_str(&reqs[0].body).unwrap();
    assert_eq!(body["Name"], "api");
    assert_eq!(body["Port"], 8080);
    assert_eq!(body["Check"]["TTL"], "10s");
    assert_eq!(body["Check"]["CheckID"], "service:t1.api.api-1");
    assert_eq!(body["Weights"]["Passing"], 3);
    let updated: serde_json::Value = serde_json::from_str(&reqs[6].body).unwrap();
    assert_eq!(updated["Weights"]["Passing"], 5);
}

#[tokio::test]
async fn watch_uses_blocking_queries_and_reports_critical_as_expired() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = calls.clone();
    let inst = ServiceInstance::builder("api", "127.0.0.1", 8080)
        .id("api-1")
        .build()
        .unwrap();
    let body =
        marketprism_discovery::consul::registration_body(&inst, Duration::from_secs(5), "default");
    let stub = common::Stub::start(move |_| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (index, text) = match i {
            0 => ("10", "[]".to_owned()),
            1 => ("11", health_answer(&body, "passing")),
            _ => ("12", health_answer(&body, "critical")),
        };
        (200, vec![("X-Consul-Index".into(), index.into())], text)
    })
    .await;
    let b = backend_from_url(&format!("consul://{}", stub.addr))
        .await
        .unwrap();
    let mut w = b.watch("api").await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, WatchEvent::Put(inst.clone()));
    let second = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        second,
        WatchEvent::Removed {
            service: "api".into(),
            id: "api-1".into(),
            reason: RemovalReason::Expired
        }
    );
    let targets: Vec<String> = stub.recorded().iter().map(|r| r.target.clone()).collect();
    assert_eq!(targets[0], "/v1/health/service/api");
    assert_eq!(targets[1], "/v1/health/service/api?index=10&wait=60s");
    assert_eq!(targets[2], "/v1/health/service/api?index=11&wait=60s");
}

#[tokio::test]
async fn unreachable_agent_is_a_retryable_clear_error() {
    let b = backend_from_url("consul://127.0.0.1:1").await.unwrap();
    let err = b.list("api").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("consul"), "{err}");
}
