//! Consul JSON: the registration body we send and the health answers we read.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    backend::ttl_secs,
    error::{DiscoveryError, Result},
    instance::{InstanceStatus, ServiceInstance},
};

pub(crate) const NS_META: &str = "mp_namespace";
const STATUS_META: &str = "mp_status";
const HEALTH_URL_META: &str = "mp_health_check_url";
const REGISTERED_META: &str = "mp_registered_at_ms";
const JSON_KEYS_META: &str = "mp_json_keys";
const NS_TAG_PREFIX: &str = "mp-ns-";

/// The Consul service id of instance `id` of `service` in `namespace`: Consul ids are unique
/// per agent, not per service, and namespaces share the agent.
///
/// `consul_id("default", "api", "api-1")` is `default.api.api-1`.
pub(crate) fn consul_id(namespace: &str, service: &str, id: &str) -> String {
    format!("{namespace}.{service}.{id}")
}

/// The body of `PUT /v1/agent/service/register` for `instance` with a TTL check.
///
/// ```
/// use std::time::Duration;
/// use marketprism_discovery::{ServiceInstance, consul::registration_body};
/// let i = ServiceInstance::builder("redis", "10.1.10.12", 8000).id("redis1").weight(10).build()?;
/// let body = registration_body(&i, Duration::from_secs(15), "default");
/// assert_eq!(body["ID"], "default.redis.redis1");
/// assert_eq!(body["Check"]["TTL"], "15s");
/// assert_eq!(body["Check"]["CheckID"], "service:default.redis.redis1");
/// assert_eq!(body["Weights"]["Passing"], 10);
/// # Ok::<(), marketprism_discovery::DiscoveryError>(())
/// ```
pub fn registration_body(instance: &ServiceInstance, ttl: Duration, namespace: &str) -> Value {
    let ttl = ttl_secs(ttl);
    // Consul's `Meta` holds strings only: a non-string value travels as its JSON text and its
    // key is listed in `mp_json_keys`, so parsing restores the value with its type.
    let mut json_keys = Vec::new();
    let mut meta: serde_json::Map<String, Value> = instance
        .metadata
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k.clone(), Value::String(s.clone())),
            other => {
                json_keys.push(k.as_str());
                (k.clone(), Value::String(other.to_string()))
            }
        })
        .collect();
    if !json_keys.is_empty() {
        meta.insert(JSON_KEYS_META.into(), json_keys.join(",").into());
    }
    meta.insert(STATUS_META.into(), instance.status.as_str().into());
    meta.insert(NS_META.into(), namespace.into());
    meta.insert(
        REGISTERED_META.into(),
        instance.registered_at_ms.to_string().into(),
    );
    if let Some(url) = &instance.health_check_url {
        meta.insert(HEALTH_URL_META.into(), url.clone().into());
    }
    let mut tags = instance.tags.clone();
    tags.push(format!("{NS_TAG_PREFIX}{namespace}"));
    let id = consul_id(namespace, &instance.service, &instance.id);
    json!({
        "ID": id,
        "Name": instance.service,
        "Tags": tags,
        "Address": instance.host,
        "Port": instance.port,
        "Meta": meta,
        "Weights": { "Passing": instance.weight, "Warning": 1 },
        "Check": {
            "CheckID": format!("service:{id}"),
            "Name": "marketprism TTL",
            "TTL": format!("{ttl}s"),
            "Status": "passing",
            "DeregisterCriticalServiceAfter": format!("{}s", (ttl * 3).max(60)),
        },
    })
}

