//! api-gateway (port 8080): the gateway library over discovery, with live events from NATS
//! (or the in-process bus).

use std::{
    collections::{BTreeMap, HashSet},
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use marketprism_core::bus::Bus;
use marketprism_discovery::{InstanceStatus, Registry};
use marketprism_gateway::{
    BusEventSource, EventSource, GatewayError, NatsEventSource, Upstream, Upstreams,
    config::{GatewayConfig, Secret},
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::common::{self, DiscoverySection, NatsSection, Result, ServiceSection};

/// Gateway service configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayServiceConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend (where upstreams are found).
    pub discovery: DiscoverySection,
    /// Live events from NATS (none: the in-process bus).
    pub nats: NatsSection,
    /// Static fallbacks used while discovery knows no instance (env `COLLECTOR_URL`,
    /// `STORAGE_URL`).
    pub services: StaticServices,
    /// The gateway itself: routes, auth, limits, breaker, WebSocket (see docs/gateway.md).
    pub gateway: GatewayConfig,
}

/// `[services]`: the seeds' static upstream URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticServices {
    /// market-data-collector base URL.
    pub collector_url: Option<String>,
    /// data-storage-service base URL.
    pub storage_url: Option<String>,
}

impl Default for GatewayServiceConfig {
    fn default() -> Self {
        GatewayServiceConfig {
            service: ServiceSection::new("api-gateway", 8080),
            discovery: DiscoverySection::default(),
            nats: NatsSection::default(),
            services: StaticServices::default(),
            gateway: GatewayConfig::default(),
        }
    }
}

/// [`Upstreams`] over a discovery [`Registry`]: each service is watched on first use, then
/// answered from the registry's view (no network round-trip per request).
pub struct DiscoveryUpstreams {
    registry: Registry,
    watched: Mutex<HashSet<String>>,
    fallback: BTreeMap<String, String>,
}

impl DiscoveryUpstreams {
    /// An adapter over `registry`, with static fallbacks by service name.
    pub fn new(registry: Registry, fallback: BTreeMap<String, String>) -> Self {
        DiscoveryUpstreams {
            registry,
            watched: Mutex::new(HashSet::new()),
            fallback,
        }
    }
}

#[async_trait]
impl Upstreams for DiscoveryUpstreams {
    async fn instances(&self, service: &str) -> std::result::Result<Arc<[Upstream]>, GatewayError> {
        let first = {
            let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
            // Looked up first: the name is copied only the first time.
            !watched.contains(service) && watched.insert(service.to_owned())
        };
        if first && let Err(e) = self.registry.watch_service(service).await {
            tracing::warn!(service, error = %e, "cannot watch service; asking on each request");
            self.watched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(service);
        }
        let found: Vec<Upstream> = match self.registry.discover(service).await {
            Ok(d) => d
                .instances
                .iter()
                .map(|i| {
                    Upstream::new(i.id.as_str(), i.base_url())
                        .weight(i.weight)
                        .healthy(i.status == InstanceStatus::Healthy)
                })
                .collect(),
            Err(e) => {
                tracing::debug!(service, error = %e, "discovery failed");
                Vec::new()
            }
        };
        if found.is_empty()
            && let Some(url) = self.fallback.get(service)
        {
            return Ok(Arc::from([Upstream::new("static", url.as_str())]));
        }
        Ok(found.into())
    }
}

/// Fills `gateway.proxy.service_token` from `service.tokens` (the first, the one this
/// service sends) when it is not set: the services behind the gateway require it.
pub fn apply_service_token(config: &mut GatewayServiceConfig) {
    let unset = config
        .gateway
        .proxy
        .service_token
        .as_ref()
        .is_none_or(|t| t.expose().is_empty());
    if unset && let Some(token) = config.service.tokens.current() {
        config.gateway.proxy.service_token = Some(Secret::new(token));
    }
}

/// Runs the gateway (standalone).
pub async fn run(
    config: GatewayServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_with_bus(config, listener, Bus::new(), shutdown).await
}

/// Runs the gateway; without NATS the live stream reads `bus`.
pub async fn run_with_bus(
    mut config: GatewayServiceConfig,
    listener: TcpListener,
    bus: Bus,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let stop = common::shutdown_token(shutdown);
    config.gateway.name = config.service.name.clone();
    apply_service_token(&mut config);
    let events: Arc<dyn EventSource> = match &config.nats.url {
        Some(url) => {
            let mut source = NatsEventSource::new(common::connect_nats(url, "api-gateway").await?);
            if let Some(prefix) = &config.nats.subject_prefix {
                source = source.subject_prefix(prefix.as_str());
            }
            Arc::new(source)
        }
        None => Arc::new(BusEventSource::new(bus)),
    };
    let mut fallback = BTreeMap::new();
    if let Some(u) = &config.services.collector_url {
        fallback.insert("market-data-collector".to_owned(), u.clone());
    }
    if let Some(u) = &config.services.storage_url {
        fallback.insert("data-storage-service".to_owned(), u.clone());
    }
    let registry = common::registry(&config.discovery).await?;
    let upstreams = Arc::new(DiscoveryUpstreams::new(registry.clone(), fallback));
    let addr = listener.local_addr()?;
    let server_stop = stop.child_token();
    let server = tokio::spawn(marketprism_gateway::serve(
        listener,
        config.gateway.clone(),
        upstreams,
        events,
        server_stop.clone().cancelled_owned(),
    ));
    common::register(&registry, &config.service, addr).await?;
    stop.cancelled().await;
    common::deregister(&registry).await;
    server_stop.cancel();
    server.await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_token_defaults_to_the_current_service_token() {
        let mut c = GatewayServiceConfig::default();
        apply_service_token(&mut c);
        assert!(c.gateway.proxy.service_token.is_none());
        c.service.tokens = common::ServiceTokenList(vec![
            "new-token-0123456789".into(),
            "old-token-0123456789".into(),
        ]);
        apply_service_token(&mut c);
        let sent = c
            .gateway
            .proxy
            .service_token
            .clone()
            .map(|t| t.expose().to_owned());
        assert_eq!(sent.as_deref(), Some("new-token-0123456789"));
        // An explicit one wins.
        c.gateway.proxy.service_token = Some(Secret::new("explicit-token-0123456789"));
        apply_service_token(&mut c);
        let sent = c.gateway.proxy.service_token.map(|t| t.expose().to_owned());
        assert_eq!(sent.as_deref(), Some("explicit-token-0123456789"));
    }
}
