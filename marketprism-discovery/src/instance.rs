//! A registered service instance and its status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{DiscoveryError, Result};

/// Longest service name or instance id accepted.
pub const MAX_NAME_LEN: usize = 128;

/// What an instance says about itself, or what a health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum InstanceStatus {
    /// Serving; receives traffic.
    #[default]
    Healthy,
    /// Failing its health check; receives no traffic.
    Unhealthy,
    /// Deliberately out of rotation (draining, upgrading); receives no traffic and is not
    /// health-checked.
    Maintenance,
}

impl InstanceStatus {
    /// The lowercase name (`healthy`, `unhealthy`, `maintenance`).
    pub const fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Healthy => "healthy",
            InstanceStatus::Unhealthy => "unhealthy",
            InstanceStatus::Maintenance => "maintenance",
        }
    }
}

impl std::fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instance of a service, as stored in every backend (JSON).
///
/// Build one with [`ServiceInstance::builder`]; the fields are public to read.
///
/// ```
/// use marketprism_discovery::{InstanceStatus, ServiceInstance};
///
/// let inst = ServiceInstance::builder("data-storage-service", "10.0.0.7", 8082)
///     .id("storage-1")
///     .weight(3)
///     .tag("storage")
///     .metadata("version", "1.2.3")
///     .health_check_url("http://10.0.0.7:8082/health")
///     .build()?;
/// assert_eq!(inst.base_url(), "http://10.0.0.7:8082");
/// assert_eq!(inst.status, InstanceStatus::Healthy);
/// assert!(inst.is_routable());
/// # Ok::<(), marketprism_discovery::DiscoveryError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceInstance {
    /// Unique id within the service: `[A-Za-z0-9_-]{1,128}`.
    pub id: String,
    /// Service name: `[A-Za-z0-9_-]{1,128}`.
    pub service: String,
    /// Host name or IP other services connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// URL probed by active health checks (`None`: not probed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_url: Option<String>,
    /// Free-form metadata (`version`, `region`, `scheme`, ...). Values are JSON values —
    /// strings, numbers, booleans, lists, objects — as the original system passed them
    /// (`{"ssl": true, "weight": 3, "tags": ["a", "b"]}`); every backend stores and returns
    /// them with their type (Consul, whose `Meta` holds only strings, carries non-strings as
    /// JSON text and restores them; see [`crate::consul`]).
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Weight for weighted round-robin (≥ 1; default 1).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Status the instance declares.
    #[serde(default)]
    pub status: InstanceStatus,
    /// When it was first registered, milliseconds since the Unix epoch.
    #[serde(default)]
    pub registered_at_ms: i64,
}

fn default_weight() -> u32 {
    1
}

impl ServiceInstance {
    /// Starts building an instance of `service` reachable at `host:port`. The id defaults to
    /// `<service>-<16 random hex digits>`.
    pub fn builder(
        service: impl Into<String>,
        host: impl Into<String>,
        port: u16,
    ) -> ServiceInstanceBuilder {
        ServiceInstanceBuilder {
            inner: ServiceInstance {
                id: String::new(),
                service: service.into(),
                host: host.into(),
                port,
                health_check_url: None,
                metadata: BTreeMap::new(),
                tags: Vec::new(),
                weight: 1,
                status: InstanceStatus::Healthy,
                registered_at_ms: 0,
            },
        }
    }

