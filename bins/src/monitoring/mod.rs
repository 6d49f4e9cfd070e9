//! monitoring-service (port 8083): scrapes every discovered service's `/health` and
//! `/metrics`, evaluates alert rules, keeps alerts (firing/resolved, with history), notifies a
//! webhook, keeps an hour of per-channel history ([`history`]), and serves a self-contained
//! status page at `/` whose charts are drawn from it.
//!
//! Routes: `/`, `/api/v1/overview`, `/api/v1/services`, `/api/v1/alerts`, `/api/v1/history`.
//! The page fetches them by relative URLs, so it works both directly and behind the gateway's
//! `/monitoring/` prefix.

pub mod history;
mod rules;

use std::{
    collections::{BTreeMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{Json, Router, extract::State, response::Html, routing::get};
use marketprism_core::runtime::Service;
use marketprism_discovery::Registry;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_util::sync::CancellationToken;

pub use rules::{Alert, DEFAULT_FRESHNESS, RulesConfig, Sample, parse_prometheus};

use crate::common::{self, DiscoverySection, Result, ServiceSection, now_ms};

/// Monitoring configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend (what to scrape).
    pub discovery: DiscoverySection,
    /// Services expected to run (a missing one is "down").
    pub services: Vec<String>,
    /// Scrape period (ms).
    pub scrape_interval_ms: u64,
    /// Per-request timeout (ms).
    pub scrape_timeout_ms: u64,
    /// POST alert changes here (JSON).
    pub webhook_url: Option<String>,
    /// Gateway URL shown on the status page.
    pub gateway_url: Option<String>,
    /// Alert thresholds.
    pub rules: RulesConfig,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            service: ServiceSection::new("monitoring-service", 8083),
            discovery: DiscoverySection::default(),
            services: [
                "api-gateway",
                "market-data-collector",
                "data-storage-service",
                "scheduler-service",
                "message-broker-service",
            ]
            .map(str::to_owned)
            .to_vec(),
            scrape_interval_ms: 5000,
            scrape_timeout_ms: 3000,
            webhook_url: None,
            gateway_url: None,
            rules: RulesConfig::default(),
        }
    }
}

/// One scraped instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// Service.
    pub service: String,
    /// Instance id.
    pub id: String,
    /// Base URL.
    pub url: String,
    /// `healthy`, `degraded`, `unhealthy`, `unreachable`.
    pub status: String,
    /// The `/health` body.
    pub health: Option<Value>,
    /// Last scrape (ms).
    pub scraped_at_ms: i64,
    /// Samples scraped from `/metrics`.
    pub metrics: usize,
    #[serde(skip)]
    samples: Vec<Sample>,
}

#[derive(Default)]
struct MonState {
    instances: Vec<InstanceView>,
    alerts: BTreeMap<String, Alert>,
    history: VecDeque<Alert>,
    previous: Vec<Sample>,
    scrapes: u64,
    channels: history::History,
}

#[derive(Clone)]
struct Monitor {
    state: Arc<Mutex<MonState>>,
    config: Arc<MonitoringConfig>,
}

/// How long after monitoring starts an expected service may still be unregistered without
/// `service_down` firing: services of one deployment start together, and monitoring's first
/// scrape must not page for one that is still starting (one discovery TTL, 15 s by default).
const STARTUP_GRACE: Duration = Duration::from_secs(15);

