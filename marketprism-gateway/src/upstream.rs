//! Where upstream instances come from: the object-safe [`Upstreams`] resolver and
//! [`StaticUpstreams`] (from config, for tests and static deployments).
//!
//! A discovery registry plugs in by implementing [`Upstreams`] (an adapter over
//! `marketprism-discovery` lives with the binaries, so this crate does not depend on it).

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use async_trait::async_trait;
use serde::Serialize;

use crate::{GatewayError, config::GatewayConfig};

/// One instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    /// Instance id, unique within its service.
    pub id: String,
    /// Base URL (`http://host:port`, no trailing slash needed); the request path is appended.
    pub base_url: String,
    /// Weight for weighted round-robin; 0 takes the instance out of rotation.
    pub weight: u32,
    /// Health as reported by discovery; unhealthy instances get no traffic.
    pub healthy: bool,
}

impl Upstream {
    /// A healthy instance with weight 1.
    ///
    /// ```
    /// use marketprism_gateway::Upstream;
    /// let u = Upstream::new("s1", "http://127.0.0.1:8082").weight(3).healthy(false);
    /// assert_eq!((u.weight, u.healthy), (3, false));
    /// ```
    pub fn new(id: impl Into<String>, base_url: impl Into<String>) -> Self {
        Upstream {
            id: id.into(),
            base_url: base_url.into(),
            weight: 1,
            healthy: true,
        }
    }

    /// Sets the weight.
    ///
    /// ```
    /// let u = marketprism_gateway::Upstream::new("a", "http://127.0.0.1:1").weight(5);
    /// assert_eq!(u.weight, 5);
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the health.
    ///
    /// ```
    /// let u = marketprism_gateway::Upstream::new("a", "http://127.0.0.1:1").healthy(false);
    /// assert!(!u.healthy);
    /// ```
    pub fn healthy(mut self, healthy: bool) -> Self {
        self.healthy = healthy;
        self
    }
}

/// Resolves a service name to its instances. Object-safe: used as `Arc<dyn Upstreams>`.
///
/// Called once per proxied request, so implementations should answer from a cache (a
/// discovery client's watched view), not from a network round-trip.
#[async_trait]
pub trait Upstreams: Send + Sync {
    /// All known instances of `service`, healthy or not (the gateway filters). An unknown
    /// service is an empty list, not an error.
    ///
    /// Called on every proxied request: a shared snapshot (an `Arc` clone) is cheapest.
    async fn instances(&self, service: &str) -> Result<Arc<[Upstream]>, GatewayError>;
}

/// A fixed (but updatable) set of instances per service.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), marketprism_gateway::GatewayError> {
/// use marketprism_gateway::{StaticUpstreams, Upstream, Upstreams};
/// let ups = StaticUpstreams::new()
///     .with("data-storage-service", Upstream::new("s1", "http://127.0.0.1:8082"))
///     .with("data-storage-service", Upstream::new("s2", "http://127.0.0.1:9082").weight(2));
/// assert_eq!(ups.instances("data-storage-service").await?.len(), 2);
/// ups.set_healthy("data-storage-service", "s1", false);
/// assert!(!ups.instances("data-storage-service").await?[0].healthy);
/// assert!(ups.instances("nobody").await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct StaticUpstreams {
    /// Snapshots, replaced on every change (rare) and shared with the requests reading them.
    services: Arc<RwLock<BTreeMap<String, Arc<[Upstream]>>>>,
}

impl StaticUpstreams {
    /// No instances.
    pub fn new() -> Self {
        StaticUpstreams::default()
    }

    /// The instances listed under `upstreams` in the config.
    ///
    /// ```
    /// use marketprism_gateway::{config::GatewayConfig, StaticUpstreams};
    /// let c = GatewayConfig::default().upstream("scheduler-service", "a", "http://127.0.0.1:8084", 1);
    /// let ups = StaticUpstreams::from_config(&c);
    /// # let _ = ups;
    /// ```
    pub fn from_config(config: &GatewayConfig) -> Self {
        let mut s = StaticUpstreams::new();
        for (service, list) in &config.upstreams {
            for u in list {
                s = s.with(
                    service.clone(),
                    Upstream::new(u.id.clone(), u.url.clone()).weight(u.weight),
                );
            }
        }
        s
    }

    /// Adds an instance (replacing one with the same id).
    ///
    /// ```
    /// use marketprism_gateway::{StaticUpstreams, Upstream};
    /// let ups = StaticUpstreams::new().with("x", Upstream::new("a", "http://127.0.0.1:1"));
    /// # let _ = ups;
    /// ```
    pub fn with(self, service: impl Into<String>, upstream: Upstream) -> Self {
        self.insert(service, upstream);
        self
    }

    /// Adds or replaces an instance in place (shared by clones).
    pub fn insert(&self, service: impl Into<String>, upstream: Upstream) {
        let mut map = self.write();
        let list = map.entry(service.into()).or_insert_with(|| Arc::from([]));
        let mut next: Vec<Upstream> = list
            .iter()
            .filter(|u| u.id != upstream.id)
            .cloned()
            .collect();
        next.push(upstream);
        *list = next.into();
    }

    /// Removes an instance; returns whether it existed.
    pub fn remove(&self, service: &str, id: &str) -> bool {
        let mut map = self.write();
        let Some(list) = map.get_mut(service) else {
            return false;
        };
        let next: Vec<Upstream> = list.iter().filter(|u| u.id != id).cloned().collect();
        let removed = next.len() != list.len();
        *list = next.into();
        removed
    }

    /// Marks an instance healthy or not; returns whether it exists.
    pub fn set_healthy(&self, service: &str, id: &str, healthy: bool) -> bool {
        let mut map = self.write();
        let Some(list) = map.get_mut(service) else {
            return false;
        };
        let mut next = list.to_vec();
        match next.iter_mut().find(|u| u.id == id) {
            Some(u) => {
                u.healthy = healthy;
                *list = next.into();
                true
            }
            None => false,
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<[Upstream]>>> {
        self.services
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Upstreams for StaticUpstreams {
    async fn instances(&self, service: &str) -> Result<Arc<[Upstream]>, GatewayError> {
        Ok(self
            .services
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(service)
            .map_or_else(|| Arc::from([]), Arc::clone))
    }
}
