//! Isolation of the services behind the gateway: compose puts them on an internal network with
//! only the gateway (and Prometheus, Grafana) published; Kubernetes NetworkPolicies let only
//! the gateway, the scheduler and monitoring reach ports 8081–8085; every service gets the
//! service credential (compose: a required variable; Kubernetes: one Secret). Part of the
//! `deploy_assets` test.

use std::collections::{BTreeSet, HashMap};

use marketprism_bins::{common::load_config, scheduler::SchedulerConfig};
use serde_json::Value;

use super::{SERVICES, deploy, s, yaml_docs};

/// The token the tests substitute for the deployment's variable or placeholder.
pub(crate) const TEST_TOKEN: &str = "deploy-test-token-0123456789abcdef";
const TOKEN_VAR: &str = "MARKETPRISM_SERVICE__TOKENS";
const SECRET: &str = "marketprism-service-token";

/// Compose's `${NAME…}` interpolation, with every variable set to [`TEST_TOKEN`].
pub(crate) fn interpolate(value: &str) -> String {
    match (value.find("${"), value.find('}')) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{TEST_TOKEN}{}", &value[..start], &value[end + 1..])
        }
        _ => value.to_owned(),
    }
}

/// The Kubernetes Secret's placeholder replaced by [`TEST_TOKEN`].
pub(crate) fn replace_placeholder(value: &str) -> String {
    if value.contains("REPLACE") {
        TEST_TOKEN.to_owned()
    } else {
        value.to_owned()
    }
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_array().into_iter().flatten().map(s).collect()
}

#[test]
fn compose_publishes_only_the_gateway_and_requires_the_service_token() {
    let compose = yaml_docs(&deploy("docker-compose.yml")).remove(0);
    assert_eq!(
        compose["networks"]["backend"]["internal"], true,
        "the services' network has no route out and publishes nothing"
    );
    let services = compose["services"].as_object().expect("services");
    let published: BTreeSet<&str> = services
        .iter()
        .filter(|(_, svc)| svc["ports"].is_array())
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        published,
        BTreeSet::from(["api-gateway", "grafana", "prometheus"])
    );
    for (name, svc) in services {
        let nets = names(&svc["networks"]);
        assert!(!nets.is_empty(), "{name} names its networks");
        if name != "grafana" {
            assert!(nets.contains("backend"), "{name} on backend: {nets:?}");
        }
        if !published.contains(name.as_str()) {
            assert!(
                !nets.contains("edge"),
                "{name} is not on the published network"
            );
        }
    }
    for (name, _) in SERVICES {
        let value = s(&services[name]["environment"][TOKEN_VAR]);
        assert!(
            value.starts_with("${MARKETPRISM_SERVICE_TOKEN:?"),
            "{name}: {TOKEN_VAR} must be a required variable, got {value:?}"
        );
    }
}

#[test]
fn k8s_network_policies_admit_only_the_gateway_scheduler_and_monitoring() {
    let dir = deploy("k8s");
    let docs = yaml_docs(&dir.join("security.yaml"));
    let policy = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "NetworkPolicy" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
    };
    let deny = &policy("default-deny-ingress")["spec"];
    assert_eq!(deny["podSelector"], serde_json::json!({}), "every pod");
    assert_eq!(
        names(&deny["policyTypes"]),
        BTreeSet::from(["Ingress".into()])
    );
    assert!(deny["ingress"].is_null(), "no rule: nothing admitted");

    let gateway = &policy("api-gateway-ingress")["spec"];
    assert_eq!(
        gateway["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "api-gateway"
    );
    assert_eq!(gateway["ingress"][0]["ports"][0]["port"], 8080);

    let internal = &policy("internal-services-ingress")["spec"];
    let selected = names(&internal["podSelector"]["matchExpressions"][0]["values"]);
    let expected: BTreeSet<String> = SERVICES
        .iter()
        .filter(|(n, _)| *n != "api-gateway")
        .map(|(n, _)| (*n).to_owned())
        .collect();
    assert_eq!(selected, expected, "every internal service is selected");
    let rules = internal["ingress"].as_array().expect("ingress rules");
    assert_eq!(rules.len(), 1, "{rules:?}");
    let ports = &rules[0]["ports"][0];
    assert_eq!(
        (&ports["port"], &ports["endPort"]),
        (&8081.into(), &8085.into())
    );
    let callers: BTreeSet<String> = rules[0]["from"]
        .as_array()
        .expect("from")
        .iter()
        .filter_map(|f| f["podSelector"]["matchExpressions"].get(0))
        .flat_map(|e| names(&e["values"]))
        .collect();
    assert_eq!(
        callers,
        ["api-gateway", "monitoring-service", "scheduler-service"]
            .map(String::from)
            .into(),
        "only the callers of the services"
    );
    for from in rules[0]["from"].as_array().expect("from") {
        assert!(
            from["podSelector"].is_object() || from["namespaceSelector"]["matchLabels"].is_object(),
            "no open `from` entry: {from}"
        );
        assert!(from["ipBlock"].is_null(), "no address ranges: {from}");
    }
}

#[test]
fn k8s_service_token_secret_is_wired_into_every_service() {
    let dir = deploy("k8s");
    let docs: Vec<Value> = std::fs::read_dir(&dir)
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .flat_map(|p| yaml_docs(&p))
        .collect();
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == SECRET)
        .expect("the service-token Secret");
    let placeholder = s(&secret["stringData"]["tokens"]);
    // Shipped as a placeholder the services refuse: nobody runs with a published token.
    let env = HashMap::from([(TOKEN_VAR.to_owned(), placeholder.clone())]);
    let refused = load_config(&SchedulerConfig::default(), None, &env, &[]);
    assert!(
        refused.is_err(),
        "the placeholder {placeholder:?} must not load"
    );
    // Rotation: a list, the first one sent.
    let env = HashMap::from([(
        TOKEN_VAR.to_owned(),
        format!("[{TEST_TOKEN}, old-{TEST_TOKEN}]"),
    )]);
    let rotating = load_config(&SchedulerConfig::default(), None, &env, &[]).expect("a list loads");
    assert_eq!(rotating.service.tokens.current(), Some(TEST_TOKEN));
    assert_eq!(rotating.service.tokens.0.len(), 2);
    for (name, _) in SERVICES {
        let w = docs
            .iter()
            .find(|d| {
                (d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
                    && d["metadata"]["name"] == name
            })
            .unwrap_or_else(|| panic!("no workload for {name}"));
        let env = &w["spec"]["template"]["spec"]["containers"][0]["env"];
        let token = env
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == TOKEN_VAR)
            .unwrap_or_else(|| panic!("{name}: no {TOKEN_VAR}"));
        let from = &token["valueFrom"]["secretKeyRef"];
        assert_eq!(
            (s(&from["name"]), s(&from["key"])),
            (SECRET.into(), "tokens".into()),
            "{name}"
        );
    }
}