    /// The metadata value of `key` when it is a string.
    ///
    /// ```
    /// let i = marketprism_discovery::ServiceInstance::builder("s", "h", 1)
    ///     .metadata("region", "eu")
    ///     .metadata("ssl", true)
    ///     .build()?;
    /// assert_eq!(i.metadata_str("region"), Some("eu"));
    /// assert_eq!(i.metadata_str("ssl"), None);
    /// assert_eq!(i.metadata["ssl"], true);
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(serde_json::Value::as_str)
    }

    /// `scheme://host:port`, the scheme from metadata `scheme` (default `http`; `https` also
    /// when metadata `ssl` is `true`, as the original system marked TLS instances).
    pub fn base_url(&self) -> String {
        let scheme = self.metadata_str("scheme").unwrap_or(
            if self.metadata.get("ssl") == Some(&serde_json::Value::Bool(true)) {
                "https"
            } else {
                "http"
            },
        );
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// Whether traffic may be routed to it (status [`InstanceStatus::Healthy`]).
    pub fn is_routable(&self) -> bool {
        self.status == InstanceStatus::Healthy
    }

    /// Returns a copy with another status.
    pub fn with_status(&self, status: InstanceStatus) -> Self {
        Self {
            status,
            ..self.clone()
        }
    }

    /// Returns a copy with another weight (clamped to ≥ 1).
    pub fn with_weight(&self, weight: u32) -> Self {
        Self {
            weight: weight.max(1),
            ..self.clone()
        }
    }

    /// Checks names, host and weight. Every backend calls it before writing.
    pub fn validate(&self) -> Result<()> {
        validate_name("service name", &self.service)?;
        validate_name("instance id", &self.id)?;
        if self.host.is_empty() {
            return Err(DiscoveryError::InvalidInstance {
                reason: format!("instance `{}` has an empty host", self.id),
            });
        }
        if self.weight == 0 {
            return Err(DiscoveryError::InvalidInstance {
                reason: format!("instance `{}` has weight 0 (minimum 1)", self.id),
            });
        }
        Ok(())
    }

    /// Serializes to the JSON form every backend stores.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Parses the stored JSON form (unknown fields are ignored).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Validates a service name or instance id: `[A-Za-z0-9_-]{1,128}`. These characters are
/// safe in every backend's key syntax (etcd paths, NATS KV tokens, Redis keys, Consul ids).
///
/// ```
/// use marketprism_discovery::instance::validate_name;
/// assert!(validate_name("service name", "api-gateway-service").is_ok());
/// assert!(validate_name("service name", "a.b").is_err());
/// assert!(validate_name("instance id", "").is_err());
/// ```
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DiscoveryError::InvalidInstance {
            reason: format!(
                "{what} `{name}` must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9_-]"
            ),
        })
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Builder for [`ServiceInstance`].
#[derive(Debug, Clone)]
pub struct ServiceInstanceBuilder {
    inner: ServiceInstance,
}

impl ServiceInstanceBuilder {
    /// Sets the instance id (default `<service>-<random hex>`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.inner.id = id.into();
        self
    }

    /// Sets the URL active health checks probe.
    ///
    /// ```
    /// let i = marketprism_discovery::ServiceInstance::builder("s", "h", 1)
    ///     .health_check_url("http://h:1/health").build()?;
    /// assert_eq!(i.health_check_url.as_deref(), Some("http://h:1/health"));
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn health_check_url(mut self, url: impl Into<String>) -> Self {
        self.inner.health_check_url = Some(url.into());
        self
    }

    /// Adds one metadata entry; the value is anything convertible to a JSON value (`&str`,
    /// `bool`, integers, `Vec<&str>`, `serde_json::json!(..)`).
    ///
    /// ```
    /// use serde_json::json;
    /// let i = marketprism_discovery::ServiceInstance::builder("s", "h", 1)
    ///     .metadata("ssl", true)
    ///     .metadata("weight", 3)
    ///     .metadata("tags", vec!["a", "b"])
    ///     .build()?;
    /// assert_eq!(serde_json::to_value(&i.metadata)?, json!({"ssl": true, "weight": 3, "tags": ["a", "b"]}));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.inner.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.inner.tags.push(tag.into());
        self
    }

    /// Sets the weight for weighted round-robin (0 is rejected by `build`).
    ///
    /// ```
    /// use marketprism_discovery::ServiceInstance;
    /// assert_eq!(ServiceInstance::builder("s", "h", 1).weight(5).build()?.weight, 5);
    /// assert!(ServiceInstance::builder("s", "h", 1).weight(0).build().is_err());
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        self.inner.weight = weight;
        self
    }

    /// Sets the initial status (default healthy).
    pub fn status(mut self, status: InstanceStatus) -> Self {
        self.inner.status = status;
        self
    }

    /// Validates and returns the instance, stamping `registered_at_ms` with now.
    pub fn build(self) -> Result<ServiceInstance> {
        let mut inst = self.inner;
        if inst.id.is_empty() {
            inst.id = format!("{}-{:016x}", inst.service, rand::random::<u64>());
        }
        inst.registered_at_ms = now_ms();
        inst.validate()?;
        Ok(inst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_defaults() {
        let i = ServiceInstance::builder("svc", "::1", 80)
            .id("a")
            .build()
            .unwrap();
        assert_eq!(i.base_url(), "http://[::1]:80");
        let back = ServiceInstance::from_json(&i.to_json().unwrap()).unwrap();
        assert_eq!(back, i);
        let minimal: ServiceInstance =
            serde_json::from_str(r#"{"id":"x","service":"s","host":"h","port":1}"#).unwrap();
        assert_eq!(minimal.weight, 1);
        assert_eq!(minimal.status, InstanceStatus::Healthy);
        let generated = ServiceInstance::builder("svc", "h", 1).build().unwrap();
        assert!(generated.id.starts_with("svc-"));
        assert!(ServiceInstance::builder("svc", "", 1).build().is_err());
    }
}
