//! Prometheus and Grafana assets: promtool accepts them, they fit the compose stack, and they
//! use only metrics (and labels) the code exports. Part of the `deploy_assets` test.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use super::{SERVICES, deploy, read, s, yaml_docs};
use crate::promql::{check_expr, exported_metrics};

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file());
    if found.is_none() {
        let msg = "promtool not found (Debian package `prometheus`; scripts/services.sh start installs it)";
        assert!(!marketprism_core::testing::is_ci(), "CI=true and {msg}");
        eprintln!("SKIPPED (not CI): {msg}");
    }
    found
}

fn run_promtool(promtool: &Path, args: &[&str]) {
    let out = Command::new(promtool)
        .args(args)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {}:\n{text}", args.join(" "));
}

fn alert_exprs() -> Vec<(String, String)> {
    let rules = yaml_docs(&deploy("prometheus/alerts.yml")).remove(0);
    let groups = rules["groups"].as_array().expect("groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .map(|r| (s(&r["alert"]), s(&r["expr"])))
        .collect()
}

/// (panel title, query) of every dashboard query, and the templating queries.
fn dashboard_exprs() -> Vec<(String, String)> {
    let d: Value =
        serde_json::from_str(&read(&deploy("grafana/marketprism.json"))).expect("dashboard JSON");
    let mut out: Vec<(String, String)> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| {
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (s(&p["title"]), s(&t["expr"])))
        })
        .collect();
    for v in d["templating"]["list"].as_array().expect("templating") {
        if v["type"] == "query" {
            out.push((s(&v["name"]), s(&v["query"]["query"])));
        }
    }
    out
}

#[test]
fn promtool_accepts_config_rules_and_dashboard_queries() {
    let Some(promtool) = promtool() else { return };
    let p = |f: &str| deploy(&format!("prometheus/{f}")).display().to_string();
    run_promtool(&promtool, &["check", "config", &p("prometheus.yml")]);
    run_promtool(&promtool, &["check", "rules", &p("alerts.yml")]);
    run_promtool(&promtool, &["test", "rules", &p("alerts_test.yml")]);
    // Dashboard queries as recording rules: promtool parses each one (Grafana's variables
    // replaced by values Prometheus would see).
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in dashboard_exprs()
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| !e.starts_with("label_values("))
    {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$exchange", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:q{i}\n        expr: {}\n",
            serde_json::to_string(&expr).expect("quote")
        ));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("dashboard_rules.yml");
    std::fs::write(&f, rules).expect("write");
    run_promtool(&promtool, &["check", "rules", &f.display().to_string()]);
}

#[test]
fn prometheus_and_grafana_fit_the_compose_stack() {
    let prom = yaml_docs(&deploy("prometheus/prometheus.yml")).remove(0);
    let compose = yaml_docs(&deploy("docker-compose.yml")).remove(0);
    for (name, port) in SERVICES {
        let job = prom["scrape_configs"]
            .as_array()
            .expect("scrape_configs")
            .iter()
            .find(|j| j["job_name"] == name)
            .unwrap_or_else(|| panic!("no scrape job {name}"));
        assert_eq!(
            job["static_configs"][0]["targets"][0],
            format!("{name}:{port}")
        );
    }
    let d: Value =
        serde_json::from_str(&read(&deploy("grafana/marketprism.json"))).expect("dashboard JSON");
    assert!(
        d["schemaVersion"].as_u64() >= Some(36) && d["uid"].is_string(),
        "dashboard header"
    );
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().expect("panels") {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate panel id {}",
            p["id"]
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(
                !p["targets"].as_array().expect("targets").is_empty(),
                "{}",
                p["title"]
            );
        }
    }
    let ds = yaml_docs(&deploy("grafana/provisioning/datasources/prometheus.yml")).remove(0);
    assert_eq!(ds["datasources"][0]["url"], "http://prometheus:9090");
    assert!(
        compose["services"]["prometheus"]["ports"]
            .to_string()
            .contains(":9090:9090")
    );
    let provider = yaml_docs(&deploy("grafana/provisioning/dashboards/marketprism.yml")).remove(0);
    let path = s(&provider["providers"][0]["options"]["path"]);
    let mount = format!("./grafana/marketprism.json:{path}/marketprism.json:ro");
    assert!(
        compose["services"]["grafana"]["volumes"]
            .to_string()
            .contains(&mount),
        "grafana mounts the dashboard at {path}"
    );
}

#[test]
fn rules_and_dashboard_use_only_exported_metrics() {
    let exported = exported_metrics();
    let mut problems = Vec::new();
    for (what, expr) in alert_exprs().into_iter().chain(dashboard_exprs()) {
        problems.extend(
            check_expr(&expr, &exported)
                .into_iter()
                .map(|p| format!("{what}: {p}\n    {expr}")),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn metric_check_rejects_unknown_metrics_and_labels() {
    let exported = exported_metrics();
    // Names from literals, from crate constants (storage `m::X`, discovery `X`), histograms.
    for name in [
        "marketprism_http_requests_total",
        "marketprism_storage_sink_retries_total",
        "service_discovery_instances_active",
        "marketprism_storage_sink_write_seconds_count",
    ] {
        assert!(exported.contains_key(name), "{name} not found by the scan");
    }
    let ok = r#"sum by (exchange) (rate(marketprism_collector_events_total{type!="status"}[5m]))"#;
    assert_eq!(check_expr(ok, &exported), Vec::<String>::new());
    for bad in [
        "rate(marketprism_no_such_metric_total[5m]) > 0",
        r#"marketprism_collector_events_total{exhange="binance"}"#,
        "sum by (exhange) (rate(marketprism_collector_events_total[5m]))",
        "label_values(marketprism_collector_events_total, venue)",
        "service_discovery_instance_active == 0",
        // Histograms are exported as summaries: there are no buckets.
        "histogram_quantile(0.99, rate(marketprism_storage_sink_write_seconds_bucket[5m]))",
    ] {
        assert!(!check_expr(bad, &exported).is_empty(), "not caught: {bad}");
    }
}
