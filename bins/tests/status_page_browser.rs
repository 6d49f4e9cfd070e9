//! The monitoring status page, rendered by a real headless Chromium.
//!
//! The page is static HTML whose tables are filled by JavaScript from `/api/v1/*`, so a test of
//! the JSON API alone says nothing about what an operator sees: a JS error leaves an empty page
//! that still answers 200. Here the monitoring service scrapes real (tiny) HTTP services, and
//! the DOM Chromium dumps after running the page's JS must show them, their states and the
//! alerts. A second test keeps the page self-contained: no CDN, fonts or scripts from elsewhere
//! (the status page must work on an air-gapped host and leak nothing to third parties). The
//! per-channel charts are tested in `status_page_charts.rs` (a process of their own: they feed
//! the process-wide metrics recorder). The last test opens the page the way an operator does
//! in a deployment: through the gateway's `/monitoring/`, with a gateway API key (issue 13).

mod browser;

use std::time::{Duration, Instant};

use axum::{Json, Router, routing::get};
use browser::{dump_dom, element, require_chromium, table_rows};
use marketprism_bins::{
    common::ServiceTokenList,
    gateway_service::{self, GatewayServiceConfig},
    monitoring::{self, MonitoringConfig},
};
use marketprism_core::{
    runtime::{DependencyHealth, HealthReport, OverallStatus},
    sink::Health,
};
use marketprism_discovery::{Registry, ServiceInstance};
use serde_json::Value;
use tokio::net::TcpListener;

const STATUS_HTML: &str = include_str!("../src/monitoring/status.html");

