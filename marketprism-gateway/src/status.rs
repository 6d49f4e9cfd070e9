//! `/_gateway/status` and `/_gateway/services`.

use std::sync::{Arc, atomic::Ordering};

use axum::{Json, extract::State};
use serde::Serialize;

use crate::{
    GatewayState,
    breaker::{BreakerSnapshot, BreakerState},
};

/// The `/_gateway/status` body.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayStatus {
    /// Gateway name.
    pub name: String,
    /// Crate version.
    pub version: &'static str,
    /// Seconds since the router was built.
    pub uptime_seconds: u64,
    /// Requests that reached the gateway's handlers (proxied or not).
    pub requests_total: u64,
    /// Live WebSocket clients.
    pub ws_clients: usize,
    /// Events sent to WebSocket clients.
    pub ws_events_sent: u64,
    /// Clients disconnected for being too slow.
    pub ws_slow_disconnects: u64,
    /// The live event source (`bus`, `nats`).
    pub event_source: &'static str,
    /// Breakers per state.
    pub breakers: BreakerCounts,
    /// The route table.
    pub routes: Vec<crate::config::RouteConfig>,
}

/// Breakers per state.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BreakerCounts {
    /// Closed breakers.
    pub closed: usize,
    /// Open breakers.
    pub open: usize,
    /// Half-open breakers.
    pub half_open: usize,
}

/// One service on `/_gateway/services`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub service: String,
    /// Route prefixes leading to it.
    pub prefixes: Vec<String>,
    /// Its instances (empty when discovery failed; see `error`).
    pub instances: Vec<InstanceStatus>,
    /// The discovery error, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One instance on `/_gateway/services`.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    /// Instance id.
    pub id: String,
    /// Base URL.
    pub base_url: String,
    /// WRR weight.
    pub weight: u32,
    /// Health from discovery.
    pub healthy: bool,
    /// Breaker state (`closed` before the first request).
    pub breaker: BreakerState,
    /// Requests sent to it.
    pub requests: u64,
    /// Failures (transport errors, timeouts, 5xx).
    pub failures: u64,
    /// Requests its open breaker rejected.
    pub rejected: u64,
}

pub(crate) async fn status(State(state): State<Arc<GatewayState>>) -> Json<GatewayStatus> {
    let (closed, open, half_open) = state.breakers.counts();
    Json(GatewayStatus {
        name: state.config.name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        requests_total: state.stats.requests.load(Ordering::Relaxed),
        ws_clients: state.stats.ws_clients.load(Ordering::Relaxed),
        ws_events_sent: state.stats.ws_events_sent.load(Ordering::Relaxed),
        ws_slow_disconnects: state.stats.ws_slow_disconnects.load(Ordering::Relaxed),
        event_source: state.events.name(),
        breakers: BreakerCounts {
            closed,
            open,
            half_open,
        },
        routes: state.config.routes.clone(),
    })
}

pub(crate) async fn services(State(state): State<Arc<GatewayState>>) -> Json<Vec<ServiceStatus>> {
    let mut names: Vec<&str> = state
        .config
        .routes
        .iter()
        .map(|r| r.service.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for service in names {
        let prefixes = state
            .config
            .routes
            .iter()
            .filter(|r| r.service == service)
            .map(|r| r.prefix.clone())
            .collect();
        let (instances, error) = match state.upstreams.instances(service).await {
            Ok(list) => (list, None),
            Err(e) => (Arc::from([]), Some(e.to_string())),
        };
        let instances = instances
            .iter()
            .map(|u| {
                let snap = state
                    .breakers
                    .snapshot(service, &u.id)
                    .unwrap_or(BreakerSnapshot {
                        state: BreakerState::Closed,
                        requests: 0,
                        failures: 0,
                        rejected: 0,
                    });
                InstanceStatus {
                    id: u.id.clone(),
                    base_url: u.base_url.clone(),
                    weight: u.weight,
                    healthy: u.healthy,
                    breaker: snap.state,
                    requests: snap.requests,
                    failures: snap.failures,
                    rejected: snap.rejected,
                }
            })
            .collect();
        out.push(ServiceStatus {
            service: service.to_owned(),
            prefixes,
            instances,
            error,
        });
    }
    Json(out)
}

/// The OpenAPI document of every service's public routes (`marketprism-gateway/openapi.json`, linked as `docs/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// `GET /_gateway/openapi.json`: [`OPENAPI_JSON`].
pub(crate) async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_JSON,
    )
}