/// Runs the monitoring service.
pub async fn run(
    config: MonitoringConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    common::install_crypto();
    let stop = common::shutdown_token(shutdown);
    let mon = Monitor {
        state: Arc::new(Mutex::new(MonState::default())),
        config: Arc::new(config.clone()),
    };
    let routes = Router::new()
        .route("/", get(page))
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/services", get(services))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/history", get(history))
        .with_state(mon.clone());
    let service = Service::builder(config.service.name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .service_tokens(config.service.tokens.accepted())
        .routes(routes)
        .build();
    let addr = listener.local_addr()?;
    let registry = common::registry(&config.discovery).await?;
    let http_stop = CancellationToken::new();
    let http = common::spawn_http(service, listener, http_stop.clone());
    common::register(&registry, &config.service, addr).await?;
    let (tx, rx) = mpsc::channel::<Alert>(256);
    let notifier = tokio::spawn(webhook(config.webhook_url.clone(), rx));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.scrape_timeout_ms.max(100)))
        .build()?;
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(config.scrape_interval_ms.max(100)));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                let grace_over = started.elapsed() >= STARTUP_GRACE;
                scrape_once(&mon, &registry, &client, &tx, grace_over).await;
            }
        }
    }
    drop(tx);
    common::deregister(&registry).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), notifier).await;
    common::finish(http_stop, http).await
}

async fn scrape_once(
    mon: &Monitor,
    registry: &Registry,
    client: &reqwest::Client,
    tx: &mpsc::Sender<Alert>,
    grace_over: bool,
) {
    let mut instances = Vec::new();
    let mut missing = Vec::new();
    let mut names = mon.config.services.clone();
    if let Ok(all) = registry.services().await {
        for s in all {
            if !names.contains(&s) {
                names.push(s);
            }
        }
    }
    for name in &names {
        let found = registry
            .discover(name)
            .await
            .map(|d| d.instances)
            .unwrap_or_default();
        if found.is_empty() && grace_over && mon.config.services.contains(name) {
            missing.push(name.clone());
        }
        for i in found {
            let url = i.base_url();
            let (status, health) = match client.get(format!("{url}/health")).send().await {
                Ok(r) => {
                    let body: Option<Value> = r.json().await.ok();
                    let s = body
                        .as_ref()
                        .and_then(|b| b["status"].as_str())
                        .unwrap_or("unhealthy")
                        .to_owned();
                    (s, body)
                }
                Err(_) => ("unreachable".to_owned(), None),
            };
            let samples = match client.get(format!("{url}/metrics")).send().await {
                Ok(r) => parse_prometheus(&r.text().await.unwrap_or_default()),
                Err(_) => Vec::new(),
            };
            instances.push(InstanceView {
                service: name.clone(),
                id: i.id.clone(),
                url,
                status,
                health,
                scraped_at_ms: now_ms(),
                metrics: samples.len(),
                samples,
            });
        }
    }
    let all: Vec<Sample> = instances
        .iter()
        .flat_map(|i| i.samples.iter().cloned())
        .collect();
    let mut state = mon.state.lock().unwrap_or_else(PoisonError::into_inner);
    let interval = Duration::from_millis(mon.config.scrape_interval_ms.max(100));
    let active = rules::evaluate(
        &mon.config.rules,
        &instances_status(&instances),
        &missing,
        &all,
        &state.previous,
        interval,
    );
    let now = now_ms();
    let mut changed = Vec::new();
    for (key, mut alert) in active {
        match state.alerts.get(&key) {
            Some(a) if a.state == "firing" => {}
            _ => {
                alert.started_at_ms = now;
                changed.push(alert.clone());
                state.alerts.insert(key, alert);
            }
        }
    }
    let firing_keys: Vec<String> = state
        .alerts
        .iter()
        .filter(|(_, a)| a.state == "firing")
        .map(|(k, _)| k.clone())
        .collect();
    let still: std::collections::HashSet<String> = rules::keys(
        &mon.config.rules,
        &instances_status(&instances),
        &missing,
        &all,
        &state.previous,
        interval,
    );
    for k in firing_keys {
        if !still.contains(&k)
            && let Some(a) = state.alerts.get_mut(&k)
        {
            a.state = "resolved".into();
            a.resolved_at_ms = Some(now);
            changed.push(a.clone());
        }
    }
    for a in &changed {
        state.history.push_back(a.clone());
        if state.history.len() > 500 {
            state.history.pop_front();
        }
        metrics::counter!("marketprism_monitoring_alert_transitions_total", "rule" => a.rule.clone(), "state" => a.state.clone())
            .increment(1);
        if tx.try_send(a.clone()).is_err() {
            tracing::warn!(rule = %a.rule, "webhook queue full; notification dropped");
        }
    }
    let firing = state
        .alerts
        .values()
        .filter(|a| a.state == "firing")
        .count();
    metrics::gauge!("marketprism_monitoring_alerts_firing").set(firing as f64);
    let collectors: Vec<(&str, &[Sample])> = instances
        .iter()
        .filter(|i| i.service == history::COLLECTOR_SERVICE)
        .map(|i| (i.id.as_str(), i.samples.as_slice()))
        .collect();
    state.channels.record(now, &collectors);
    state.previous = all;
    state.instances = instances;
    state.scrapes += 1;
}

