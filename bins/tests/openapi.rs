//! `docs/openapi.json` and the routes agree, both ways:
//!
//! - every `.route("…", get(..).post(..))` registered in the services' sources is documented
//!   with the same methods, and every documented operation is registered somewhere;
//! - every documented operation, sent to its service in a running `marketprism demo`, reaches
//!   a handler (axum's own 404 and 405 have empty bodies; the handlers' 404s are JSON).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Source folders whose `.route(..)` calls are public service routes (the exchange
/// simulator's are not: it stands in for the exchanges).
const SOURCES: [&str; 5] = [
    "bins/src",
    "marketprism-core/src",
    "marketprism-gateway/src",
    "marketprism-storage/src",
    "marketprism-discovery/src",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn document() -> Value {
    let text = std::fs::read_to_string(root().join("docs/openapi.json")).expect("read openapi");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

/// `(path, method)` of every documented operation.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            ops.insert((path.clone(), method.clone()));
        }
    }
    ops
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The routes of one source text: each `.route("PATH", <handlers>)` whose handlers call
/// `get(`, `post(`, …; calls whose second argument names no method (e.g. the gateway
/// config's `.route(prefix, service)`) are not HTTP routes.
fn routes_in(text: &str) -> Vec<(String, String)> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(open) = rest.find('"') else { break };
        if !rest[..open].trim().is_empty() {
            continue; // not a literal path
        }
        let Some(len) = rest[open + 1..].find('"') else {
            break;
        };
        let path = rest[open + 1..open + 1 + len].to_owned();
        // The arguments end at the parenthesis closing `.route(`.
        let args = &rest[open + 1 + len + 1..];
        let mut depth = 1;
        let end = args
            .char_indices()
            .find_map(|(i, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                (depth == 0).then_some(i)
            })
            .unwrap_or(args.len());
        let handlers = &args[..end];
        for m in METHODS {
            let called = handlers.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0
                    || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                        && handlers.as_bytes()[i - 1] != b'_'
            });
            if called {
                out.push((path.clone(), m.to_owned()));
            }
        }
    }
    out
}

fn registered() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    for dir in SOURCES {
        rust_files(&root().join(dir), &mut files);
    }
    files
        .iter()
        .flat_map(|f| routes_in(&std::fs::read_to_string(f).expect("read source")))
        .collect()
}

#[test]
fn the_route_scanner_reads_chained_methods_and_skips_config_routes() {
    let src = r#"
        Router::new()
            .route("/a/{id}", get(one).put(update).delete(remove))
            .route(
                "/b",
                post(create),
            )
            // .route("/commented", get(x))
            .route("/c", get(move || { let s = s.clone(); async move { Json(s) } }))
        config.route("/api/v1/storage", "storage-2");
    "#;
    let got: Vec<_> = routes_in(src)
        .into_iter()
        .map(|(p, m)| format!("{m} {p}"))
        .collect();
    assert_eq!(
        got,
        [
            "get /a/{id}",
            "put /a/{id}",
            "delete /a/{id}",
            "post /b",
            "get /c"
        ]
    );
}

#[test]
fn every_registered_route_is_documented_and_every_documented_one_registered() {
    let doc = documented(&document());
    let code = registered();
    let undocumented: Vec<_> = code.difference(&doc).collect();
    let unregistered: Vec<_> = doc.difference(&code).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "documented but registered nowhere: {unregistered:?}"
    );
    // The gateway serves the same document.
    assert_eq!(
        serde_json::from_str::<Value>(marketprism_gateway::status::OPENAPI_JSON).expect("json"),
        document()
    );
}

/// Port offset of each service in `marketprism demo` (see `PlatformArgs::base_port`).
fn offset(service: &str) -> u16 {
    match service {
        "api-gateway" => 0,
        "market-data-collector" => 1,
        "data-storage-service" => 2,
        "monitoring-service" => 3,
        "scheduler-service" => 4,
        "message-broker-service" => 5,
        other => panic!("unknown x-marketprism-service `{other}`"),
    }
}

fn free_base_port() -> u16 {
    let seed = std::process::id() as u16 ^ Instant::now().elapsed().subsec_nanos() as u16;
    for i in 0..200u16 {
        let base = 21_000 + (seed.wrapping_add(i.wrapping_mul(7919)) % 29_000);
        if (0..6).all(|o| std::net::TcpListener::bind(("127.0.0.1", base + o)).is_ok()) {
            return base;
        }
    }
    panic!("no 6 consecutive free ports");
}

/// A concrete URL path for a documented template: examples, or ids that exist nowhere.
fn concrete(path: &str, op: &Value) -> String {
    let mut p = path.to_owned();
    for param in op["parameters"].as_array().into_iter().flatten() {
        if param["in"] == "path" {
            let name = param["name"].as_str().expect("name");
            let value = match name {
                // Never touch a real task (DELETE, run): the handler's JSON 404 proves the route.
                "id" => "openapi-probe-none",
                _ => param["example"].as_str().unwrap_or("x"),
            };
            p = p.replace(&format!("{{{name}}}"), value);
        }
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_reaches_a_handler_in_the_demo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = free_base_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .args(["demo", "--base-port", &base.to_string(), "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn demo");
    marketprism_bins::common::install_crypto();
    let client = reqwest::Client::new();
    // Up when every service answers /health.
    let started = Instant::now();
    loop {
        let mut up = 0;
        for o in 0..6 {
            let url = format!("http://127.0.0.1:{}/health", base + o);
            if client.get(url).send().await.is_ok() {
                up += 1;
            }
        }
        if up == 6 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "demo not up in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let doc = document();
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let services: Vec<&str> = match &op["x-marketprism-service"] {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                other => panic!("{method} {path}: x-marketprism-service {other}"),
            };
            for service in services {
                let url = format!(
                    "http://127.0.0.1:{}{}",
                    base + offset(service),
                    concrete(path, op)
                );
                let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .expect("method");
                let mut req = client.request(m, &url);
                if op.get("requestBody").is_some() {
                    req = req.header("content-type", "application/json").body("{}");
                }
                let r = req.send().await.expect("send");
                let status = r.status().as_u16();
                let body = r.bytes().await.expect("body");
                if status == 405 || (status == 404 && body.is_empty()) {
                    failures.push(format!("{method} {url} ({service}): {status}"));
                }
            }
        }
    }
    let _ = child.kill().await;
    assert!(
        failures.is_empty(),
        "documented but not served: {failures:#?}"
    );
}
