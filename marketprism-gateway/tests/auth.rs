//! API keys and JWT (HS256, RS256) with roles: 401 without or with bad credentials, 403 with
//! the wrong role, public paths open. Router tests with `oneshot` (the upstream is real).

mod common;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use common::{TestGateway, TestUpstream, http, open_config};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use marketprism_gateway::{
    BusEventSource, Role, StaticUpstreams, Upstream,
    config::{GatewayConfig, Secret},
};
use tower::ServiceExt;

const HS_SECRET: &str = "test-hs256-secret-of-enough-length";
const RS_PRIVATE: &str = include_str!("fixtures/rs256_private.pem");
const RS_PUBLIC: &str = include_str!("fixtures/rs256_public.pem");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn token(alg: Algorithm, roles: &[&str], exp: u64) -> String {
    let claims = serde_json::json!({ "sub": "alice", "roles": roles, "exp": exp, "iss": "marketprism-tests" });
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(HS_SECRET.as_bytes()),
        _ => EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).expect("private key"),
    };
    encode(&Header::new(alg), &claims, &key).expect("encode")
}

fn config() -> GatewayConfig {
    let mut c = open_config()
        .api_key("grafana", "key-read", &[Role::Read])
        .api_key("ops", "key-admin", &[Role::Admin]);
    c.auth.enabled = true;
    c.auth.jwt.hs256_secret = Some(Secret::new(HS_SECRET));
    c.auth.jwt.rs256_public_key_pem = Some(RS_PUBLIC.to_owned());
    c.auth.jwt.issuer = Some("marketprism-tests".to_owned());
    c.auth.public_paths.push("/_gateway/status".to_owned());
    c
}

async fn app() -> (Router, TestUpstream) {
    let up = TestUpstream::start("sched").await;
    let ups = StaticUpstreams::new().with("scheduler-service", Upstream::new("sched", &up.url));
    let router =
        marketprism_gateway::router(config(), Arc::new(ups), Arc::new(BusEventSource::default()))
            .expect("router");
    (router, up)
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    header: Option<(&str, String)>,
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(path);
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    response.status()
}

fn bearer(t: impl Into<String>) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {}", t.into())))
}

