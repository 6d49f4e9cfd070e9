//! Backends chosen by URL scheme (quickwit's storage-factory pattern).
//!
//! | URL | backend | feature |
//! |---|---|---|
//! | `memory://` or `memory://<name>` | [`MemoryBackend`] (process-wide store) | always |
//! | `etcd://[user:pass@]host:port?namespace=ns` | etcd v3 JSON gateway over HTTP | `etcd` |
//! | `nats://[user:pass@]host:port?namespace=ns` | NATS JetStream KV bucket | `nats` |
//! | `redis://[:pass@]host:port[/db]?namespace=ns&keyspace_events=auto` | Redis keys + pub/sub | `redis` |
//! | `consul://host:port?token=t&dc=dc1` | Consul agent + health HTTP API (HTTP) | `consul` |
//! | `consul+https://host:port?token=t&dc=dc1&ca_file=ca.pem` | the same over HTTPS | `consul` |
//!
//! Every backend accepts `namespace` (default `default`): registries in different namespaces
//! never see each other (tests use a random one).

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use reqwest::Url;

use crate::{
    backend::Backend,
    error::{DiscoveryError, Result},
    memory::MemoryBackend,
};

/// Default namespace.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Builds a backend from a URL of one scheme.
#[async_trait]
pub trait BackendFactory: Send + Sync {
    /// The URL scheme served (`etcd`).
    fn scheme(&self) -> &'static str;
    /// Connects (or prepares) the backend for `url`.
    async fn resolve(&self, url: &Url) -> Result<Arc<dyn Backend>>;
}

/// A set of factories keyed by scheme. [`BackendResolver::default`] knows every backend
/// compiled in; [`register`](BackendResolver::register) adds or replaces one.
///
/// ```
/// use marketprism_discovery::BackendResolver;
/// # #[tokio::main] async fn main() -> marketprism_discovery::Result<()> {
/// let backend = BackendResolver::default().resolve("memory://").await?;
/// assert_eq!(backend.name(), "memory");
/// assert!(BackendResolver::default().resolve("zookeeper://h:1").await.is_err());
/// # Ok(()) }
/// ```
pub struct BackendResolver {
    factories: HashMap<&'static str, Arc<dyn BackendFactory>>,
}

impl std::fmt::Debug for BackendResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut schemes: Vec<_> = self.factories.keys().collect();
        schemes.sort();
        f.debug_struct("BackendResolver")
            .field("schemes", &schemes)
            .finish()
    }
}

impl Default for BackendResolver {
    fn default() -> Self {
        let mut r = Self::empty();
        r.register(Arc::new(MemoryFactory));
        #[cfg(feature = "etcd")]
        r.register(Arc::new(crate::etcd::EtcdFactory));
        #[cfg(feature = "nats")]
        r.register(Arc::new(crate::nats::NatsFactory));
        #[cfg(feature = "redis")]
        r.register(Arc::new(crate::redis::RedisFactory));
        #[cfg(feature = "consul")]
        r.register(Arc::new(crate::consul::ConsulFactory { https: false }));
        #[cfg(feature = "consul")]
        r.register(Arc::new(crate::consul::ConsulFactory { https: true }));
        r
    }
}

impl BackendResolver {
    /// A resolver that knows no scheme.
    pub fn empty() -> Self {
        Self {
            factories: HashMap::new(),
        }
    }

    /// Adds (or replaces) the factory for its scheme.
    pub fn register(&mut self, factory: Arc<dyn BackendFactory>) -> &mut Self {
        self.factories.insert(factory.scheme(), factory);
        self
    }

    /// Parses `url` and asks the factory of its scheme.
    pub async fn resolve(&self, url: &str) -> Result<Arc<dyn Backend>> {
        let parsed = Url::parse(url).map_err(|e| DiscoveryError::InvalidUrl {
            url: marketprism_core::redact::url(url),
            reason: e.to_string(),
        })?;
        let scheme = parsed.scheme();
        if let Some(factory) = self.factories.get(scheme) {
            return factory.resolve(&parsed).await;
        }
        let feature = match scheme {
            "etcd" => Some("etcd"),
            "nats" => Some("nats"),
            "redis" => Some("redis"),
            "consul" | "consul+https" => Some("consul"),
            _ => None,
        };
        Err(match feature {
            Some(feature) => DiscoveryError::FeatureDisabled {
                scheme: scheme.to_owned(),
                feature,
            },
            None => DiscoveryError::UnknownScheme {
                scheme: scheme.to_owned(),
            },
        })
    }
}

/// The backend for `url` with every compiled-in backend available.
///
/// ```
/// # #[tokio::main] async fn main() -> marketprism_discovery::Result<()> {
/// let backend = marketprism_discovery::backend_from_url("memory://").await?;
/// assert_eq!(backend.name(), "memory");
/// let err = marketprism_discovery::backend_from_url("zk://h:2181").await.unwrap_err();
/// assert!(err.to_string().contains("unknown discovery backend scheme `zk`"));
/// # Ok(()) }
/// ```
pub async fn backend_from_url(url: &str) -> Result<Arc<dyn Backend>> {
    BackendResolver::default().resolve(url).await
}

/// `memory://[name]`.
struct MemoryFactory;

#[async_trait]
impl BackendFactory for MemoryFactory {
    fn scheme(&self) -> &'static str {
        "memory"
    }
    async fn resolve(&self, url: &Url) -> Result<Arc<dyn Backend>> {
        let name = url.host_str().unwrap_or_default();
        Ok(Arc::new(MemoryBackend::shared(name)))
    }
}

/// The value of query parameter `key`.
#[allow(dead_code)] // unused when no networked backend is compiled in
pub(crate) fn query_param(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `namespace` parameter, validated like a service name.
#[allow(dead_code)]
pub(crate) fn namespace(url: &Url) -> Result<String> {
    let ns = query_param(url, "namespace").unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    crate::instance::validate_name("namespace", &ns).map_err(|e| DiscoveryError::InvalidUrl {
        url: marketprism_core::redact::url(url.as_str()),
        reason: e.to_string(),
    })?;
    Ok(ns)
}

/// `host:port` of `url`, with `default_port` when it has none.
#[allow(dead_code)]
pub(crate) fn host_port(url: &Url, default_port: u16) -> Result<String> {
    let host =
        url.host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| DiscoveryError::InvalidUrl {
                url: marketprism_core::redact::url(url.as_str()),
                reason: "missing host".to_owned(),
            })?;
    Ok(format!("{host}:{}", url.port().unwrap_or(default_port)))
}