/// Parses a `/v1/health/service/<name>` answer: each instance and whether none of its checks
/// is critical.
pub fn parse_health(value: &Value) -> Result<Vec<(ServiceInstance, bool)>> {
    let entries = value
        .as_array()
        .ok_or_else(|| DiscoveryError::protocol("consul", "health answer is not an array"))?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let s = &e["Service"];
        let id = s["ID"].as_str().unwrap_or_default();
        let name = s["Service"].as_str().unwrap_or_default();
        // An empty service address means "the node's address".
        let host = s["Address"]
            .as_str()
            .filter(|a| !a.is_empty())
            .or_else(|| e["Node"]["Address"].as_str())
            .unwrap_or_default();
        let port = s["Port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        // Ours are `<namespace>.<service>.<id>`; others are taken as they are.
        let ns = s["Meta"][NS_META].as_str().unwrap_or_default();
        let id = id
            .strip_prefix(&format!("{ns}.{name}."))
            .filter(|_| !ns.is_empty())
            .unwrap_or(id);
        let mut b = ServiceInstance::builder(name, host, port).id(id);
        let mut status = InstanceStatus::Healthy;
        let mut registered_at = None;
        if let Some(meta) = s["Meta"].as_object() {
            let json_keys: Vec<&str> = meta
                .get(JSON_KEYS_META)
                .and_then(Value::as_str)
                .map(|k| k.split(',').collect())
                .unwrap_or_default();
            for (k, v) in meta {
                let v = v.as_str().unwrap_or_default();
                match k.as_str() {
                    STATUS_META => {
                        status = match v {
                            "unhealthy" => InstanceStatus::Unhealthy,
                            "maintenance" => InstanceStatus::Maintenance,
                            _ => InstanceStatus::Healthy,
                        }
                    }
                    HEALTH_URL_META => b = b.health_check_url(v),
                    REGISTERED_META => registered_at = v.parse::<i64>().ok(),
                    JSON_KEYS_META => {}
                    _ if json_keys.contains(&k.as_str()) => {
                        // Written by us as JSON text; a value edited into something else by
                        // hand stays the string it is.
                        let value: Value = serde_json::from_str(v).unwrap_or_else(|_| v.into());
                        b = b.metadata(k.as_str(), value);
                    }
                    _ => b = b.metadata(k.as_str(), v),
                }
            }
        }
        for t in s["Tags"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if let Some(t) = t.as_str().filter(|t| !t.starts_with(NS_TAG_PREFIX)) {
                b = b.tag(t);
            }
        }
        let weight = s["Weights"]["Passing"]
            .as_u64()
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(1)
            .max(1);
        let mut inst = match b.weight(weight).status(status).build() {
            Ok(i) => i,
            Err(err) => {
                tracing::warn!(%id, %name, error = %err, "skipping a Consul service entry we cannot represent");
                continue;
            }
        };
        inst.registered_at_ms = registered_at.unwrap_or(0);
        let alive = e["Checks"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .all(|c| c["Status"].as_str() != Some("critical"));
        out.push((inst, alive));
    }
    Ok(out)
}

/// Service names of `namespace` in a `/v1/catalog/services` answer (`{"name": [tags]}`).
pub(crate) fn parse_catalog_services(value: &Value, namespace: &str) -> Vec<String> {
    let tag = format!("{NS_TAG_PREFIX}{namespace}");
    let mut names: Vec<String> = value
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, tags)| {
                    tags.as_array()
                        .is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag.as_str())))
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample response of "List Service Instances for Service" in Consul's API docs
    /// (website/content/api-docs/health.mdx), verbatim.
    const DOC_HEALTH_SERVICE: &str = r#"[
  {
    "Node": {
      "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
      "Node": "foobar",
      "Address": "10.1.10.12",
      "Datacenter": "dc1",
      "TaggedAddresses": { "lan": "10.1.10.12", "wan": "10.1.10.12" },
      "Meta": { "instance_type": "t2.medium" }
    },
    "Service": {
      "ID": "redis",
      "Service": "redis",
      "Tags": ["primary"],
      "Address": "10.1.10.12",
      "TaggedAddresses": {
        "lan": { "address": "10.1.10.12", "port": 8000 },
        "wan": { "address": "198.18.1.2", "port": 80 }
      },
      "Meta": { "redis_version": "4.0" },
      "Port": 8000,
      "Weights": { "Passing": 10, "Warning": 1 },
      "Namespace": "default"
    },
    "Checks": [
      {
        "Node": "foobar", "CheckID": "service:redis", "Name": "Service 'redis' check",
        "Status": "passing", "Notes": "", "Output": "", "ServiceID": "redis",
        "ServiceName": "redis", "ServiceTags": ["primary"], "Namespace": "default"
      },
      {
        "Node": "foobar", "CheckID": "serfHealth", "Name": "Serf Health Status",
        "Status": "passing", "Notes": "", "Output": "", "ServiceID": "", "ServiceName": "",
        "ServiceTags": [], "Namespace": "default"
      }
    ]
  }
]"#;

    #[test]
    fn parses_the_documented_health_answer() {
        let v: Value = serde_json::from_str(DOC_HEALTH_SERVICE).unwrap();
        let parsed = parse_health(&v).unwrap();
        assert_eq!(parsed.len(), 1);
        let (i, alive) = &parsed[0];
        assert!(alive);
        assert_eq!((i.id.as_str(), i.service.as_str()), ("redis", "redis"));
        assert_eq!((i.host.as_str(), i.port), ("10.1.10.12", 8000));
        assert_eq!(i.weight, 10);
        assert_eq!(i.tags, ["primary"]);
        assert_eq!(i.metadata["redis_version"], "4.0");
        assert_eq!(i.status, InstanceStatus::Healthy);
    }

    #[test]
    fn critical_check_means_not_alive_and_empty_address_falls_back_to_node() {
        let mut v: Value = serde_json::from_str(DOC_HEALTH_SERVICE).unwrap();
        v[0]["Checks"][0]["Status"] = "critical".into();
        v[0]["Service"]["Address"] = "".into();
        v[0]["Node"]["Address"] = "10.9.9.9".into();
        let parsed = parse_health(&v).unwrap();
        assert!(!parsed[0].1);
        assert_eq!(parsed[0].0.host, "10.9.9.9");
        assert!(parse_health(&json!({"not": "an array"})).is_err());
    }

    #[test]
    fn our_fields_round_trip_through_meta_and_tags() {
        let i = ServiceInstance::builder("svc", "127.0.0.1", 9)
            .id("a")
            .tag("x")
            .metadata("version", "1")
            .metadata("ssl", true)
            .metadata("weight", 3)
            .metadata("tags", vec!["a", "b"])
            .metadata("looks_like_json", "true")
            .health_check_url("http://127.0.0.1:9/health")
            .status(InstanceStatus::Maintenance)
            .weight(4)
            .build()
            .unwrap();
        let body = registration_body(&i, Duration::from_millis(1500), "ns1");
        assert_eq!(body["Check"]["TTL"], "2s");
        assert_eq!(body["Check"]["DeregisterCriticalServiceAfter"], "60s");
        // What Consul would echo back in /health/service for this registration.
        let entry = json!([{
            "Node": { "Node": "n", "Address": "10.0.0.1" },
            "Service": {
                "ID": body["ID"], "Service": body["Name"], "Tags": body["Tags"],
                "Address": body["Address"], "Port": body["Port"], "Meta": body["Meta"],
                "Weights": body["Weights"]
            },
            "Checks": [{ "CheckID": "service:a", "Status": "passing" }]
        }]);
        let (mut back, alive) = parse_health(&entry).unwrap().remove(0);
        assert!(alive);
        assert_eq!(body["Meta"]["ssl"], "true");
        assert_eq!(body["Meta"]["tags"], r#"["a","b"]"#);
        assert_eq!(body["Meta"]["looks_like_json"], "true");
        assert_eq!(body["Meta"]["mp_json_keys"], "ssl,tags,weight");
        assert_eq!(back.metadata.remove(NS_META), Some(json!("ns1")));
        assert_eq!(back.metadata["ssl"], json!(true));
        assert_eq!(back.metadata["looks_like_json"], json!("true"));
        assert_eq!(back, i);
        let catalog = json!({ "consul": [], "svc": ["x", "mp-ns-ns1"], "other": ["mp-ns-ns2"] });
        assert_eq!(parse_catalog_services(&catalog, "ns1"), ["svc"]);
    }
}