#[test]
fn status_page_loads_no_external_resources() {
    // The checker itself must catch the usual ways a page pulls in third-party content.
    let bad = r#"<script src="https://cdn.example/x.js"></script><link href='//fonts.example/css'>
        <style>@import "https://a.example/b.css"; body{background:url( //img.example/p.png )}</style>
        <script>import('https://esm.example/m.js'); fetch("http://api.example/")</script>"#;
    assert_eq!(external_refs(bad).len(), 6, "{:#?}", external_refs(bad));
    let refs = external_refs(STATUS_HTML);
    assert!(
        refs.is_empty(),
        "status.html loads external resources: {refs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_renders_services_and_alerts_in_chromium() {
    let Some(chromium) = require_chromium() else {
        return;
    };
    let started = Instant::now();
    marketprism_bins::common::install_crypto();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let discovery = format!("memory://statuspage{}x{nanos}", std::process::id());
    let reg = Registry::from_url(&discovery).await.expect("registry");

    // A healthy gateway with 7 metric samples, a degraded collector whose trades are stale
    // (fires `data_stale`), and a storage instance registered on a port nobody listens on
    // (fires `service_down`).
    let gw_port = serve_fake("api-gateway", OverallStatus::Healthy, gateway_metrics()).await;
    let col_port = serve_fake(
        "market-data-collector",
        OverallStatus::Degraded,
        collector_metrics(),
    )
    .await;
    let dead_port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    for (service, id, port) in [
        ("api-gateway", "gw-test-1", gw_port),
        ("market-data-collector", "collector-test-1", col_port),
        ("data-storage-service", "storage-test-down", dead_port),
    ] {
        let instance = ServiceInstance::builder(service, "127.0.0.1", port)
            .id(id)
            .build()
            .expect("instance");
        reg.register(instance).await.expect("register");
    }

    let mut c = MonitoringConfig::default();
    c.discovery.url = discovery.clone();
    // Registry health checks would hide the dead instance; the page must show it as down.
    c.discovery.health_check_interval_secs = 0;
    c.services = [
        "api-gateway",
        "market-data-collector",
        "data-storage-service",
    ]
    .map(str::to_owned)
    .to_vec();
    c.scrape_interval_ms = 200;
    c.scrape_timeout_ms = 1000;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mon = tokio::spawn(monitoring::run(c, listener, async move {
        let _ = stopped.await;
    }));

    // The three services above plus the monitoring service itself (it registers and is
    // scraped like any other); two alerts once a scrape has seen them all.
    let base = format!("http://127.0.0.1:{port}");
    let overview =
        wait_for_overview(&base, |o| o["instances"] == 4 && o["alerts_firing"] == 2).await;
    assert_eq!(overview["healthy_instances"], 2, "{overview}");

    let t0 = Instant::now();
    let dom = dump_dom(&chromium, &format!("{base}/")).await;
    let browser_secs = t0.elapsed().as_secs_f64();

    // Header: filled only by the JS from /api/v1/overview (static HTML says "loading…").
    let (overall_class, overall) = element(&dom, "overall");
    assert_eq!(
        overall, "critical",
        "JS did not render the overview:\n{dom}"
    );
    assert_eq!(overall_class, "critical");
    assert_eq!(
        element(&dom, "counts").1,
        "2/4 instances healthy, 2 alerts firing"
    );
    let updated = element(&dom, "updated").1;
    assert!(
        updated.len() >= 20 && updated.contains('T') && updated.ends_with('Z'),
        "updated: {updated:?}"
    );

    // Services table: one row per scraped instance, from /api/v1/services.
    let rows = table_rows(&dom, "services");
    assert_eq!(rows.len(), 4, "{rows:#?}");
    let row = |service: &str| {
        rows.iter()
            .find(|r| r[0].1 == service)
            .unwrap_or_else(|| panic!("no row for {service}: {rows:#?}"))
    };
    let texts = |r: &Vec<(String, String)>| r.iter().map(|c| c.1.clone()).collect::<Vec<_>>();
    let gw = row("api-gateway");
    assert_eq!(
        texts(gw),
        [
            "api-gateway",
            "gw-test-1",
            &format!("http://127.0.0.1:{gw_port}"),
            "healthy",
            "7"
        ]
    );
    assert_eq!(gw[3].0, "healthy", "status cell class");
    let col = row("market-data-collector");
    assert_eq!(
        (col[1].1.as_str(), col[3].1.as_str()),
        ("collector-test-1", "degraded")
    );
    assert_eq!((col[3].0.as_str(), col[4].1.as_str()), ("degraded", "2"));
    let down = row("data-storage-service");
    assert_eq!(
        texts(down),
        [
            "data-storage-service",
            "storage-test-down",
            &format!("http://127.0.0.1:{dead_port}"),
            "unreachable",
            "0"
        ]
    );
    assert_eq!(down[3].0, "unreachable");
    assert_eq!(row("monitoring-service")[3].1, "healthy");

    // Alerts table, from /api/v1/alerts.
    let alerts = table_rows(&dom, "alerts");
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let alert = |rule: &str| {
        alerts
            .iter()
            .find(|r| r[1].1 == rule)
            .map(texts)
            .unwrap_or_else(|| panic!("no {rule} alert: {alerts:#?}"))
    };
    assert_eq!(
        alert("service_down"),
        [
            "firing",
            "service_down",
            "critical",
            "data-storage-service/storage-test-down",
            "data-storage-service instance storage-test-down is unreachable"
        ]
    );
    let stale = alert("data_stale");
    assert_eq!(
        stale[..4],
        ["firing", "data_stale", "warning", "binance/spot/trades"]
    );
    assert!(
        stale[4].starts_with("no binance/spot/trades data for "),
        "{stale:?}"
    );
    assert!(
        alerts.iter().all(|r| r[0].0 == "firing"),
        "state cell class"
    );

    stop.send(()).expect("monitoring still running");
    tokio::time::timeout(Duration::from_secs(10), mon)
        .await
        .expect("monitoring stops")
        .expect("join")
        .expect("monitoring run");
    eprintln!(
        "status page test: {:.1} s total, Chromium {browser_secs:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Issue 13: monitoring's routes need the service token, which a browser cannot send. Behind
/// the gateway, `/monitoring/` serves the page and its API calls to whoever has a gateway key
/// with the `read` role (as `X-API-Key`, bearer, or the Basic password a browser asks for);
/// anonymous requests are refused, and the service token never leaves the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_behind_the_gateway_needs_a_read_key() {
    const TOKEN: &str = "status-page-service-token-0123456789";
    const KEY: &str = "operator-read-key";
    marketprism_bins::common::install_crypto();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let discovery = format!("memory://statusgw{}x{nanos}", std::process::id());

    let mut m = MonitoringConfig::default();
    m.discovery.url = discovery.clone();
    m.services = vec!["monitoring-service".to_owned()];
    m.scrape_interval_ms = 200;
    m.service.tokens = ServiceTokenList(vec![TOKEN.to_owned()]);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mon_port = listener.local_addr().expect("addr").port();
    let (stop_mon, mon_stopped) = tokio::sync::oneshot::channel::<()>();
    let mon = tokio::spawn(monitoring::run(m, listener, async move {
        let _ = mon_stopped.await;
    }));

    let mut g = GatewayServiceConfig::default();
    g.discovery.url = discovery.clone();
    g.service.tokens = ServiceTokenList(vec![TOKEN.to_owned()]);
    g.gateway = g
        .gateway
        .api_key("operator", KEY, &[marketprism_gateway::Role::Read]);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let gw_port = listener.local_addr().expect("addr").port();
    let (stop_gw, gw_stopped) = tokio::sync::oneshot::channel::<()>();
    let gw = tokio::spawn(gateway_service::run(g, listener, async move {
        let _ = gw_stopped.await;
    }));

    let client = reqwest::Client::new();
    let gw_base = format!("http://127.0.0.1:{gw_port}");
    let get = |url: String, auth: Option<(&'static str, String)>| {
        let mut req = client.get(url);
        if let Some((name, value)) = auth {
            req = req.header(name, value);
        }
        async move { req.send().await.expect("send") }
    };
    let key = || Some(("x-api-key", KEY.to_owned()));
    // Up when the gateway finds monitoring in discovery.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = get(format!("{gw_base}/monitoring/api/v1/overview"), key()).await;
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gateway never reached monitoring: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Directly, the service wants its token: no browser gets past this.
    let direct = get(format!("http://127.0.0.1:{mon_port}/"), None).await;
    assert_eq!(direct.status(), 401);

    // Anonymous, a wrong key, or a service token sent by the client: refused at the gateway,
    // with a challenge a browser answers by asking for credentials.
    for path in [
        "/monitoring/",
        "/monitoring/api/v1/overview",
        "/monitoring/api/v1/history",
    ] {
        let r = get(format!("{gw_base}{path}"), None).await;
        assert_eq!(r.status(), 401, "{path}");
        let challenges: Vec<String> = r
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic ")),
            "{challenges:?}"
        );
        let wrong = get(
            format!("{gw_base}{path}"),
            Some(("x-api-key", "nope".into())),
        )
        .await;
        assert_eq!(wrong.status(), 401, "{path}");
        let token = Some(("x-marketprism-service-token", TOKEN.to_owned()));
        assert_eq!(get(format!("{gw_base}{path}"), token).await.status(), 401);
    }

    // An operator's read key: the page and every JSON it loads.
    let page = get(format!("{gw_base}/monitoring/"), key()).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("page");
    assert!(html.contains("Channels, last hour"), "{html}");
    for (path, field) in [
        ("overview", "status"),
        ("services", "services"),
        ("alerts", "firing"),
        ("history", "series"),
    ] {
        let r = get(format!("{gw_base}/monitoring/api/v1/{path}"), key()).await;
        assert_eq!(r.status(), 200, "{path}");
        let body: Value = r.json().await.expect("json");
        assert!(!body[field].is_null(), "{path}: {body}");
    }
    // The same read key as a browser sends it (Basic), but no writes that way.
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("operator:{KEY}"))
    );
    let r = get(
        format!("{gw_base}/monitoring/api/v1/history"),
        Some(("authorization", basic.clone())),
    )
    .await;
    assert_eq!(r.status(), 200);
    let post = client
        .post(format!("{gw_base}/api/v1/scheduler/stop"))
        .header("authorization", basic)
        .send()
        .await
        .expect("send");
    assert_eq!(post.status(), 401);

    // And in a browser: the page at the gateway, its relative API calls under the same prefix.
    if let Some(chromium) = require_chromium() {
        let url = format!("http://operator:{KEY}@127.0.0.1:{gw_port}/monitoring/");
        let dom = dump_dom(&chromium, &url).await;
        let overall = element(&dom, "overall").1;
        assert!(
            ["ok", "warning", "critical"].contains(&overall.as_str()),
            "the page could not load its data through the gateway: {overall:?}\n{dom}"
        );
        assert!(dom.contains("data-start-ms="), "history not drawn:\n{dom}");
    }

    let _ = stop_gw.send(());
    let _ = stop_mon.send(());
    for task in [gw, mon] {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("service stops")
            .expect("join")
            .expect("service run");
    }
}

/// Polls `/api/v1/overview` until `ready` holds (the scrape loop has seen everything).
async fn wait_for_overview(base: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/api/v1/overview")).send().await
            && let Ok(v) = r.json::<Value>().await
        {
            if ready(&v) {
                return v;
            }
            last = v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("monitoring never reached the expected overview; last: {last}");
}

/// A tiny service answering `/health` (the runtime's report type) and `/metrics`.
async fn serve_fake(name: &'static str, status: OverallStatus, metrics: String) -> u16 {
    let dependency = match status {
        OverallStatus::Healthy => Health::Healthy,
        _ => Health::Degraded {
            reason: "nats: reconnecting".into(),
        },
    };
    let report = HealthReport {
        service: name.into(),
        status,
        version: "0.0.0-test".into(),
        uptime_seconds: 42,
        dependencies: vec![DependencyHealth {
            name: "nats".into(),
            health: dependency,
        }],
    };
    let app = Router::new()
        .route("/health", get(move || async move { Json(report) }))
        .route("/metrics", get(move || async move { metrics }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

fn gateway_metrics() -> String {
    let mut text = String::from(
        "# HELP marketprism_http_requests_total HTTP requests served\n\
         # TYPE marketprism_http_requests_total counter\n",
    );
    for (route, status, n) in [
        ("/health", "200", 40),
        ("/api/v1/trades", "200", 120),
        ("/api/v1/trades", "400", 2),
        ("/api/v1/book", "200", 30),
        ("/api/v1/klines", "200", 9),
        ("/api/v1/klines", "404", 1),
    ] {
        text += &format!(
            "marketprism_http_requests_total{{service=\"api-gateway\",method=\"GET\",route=\"{route}\",status=\"{status}\"}} {n}\n"
        );
    }
    text + "marketprism_gateway_ws_clients 3\n"
}

fn collector_metrics() -> String {
    // Last trade an hour ago: stale against the default 60 s freshness rule.
    let hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 3600;
    format!(
        "# TYPE marketprism_collector_last_event_timestamp_seconds gauge\n\
         marketprism_collector_last_event_timestamp_seconds{{exchange=\"binance\",market=\"spot\",type=\"trades\"}} {hour_ago}\n\
         marketprism_collector_resyncs_total{{exchange=\"binance\",market=\"spot\"}} 0\n"
    )
}

/// Every place `html` refers to a resource on another host (`http://`, `https://` or `//`):
/// attributes, CSS `url(`/`@import`, JS `import`/`fetch(`.
fn external_refs(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for marker in ["src=", "href=", "action=", "url(", "import", "fetch("] {
        for (pos, _) in lower.match_indices(marker) {
            let rest = &lower[pos + marker.len()..];
            let end = rest.find([';', '>', '\n', ')']).unwrap_or(rest.len());
            let target = rest[..end].trim_start_matches([' ', '\t', '"', '\'', '(', '`']);
            if target.starts_with("//") || target.contains("http://") || target.contains("https://")
            {
                found.push(format!("{marker}{}", &rest[..end]));
            }
        }
    }
    found
}