#[tokio::test]
async fn api_keys_and_roles() {
    let (app, up) = app().await;
    let tasks = "/api/v1/scheduler/tasks";

    // No credentials / unknown key → 401 with a challenge.
    let response = app
        .clone()
        .oneshot(Request::get(tasks).body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(
        call(&app, "GET", tasks, Some(("x-api-key", "nope".into()))).await,
        401
    );
    assert_eq!(call(&app, "GET", tasks, bearer("nope")).await, 401);

    // read: GET yes, writes no.
    assert_eq!(
        call(&app, "GET", tasks, Some(("x-api-key", "key-read".into()))).await,
        200
    );
    assert_eq!(call(&app, "GET", tasks, bearer("key-read")).await, 200);
    assert_eq!(
        call(&app, "POST", tasks, Some(("x-api-key", "key-read".into()))).await,
        403
    );
    assert_eq!(
        call(
            &app,
            "DELETE",
            "/api/v1/scheduler/tasks/1",
            bearer("key-read")
        )
        .await,
        403
    );

    // admin: everything.
    assert_eq!(
        call(&app, "POST", tasks, Some(("x-api-key", "key-admin".into()))).await,
        200
    );
    assert_eq!(
        call(&app, "GET", tasks, Some(("x-api-key", "key-admin".into()))).await,
        200
    );

    assert_eq!(up.hits(), 4, "only authorized requests reach the upstream");
}

fn basic(user: &str, password: &str) -> Option<(&'static str, String)> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(("authorization", format!("Basic {encoded}")))
}

/// Browsers send API keys as HTTP Basic passwords (the status page): reads only, never
/// more than `read`, so a credential a browser resends by itself cannot authorize a write.
#[tokio::test]
async fn basic_credentials_carry_an_api_key_for_reads_only() {
    let (app, up) = app().await;
    let tasks = "/api/v1/scheduler/tasks";
    // The 401 invites a browser to ask for them.
    let response = app
        .clone()
        .oneshot(Request::get(tasks).body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic realm=")),
        "{challenges:?}"
    );
    assert!(challenges.iter().any(|c| c.starts_with("Bearer")));

    assert_eq!(
        call(&app, "GET", tasks, basic("anyone", "key-read")).await,
        200
    );
    assert_eq!(call(&app, "HEAD", tasks, basic("", "key-admin")).await, 200);
    // Writes: refused even with an admin key.
    assert_eq!(
        call(&app, "POST", tasks, basic("ops", "key-admin")).await,
        401
    );
    assert_eq!(
        call(&app, "DELETE", tasks, basic("ops", "key-admin")).await,
        401
    );
    // Wrong key, garbage, no colon.
    assert_eq!(call(&app, "GET", tasks, basic("ops", "nope")).await, 401);
    let garbage = Some(("authorization", "Basic %%%".to_owned()));
    assert_eq!(call(&app, "GET", tasks, garbage).await, 401);
    let no_colon = Some(("authorization", "Basic a2V5LXJlYWQ=".to_owned()));
    assert_eq!(call(&app, "GET", tasks, no_colon).await, 401);
    assert_eq!(up.hits(), 2, "only the two reads reach the upstream");
}

#[tokio::test]
async fn jwt_hs256_and_rs256_with_roles() {
    let (app, _up) = app().await;
    let tasks = "/api/v1/scheduler/tasks";
    let exp = now() + 600;

    let hs_read = token(Algorithm::HS256, &["read"], exp);
    assert_eq!(call(&app, "GET", tasks, bearer(hs_read.clone())).await, 200);
    assert_eq!(call(&app, "POST", tasks, bearer(hs_read)).await, 403);

    let rs_admin = token(Algorithm::RS256, &["admin"], exp);
    assert_eq!(
        call(&app, "POST", tasks, bearer(rs_admin.clone())).await,
        200
    );
    assert_eq!(call(&app, "GET", tasks, bearer(rs_admin)).await, 200);

    // Expired, tampered, wrong issuer, unsigned → 401.
    let expired = token(Algorithm::HS256, &["admin"], now() - 3600);
    assert_eq!(call(&app, "GET", tasks, bearer(expired)).await, 401);
    let mut tampered = token(Algorithm::RS256, &["read"], exp);
    // The last character of a 256-byte signature is one of A, Q, g, w (2 bits): replace it
    // with a different one so the signature always changes.
    let last = tampered.pop();
    tampered.push(if last == Some('A') { 'Q' } else { 'A' });
    assert_eq!(call(&app, "GET", tasks, bearer(tampered)).await, 401);
    let wrong_iss = encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({ "sub": "x", "roles": ["admin"], "exp": exp, "iss": "evil" }),
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .expect("encode");
    assert_eq!(call(&app, "GET", tasks, bearer(wrong_iss)).await, 401);
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZXMiOlsiYWRtaW4iXX0.";
    assert_eq!(call(&app, "GET", tasks, bearer(unsigned)).await, 401);

    // A valid token without roles can do nothing.
    let no_roles = token(Algorithm::HS256, &[], exp);
    assert_eq!(call(&app, "GET", tasks, bearer(no_roles)).await, 403);
}

#[tokio::test]
async fn public_paths_admin_paths_and_gateway_routes() {
    let up = TestUpstream::start("b").await;
    let ups = StaticUpstreams::new().with("message-broker-service", Upstream::new("b", &up.url));
    let mut c = config();
    c.auth.admin_paths.push("/api/v1/broker/admin".to_owned());
    let app = marketprism_gateway::router(c, Arc::new(ups), Arc::new(BusEventSource::default()))
        .expect("router");
    // Configured public path: no credentials needed.
    assert_eq!(call(&app, "GET", "/_gateway/status", None).await, 200);
    // Not public: /_gateway/services needs `read`.
    assert_eq!(call(&app, "GET", "/_gateway/services", None).await, 401);
    assert_eq!(
        call(
            &app,
            "GET",
            "/_gateway/services",
            Some(("x-api-key", "key-read".into()))
        )
        .await,
        200
    );
    // Admin path: even GET needs admin.
    let admin_path = "/api/v1/broker/admin/streams";
    assert_eq!(
        call(
            &app,
            "GET",
            admin_path,
            Some(("x-api-key", "key-read".into()))
        )
        .await,
        403
    );
    assert_eq!(
        call(
            &app,
            "GET",
            admin_path,
            Some(("x-api-key", "key-admin".into()))
        )
        .await,
        200
    );
    // The live stream needs credentials too.
    assert_eq!(
        call(&app, "GET", "/ws/v1/stream?subjects=trade.%3E", None).await,
        401
    );
}

#[tokio::test]
async fn health_and_metrics_are_public_when_served() {
    let gw = TestGateway::start(
        config(),
        Arc::new(StaticUpstreams::new()),
        Arc::new(BusEventSource::default()),
    )
    .await;
    let client = http();
    let health = client
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.expect("json");
    assert_eq!(body["service"], "api-gateway");
    let metrics = client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(metrics.status(), 200);
    let unauth = client
        .get(format!("{}/api/v1/storage/x", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(unauth.status(), 401);
    let text = client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("marketprism_gateway_auth_failures_total"),
        "{text}"
    );
}

#[test]
fn bad_key_material_is_a_config_error() {
    let mut c = GatewayConfig::default();
    c.auth.jwt.rs256_public_key_pem = Some("not a pem".to_owned());
    let err = marketprism_gateway::router(
        c,
        Arc::new(StaticUpstreams::new()),
        Arc::new(BusEventSource::default()),
    )
    .expect_err("must fail");
    assert!(err.to_string().contains("rs256_public_key_pem"), "{err}");
}
