//! The monitoring status page's per-channel charts (issue 16 item 8, "look, don't read"),
//! rendered by a real headless Chromium from real events.
//!
//! A process of its own: the collector's statistics write to the process-wide metrics
//! recorder, which every service in the process exports (as in one-process mode), so the
//! alert counts of the other status page tests would see these events.

mod browser;

use std::time::{Duration, Instant};

use browser::{attr, dump_dom, require_chromium, screenshot, table_rows};
use marketprism_bins::{
    collector::Stats,
    common::now_ms,
    monitoring::{self, MonitoringConfig},
};
use marketprism_core::{
    Decimal,
    model::{ExchangeId, MarketEvent, MarketType, Side, Status, StatusKind, Symbol, Trade, now_ns},
    runtime::Service,
};
use marketprism_discovery::{Registry, ServiceInstance};
use serde_json::Value;
use tokio::net::TcpListener;

/// Issue 16 item 8, "look, don't read": real events (trades on two exchanges, a gap and a
/// book resync) go through the collector's statistics into its Prometheus metrics, the
/// monitoring service scrapes them as it does in production, and the page draws one row of
/// charts per exchange, market and channel whose points are what was sent, in the minute it
/// was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_charts_each_channel_from_collected_events() {
    let Some(chromium) = require_chromium() else {
        return;
    };
    marketprism_bins::common::install_crypto();
    // The process-wide recorder the collector's metrics go to (as in a collector process).
    marketprism_bins::telemetry::describe_metrics();
    let discovery = format!("memory://statuscharts{}x{}", std::process::id(), now_ns());
    let reg = Registry::from_url(&discovery).await.expect("registry");

    // The collector's HTTP side: the service runtime's own /health and /metrics.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let col_port = listener.local_addr().expect("addr").port();
    let collector_http = Service::builder("market-data-collector")
        .version("0.0.0-test")
        .build();
    let (stop_col, col_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(collector_http.serve(listener, async move {
        let _ = col_stopped.await;
    }));
    let instance = ServiceInstance::builder("market-data-collector", "127.0.0.1", col_port)
        .id("collector-charts-1")
        .build()
        .expect("instance");
    reg.register(instance).await.expect("register");

    let mut c = MonitoringConfig::default();
    c.discovery.url = discovery.clone();
    c.discovery.health_check_interval_secs = 0;
    c.services = vec!["market-data-collector".to_owned()];
    c.scrape_interval_ms = 200;
    c.scrape_timeout_ms = 1000;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mon = tokio::spawn(monitoring::run(c, listener, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://127.0.0.1:{port}");
    // The collector has been scraped (its first scrape is the baseline of its counters).
    wait_for_overview(&base, |o| {
        o["instances"] == 2 && o["scrapes"].as_u64().is_some_and(|n| n >= 2)
    })
    .await;

    // What the collector reads from the exchanges, through its real statistics.
    let stats = Stats::default();
    let ts = now_ns();
    let trade = |exchange: ExchangeId, market: MarketType, symbol: &str, id: u32| {
        MarketEvent::Trade(Trade {
            exchange,
            market,
            symbol: Symbol::new(symbol),
            trade_id: id.to_string().as_str().into(),
            side: Side::Buy,
            price: Decimal::new(6_500_012, 2),
            size: Decimal::new(15, 3),
            exchange_ts: ts,
            local_ts: ts,
        })
    };
    let mut events: Vec<MarketEvent> = (0..5)
        .map(|i| trade(ExchangeId::BINANCE, MarketType::Spot, "BTC-USDT", i))
        .chain((0..3).map(|i| trade(ExchangeId::OKX, MarketType::Perpetual, "BTC-USDT-PERP", i)))
        .collect();
    let btc = || Some(Symbol::new("BTC-USDT"));
    events.push(MarketEvent::Status(Status::new(
        ExchangeId::BINANCE,
        MarketType::Spot,
        btc(),
        ts,
        StatusKind::Gap {
            expected: 101,
            received: 105,
        },
    )));
    events.push(MarketEvent::Status(Status::new(
        ExchangeId::BINANCE,
        MarketType::Spot,
        btc(),
        ts,
        StatusKind::BookResync {
            reason: "gap".into(),
        },
    )));
    let sent_minute = now_ms() / 60_000;
    stats.observe_all(&events);

    // Monitoring has scraped them.
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let sum = |s: &Value, field: &str| -> u64 {
        s[field]
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_u64).sum())
    };
    loop {
        let h: Value = client
            .get(format!("{base}/api/v1/history"))
            .send()
            .await
            .expect("history")
            .json()
            .await
            .expect("history json");
        let find = |name: &str| {
            h["series"].as_array().and_then(|a| {
                a.iter()
                    .find(|s| {
                        format!("{}/{}/{}", s["exchange"], s["market"], s["kind"]).replace('"', "")
                            == name
                    })
                    .cloned()
            })
        };
        let done = find("binance/spot/status").is_some_and(|s| sum(&s, "gaps") == 1)
            && find("binance/spot/trade").is_some_and(|s| sum(&s, "events") == 5)
            && find("okx/perpetual/trade").is_some_and(|s| sum(&s, "events") == 3);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "history never showed the events: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen_minute = now_ms() / 60_000;

    let dom = dump_dom(&chromium, &format!("{base}/")).await;
    let table_at = dom.find("<table id=\"history\"").expect("history table");
    let table_tag = &dom[table_at..table_at + dom[table_at..].find('>').expect("tag end")];
    let start_ms: i64 = attr(table_tag, "data-start-ms")
        .unwrap_or_else(|| panic!("JS did not draw the history:\n{dom}"))
        .parse()
        .expect("start ms");
    let start_minute = start_ms / 60_000;
    let rows: Vec<String> = table_rows(&dom, "history")
        .iter()
        .map(|r| {
            r[..3]
                .iter()
                .map(|c| c.1.as_str())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    assert_eq!(
        rows,
        [
            "binance/spot/status",
            "binance/spot/trade",
            "okx/perpetual/trade"
        ]
    );

    let charts = charts(&dom);
    let chart = |series: &str, metric: &str| {
        charts
            .iter()
            .find(|c| c.series == series && c.metric == metric)
            .unwrap_or_else(|| panic!("no {metric} chart for {series}: {charts:#?}"))
    };
    // Every count lands in the minute it was scraped, between sending and seeing it; bars are
    // drawn exactly where the points are non-zero, with their values.
    let in_window = |i: usize| {
        let minute = start_minute + i as i64;
        (sent_minute..=seen_minute).contains(&minute)
    };
    for (series, metric, total) in [
        ("binance/spot/trade", "events", 5.0),
        ("okx/perpetual/trade", "events", 3.0),
        ("binance/spot/status", "events", 2.0),
        ("binance/spot/status", "gaps", 1.0),
        ("binance/spot/status", "resyncs", 1.0),
    ] {
        let c = chart(series, metric);
        assert_eq!(c.points.len(), 60, "{c:#?}");
        let nonzero: Vec<(usize, f64)> = c
            .points
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.filter(|v| *v > 0.0).map(|v| (i, v)))
            .collect();
        assert_eq!(
            nonzero.iter().map(|(_, v)| v).sum::<f64>(),
            total,
            "{series} {metric}: {c:#?}"
        );
        assert!(
            nonzero.iter().all(|(i, _)| in_window(*i)),
            "{series} {metric} outside minutes {sent_minute}..={seen_minute} (start {start_minute}): {c:#?}"
        );
        assert_eq!(c.bars, nonzero, "{series} {metric}: bars drawn");
    }
    // One gap and one resync: a single bar of 1, in the right minute.
    assert_eq!(chart("binance/spot/status", "gaps").bars.len(), 1);
    // Freshness: the newest age is a few scrapes old, and the line goes through every point.
    for series in ["binance/spot/trade", "okx/perpetual/trade"] {
        let c = chart(series, "age_secs");
        let ages: Vec<f64> = c.points.iter().flatten().copied().collect();
        let last = *ages.last().unwrap_or_else(|| panic!("no age: {c:#?}"));
        assert!((0.0..30.0).contains(&last), "{series} age {last}: {c:#?}");
        assert_eq!(c.line_points, ages.len(), "{series}: line vertices {c:#?}");
        assert!(!c.stale, "{series} drawn stale: {c:#?}");
    }

    // What an operator sees: a screenshot of the rendered page.
    let shots = tempfile::tempdir().expect("screenshot dir");
    let png_path = shots.path().join("status.png");
    screenshot(&chromium, &format!("{base}/"), &png_path, 1280, 1000).await;
    let png = std::fs::read(&png_path).expect("screenshot written");
    // Kept for a look (or as a CI artifact) when asked for.
    if let Some(dir) = std::env::var_os("MARKETPRISM_SCREENSHOT_DIR") {
        let keep = std::path::Path::new(&dir).join("status_page_charts.png");
        std::fs::write(&keep, &png).expect("keep screenshot");
        eprintln!("screenshot: {}", keep.display());
    }
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let dim = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!((dim(16), dim(20)), (1280, 1000));
    assert!(
        png.len() > 10_000,
        "screenshot of {} bytes: a blank page?",
        png.len()
    );

    stop.send(()).expect("monitoring still running");
    tokio::time::timeout(Duration::from_secs(10), mon)
        .await
        .expect("monitoring stops")
        .expect("join")
        .expect("monitoring run");
    let _ = stop_col.send(());
}

/// One chart as the page drew it.
#[derive(Debug)]
struct Chart {
    series: String,
    metric: String,
    /// `data-points`: the values it was drawn from (`None`: no data that minute).
    points: Vec<Option<f64>>,
    /// `(bucket, value)` of every bar drawn.
    bars: Vec<(usize, f64)>,
    /// Vertices of the freshness line (polyline points and single-point circles).
    line_points: usize,
    /// Drawn as stale (past the `data_stale` limit).
    stale: bool,
}

/// Every `<svg class="chart …">` in the DOM.
fn charts(dom: &str) -> Vec<Chart> {
    let mut out = Vec::new();
    for part in dom.split("<svg ").skip(1) {
        let end = part.find("</svg>").unwrap_or(part.len());
        let svg = &part[..end];
        let tag = &svg[..svg.find('>').unwrap_or(svg.len())];
        let tag = format!(" {tag}");
        let class = attr(&tag, "class").unwrap_or_default();
        if !class.split(' ').any(|c| c == "chart") {
            continue;
        }
        let tags = |name: &str| -> Vec<String> {
            svg.split(&format!("<{name} "))
                .skip(1)
                .map(|t| format!(" {}", &t[..t.find('>').unwrap_or(t.len())]))
                .collect()
        };
        out.push(Chart {
            series: attr(&tag, "data-series").unwrap_or_default(),
            metric: attr(&tag, "data-metric").unwrap_or_default(),
            points: attr(&tag, "data-points")
                .unwrap_or_default()
                .split(',')
                .map(|v| (!v.is_empty()).then(|| v.parse().expect("number")))
                .collect(),
            bars: tags("rect")
                .iter()
                .map(|t| {
                    let n = |a: &str| attr(t, a).unwrap_or_else(|| panic!("rect without {a}"));
                    (
                        n("data-i").parse().expect("i"),
                        n("data-v").parse().expect("v"),
                    )
                })
                .collect(),
            line_points: tags("polyline")
                .iter()
                .map(|t| attr(t, "points").unwrap_or_default().split(' ').count())
                .sum::<usize>()
                + tags("circle").len(),
            stale: class.split(' ').any(|c| c == "stale"),
        });
    }
    out
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
