//! The deployment assets in `deploy/`:
//! - promtool accepts the Prometheus config, the alert rules and every dashboard query, and the
//!   rules' unit tests pass (skipped without promtool, except under CI=true);
//! - docker-compose.yml and the Kubernetes manifests are valid YAML whose environment and
//!   mounted config files load into the services' real config structs (unknown keys fail);
//! - the Grafana dashboard and its provisioning parse and fit the compose stack;
//! - the services are isolated: an internal compose network with only the gateway (and
//!   Prometheus, Grafana) published, Kubernetes NetworkPolicies, and the service credential
//!   from a Secret (compose: a required variable) in every service's environment;
//! - every metric and label the rules and the dashboard use is one the code exports.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use marketprism_bins::{
    broker::BrokerConfig, collector::CollectorConfig, common::load_config,
    gateway_service::GatewayServiceConfig, monitoring::MonitoringConfig,
    scheduler::SchedulerConfig, storage_service::StorageConfig,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

// Submodules live in tests/deploy_assets/ so Cargo does not build them as tests of their own.
#[path = "deploy_assets/isolation.rs"]
mod isolation;
#[path = "deploy_assets/monitoring.rs"]
mod monitoring;
#[path = "deploy_assets/promql.rs"]
mod promql;

const SERVICES: [(&str, u16); 6] = [
    ("api-gateway", 8080),
    ("market-data-collector", 8081),
    ("data-storage-service", 8082),
    ("monitoring-service", 8083),
    ("scheduler-service", 8084),
    ("message-broker-service", 8085),
];
/// Variables the services read besides `MARKETPRISM_*` (docs/configuration.md), plus the
/// process-level ones the manifests set.
const SEED_VARS: [&str; 11] = [
    "DISCOVERY_URL",
    "SERVICE_NAME",
    "NATS_URL",
    "CLICKHOUSE_URL",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PORT",
    "REDIS_URL",
    "COLLECTOR_URL",
    "STORAGE_URL",
    "RUST_LOG",
    "POD_NAME",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}
fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
fn s(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// Every YAML document of a file (k8s files hold several), merge keys (`<<`) applied.
fn yaml_docs(p: &Path) -> Vec<Value> {
    let text = read(p);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let mut v = serde_yaml_ng::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", p.display()));
            v.apply_merge()
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            serde_json::to_value(v).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

// ---- service configuration ----------------------------------------------------------------

/// Loads `binary`'s config from `file` + `env` the way the binary does; returns (defaults,
/// loaded) as JSON. Also fails on a `MARKETPRISM_*` variable naming no top-level key (the
/// loader ignores those, so a typo in a section name would go unnoticed).
fn load_service(binary: &str, file: Option<&Path>, env: &HashMap<String, String>) -> Value {
    fn go<T: Serialize + DeserializeOwned + marketprism_core::config::Validate>(
        d: T,
        file: Option<&Path>,
        env: &HashMap<String, String>,
        what: &str,
    ) -> (Value, Value) {
        let loaded = load_config(&d, file, env, &[])
            .unwrap_or_else(|e| panic!("{what}: configuration rejected: {e}"));
        let json = |v: &T| serde_json::to_value(v).expect("config serializes");
        (json(&d), json(&loaded))
    }
    let what = format!("{binary} (file {file:?})");
    let (defaults, loaded) = match binary {
        "api-gateway" => go(GatewayServiceConfig::default(), file, env, &what),
        "market-data-collector" => go(CollectorConfig::default(), file, env, &what),
        "data-storage-service" => go(StorageConfig::default(), file, env, &what),
        "monitoring-service" => go(MonitoringConfig::default(), file, env, &what),
        "scheduler-service" => go(SchedulerConfig::default(), file, env, &what),
        "message-broker-service" => go(BrokerConfig::default(), file, env, &what),
        other => panic!("unknown service binary {other}"),
    };
    for key in env.keys().filter(|k| *k != "MARKETPRISM_CONFIG") {
        match key.strip_prefix("MARKETPRISM_") {
            Some(rest) => {
                let section = rest.to_ascii_lowercase();
                let section = section.split("__").next().unwrap_or_default();
                assert!(
                    defaults.get(section).is_some(),
                    "{what}: {key} names no key of the service"
                );
            }
            None => assert!(
                SEED_VARS.contains(&key.as_str()),
                "{what}: {key} is read by no service"
            ),
        }
    }
    loaded
}

#[test]
fn compose_services_are_complete_and_their_config_loads() {
    let compose = yaml_docs(&deploy("docker-compose.yml")).remove(0);
    let services = compose["services"].as_object().expect("services");
    for (name, svc) in services {
        for (dep, cond) in svc["depends_on"].as_object().into_iter().flatten() {
            let c = s(&cond["condition"]);
            assert!(
                services.contains_key(dep),
                "{name} depends on unknown {dep}"
            );
            assert!(
                c != "service_healthy" || services[dep]["healthcheck"].is_object(),
                "{name}: {dep} has no healthcheck"
            );
        }
        for vol in svc["volumes"].as_array().into_iter().flatten() {
            let src = s(vol).split(':').next().unwrap_or_default().to_owned();
            assert!(
                !src.starts_with('.') || deploy(&src).exists(),
                "{name}: {src} missing"
            );
        }
    }
    for (name, port) in SERVICES {
        let svc = services
            .get(name)
            .unwrap_or_else(|| panic!("compose lacks {name}"));
        assert_eq!(svc["image"], "marketprism:local", "{name}");
        let dockerfile = deploy(&s(&svc["build"]["context"])).join(s(&svc["build"]["dockerfile"]));
        assert!(dockerfile.is_file(), "{name}: no {}", dockerfile.display());
        assert_eq!(svc["command"][0], name, "{name} runs its own binary");
        let health = svc["healthcheck"]["test"].to_string();
        assert!(
            health.contains(&format!("127.0.0.1:{port}/health")),
            "{name}: {health}"
        );
        // Only the gateway is published (isolation.rs checks the networks).
        assert_eq!(
            svc["ports"]
                .to_string()
                .contains(&format!(":{port}:{port}")),
            name == "api-gateway",
            "{name}: published ports {}",
            svc["ports"]
        );
        let env: HashMap<String, String> = svc["environment"]
            .as_object()
            .expect("environment map")
            .iter()
            .map(|(k, v)| (k.clone(), isolation::interpolate(&s(v))))
            .collect();
        let file = env.get("MARKETPRISM_CONFIG").map(|p| {
            let rel = p
                .strip_prefix("/etc/marketprism/")
                .expect("config under /etc/marketprism");
            deploy("config").join(rel)
        });
        let loaded = load_service(name, file.as_deref(), &env);
        assert_eq!(
            loaded["service"]["tokens"],
            serde_json::json!([isolation::TEST_TOKEN]),
            "{name} has the service credential"
        );
        assert_eq!(
            loaded["service"]["advertise_host"], name,
            "others reach {name} by its compose name"
        );
        assert_eq!(loaded["discovery"]["url"], "etcd://etcd:2379", "{name}");
        if loaded.get("nats").is_some() {
            assert_eq!(loaded["nats"]["url"], "nats://nats:4222", "{name}");
        }
    }
    let storage = &services["data-storage-service"]["environment"];
    assert!(s(&storage["CLICKHOUSE_URL"]).starts_with("http://clickhouse:8123"));
    assert!(
        services["nats"]["command"].to_string().contains("\"-js\""),
        "JetStream on"
    );
}

#[test]
fn k8s_manifests_are_valid_and_their_config_loads() {
    let dir = deploy("k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/k8s")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let kustomization = yaml_docs(&dir.join("kustomization.yaml")).remove(0);
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(s)
        .collect();
    let present: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.file_name()?.to_str().map(str::to_owned))
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, present, "kustomization.yaml lists every manifest");
    let docs: Vec<Value> = present
        .iter()
        .flat_map(|f| yaml_docs(&dir.join(f)))
        .collect();
    for d in &docs {
        assert!(
            d["apiVersion"].is_string()
                && d["kind"].is_string()
                && d["metadata"]["name"].is_string(),
            "{d}"
        );
    }
    let by_kind = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, port) in SERVICES {
        let w = docs
            .iter()
            .find(|d| {
                (d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
                    && d["metadata"]["name"] == name
            })
            .unwrap_or_else(|| panic!("no workload for {name}"));
        let pod = &w["spec"]["template"];
        let c = &pod["spec"]["containers"][0];
        assert!(
            s(&c["image"]).starts_with("marketprism:"),
            "{name}: image rewritten by kustomization `images`"
        );
        assert_eq!(c["ports"][0]["containerPort"], port, "{name}");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health", "{name}");
        assert!(
            c["livenessProbe"]["httpGet"]["path"].is_string(),
            "{name}: liveness probe"
        );
        assert!(
            c["resources"]["requests"]["cpu"].is_string()
                && c["resources"]["requests"]["memory"].is_string(),
            "{name}: requests"
        );
        let ann = &pod["metadata"]["annotations"];
        assert_eq!(
            (
                s(&ann["prometheus.io/scrape"]),
                s(&ann["prometheus.io/port"])
            ),
            ("true".into(), port.to_string()),
            "{name}"
        );
        let labels = &pod["metadata"]["labels"];
        for (k, v) in w["spec"]["selector"]["matchLabels"]
            .as_object()
            .expect("selector")
        {
            assert_eq!(&labels[k], v, "{name}: selector matches the pod");
        }
        let svc = by_kind("Service", name).unwrap_or_else(|| panic!("no Service {name}"));
        assert_eq!(
            svc["spec"]["selector"], w["spec"]["selector"]["matchLabels"],
            "{name}"
        );
        assert_eq!(svc["spec"]["ports"][0]["port"], port, "{name}");
        // The environment the container sees: ConfigMaps, then its own env (downward API
        // values stand in as a pod IP and the pod name of ordinal 1).
        let mut env = HashMap::new();
        for from in c["envFrom"].as_array().into_iter().flatten() {
            let cm =
                by_kind("ConfigMap", &s(&from["configMapRef"]["name"])).expect("envFrom ConfigMap");
            env.extend(
                cm["data"]
                    .as_object()
                    .expect("data")
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v))),
            );
        }
        for e in c["env"].as_array().into_iter().flatten() {
            let secret = &e["valueFrom"]["secretKeyRef"];
            let v = match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("status.podIP") => "10.1.2.3".to_owned(),
                Some("metadata.name") => format!("{name}-1"),
                None if secret.is_object() => {
                    let value = by_kind("Secret", &s(&secret["name"]))
                        .unwrap_or_else(|| panic!("{name}: no Secret {}", secret["name"]))
                        ["stringData"][s(&secret["key"])]
                        .clone();
                    // The shipped placeholder must be replaced (isolation.rs checks it is
                    // refused); load with a real token instead.
                    isolation::replace_placeholder(
                        value
                            .as_str()
                            .unwrap_or_else(|| panic!("{name}: no key {}", secret["key"])),
                    )
                }
                None => s(&e["value"]),
                Some(other) => panic!("{name}: unexpected fieldRef {other}"),
            };
            env.insert(s(&e["name"]), v);
        }
        let command: Vec<String> = [&c["command"], &c["args"]]
            .into_iter()
            .flat_map(|v| v.as_array().into_iter().flatten().map(s))
            .collect();
        let command = command.join(" ");
        assert!(
            command.contains(name),
            "{name} runs its own binary: {command}"
        );
        if command.contains("MARKETPRISM_SHARD__INDEX=\"${POD_NAME##*-}\"") {
            let ordinal = env["POD_NAME"]
                .rsplit('-')
                .next()
                .expect("ordinal")
                .to_owned();
            env.insert("MARKETPRISM_SHARD__INDEX".into(), ordinal);
        }
        let file = env.get("MARKETPRISM_CONFIG").map(|path| {
            let m = c["volumeMounts"]
                .as_array()
                .expect("mounts")
                .iter()
                .find(|m| path.starts_with(&s(&m["mountPath"])))
                .expect("config file is mounted");
            let key = path.rsplit('/').next().expect("file name");
            let vol = pod["spec"]["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .find(|v| v["name"] == m["name"])
                .expect("volume");
            let data = if vol["configMap"].is_object() {
                by_kind("ConfigMap", &s(&vol["configMap"]["name"])).expect("ConfigMap")["data"][key]
                    .clone()
            } else {
                by_kind("Secret", &s(&vol["secret"]["secretName"])).expect("Secret")["stringData"]
                    [key]
                    .clone()
            };
            let f = tmp.path().join(key);
            std::fs::write(
                &f,
                data.as_str().unwrap_or_else(|| panic!("{name}: no {key}")),
            )
            .expect("write");
            f
        });
        let loaded = load_service(name, file.as_deref(), &env);
        assert_eq!(
            loaded["service"]["tokens"],
            serde_json::json!([isolation::TEST_TOKEN]),
            "{name} has the service credential"
        );
        assert_eq!(
            loaded["service"]["advertise_host"], "10.1.2.3",
            "{name} advertises its pod IP"
        );
        if name == "market-data-collector" {
            assert_eq!(w["kind"], "StatefulSet");
            assert_eq!(
                loaded["shard"]["count"], w["spec"]["replicas"],
                "shard.count = replicas"
            );
            assert_eq!(
                loaded["shard"]["index"], 1,
                "shard.index from the pod ordinal"
            );
            let compose = load_service(
                name,
                Some(&deploy("config/collector.toml")),
                &HashMap::new(),
            );
            let k8s = load_service(name, file.as_deref(), &HashMap::new());
            assert_eq!(
                compose, k8s,
                "the k8s ConfigMap collects what deploy/config/collector.toml does"
            );
        }
        if name == "data-storage-service" {
            assert!(
                w["spec"]["replicas"].as_u64() >= Some(2),
                "storage replicas share the consumer"
            );
        }
    }
}