fn instances_status(instances: &[InstanceView]) -> Vec<(String, String, String)> {
    instances
        .iter()
        .map(|i| (i.service.clone(), i.id.clone(), i.status.clone()))
        .collect()
}

/// Webhook retry delays: 500 ms doubling, at most 4 s, jittered.
const WEBHOOK_RETRY: marketprism_core::backoff::Backoff =
    marketprism_core::backoff::Backoff::new(Duration::from_millis(500), Duration::from_secs(4));

async fn webhook(url: Option<String>, mut rx: mpsc::Receiver<Alert>) {
    let client = reqwest::Client::new();
    while let Some(alert) = rx.recv().await {
        let Some(url) = &url else { continue };
        let body = json!({ "source": "marketprism-monitoring", "alert": alert });
        for attempt in 0..3u32 {
            match client
                .post(url.as_str())
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => break,
                other => {
                    // reqwest's errors carry the URL: strip it, log the redacted form instead.
                    let result = match other {
                        Ok(r) => r.status().to_string(),
                        Err(e) => e.without_url().to_string(),
                    };
                    let shown = marketprism_core::redact::url(url);
                    tracing::warn!(attempt, url = %shown, %result, "webhook failed");
                    tokio::time::sleep(WEBHOOK_RETRY.delay(attempt)).await;
                }
            }
        }
    }
}

async fn overview(State(m): State<Monitor>) -> Json<Value> {
    let s = m.state.lock().unwrap_or_else(PoisonError::into_inner);
    let healthy = s.instances.iter().filter(|i| i.status == "healthy").count();
    let firing: Vec<&Alert> = s.alerts.values().filter(|a| a.state == "firing").collect();
    let mut by_service: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &s.instances {
        *by_service.entry(i.service.as_str()).or_default() += 1;
    }
    let status = if firing.iter().any(|a| a.severity == "critical") {
        "critical"
    } else if firing.is_empty() {
        "ok"
    } else {
        "warning"
    };
    Json(json!({
        "status": status,
        "instances": s.instances.len(),
        "healthy_instances": healthy,
        "services": by_service,
        "alerts_firing": firing.len(),
        "scrapes": s.scrapes,
        "gateway_url": m.config.gateway_url,
        "timestamp_ms": now_ms(),
    }))
}

async fn services(State(m): State<Monitor>) -> Json<Value> {
    let s = m.state.lock().unwrap_or_else(PoisonError::into_inner);
    Json(json!({ "services": s.instances }))
}

async fn alerts(State(m): State<Monitor>) -> Json<Value> {
    let s = m.state.lock().unwrap_or_else(PoisonError::into_inner);
    let firing: Vec<&Alert> = s.alerts.values().filter(|a| a.state == "firing").collect();
    let resolved: Vec<&Alert> = s
        .alerts
        .values()
        .filter(|a| a.state == "resolved")
        .collect();
    Json(
        json!({ "firing": firing, "resolved": resolved, "history": s.history, "rules": m.config.rules }),
    )
}

async fn history(State(m): State<Monitor>) -> Json<history::HistoryView> {
    let s = m.state.lock().unwrap_or_else(PoisonError::into_inner);
    Json(s.channels.view(now_ms(), &m.config.rules))
}

async fn page() -> Html<&'static str> {
    Html(include_str!("status.html"))
}
