//! # marketprism-discovery
//!
//! Service discovery for MarketPrism: a [`Registry`] (register myself with heartbeat
//! renewals, deregister on shutdown, discover, weighted round-robin
//! [`get_service_url`](Registry::get_service_url), active HTTP health checks, events, stale
//! last-known instances when the backend is down) over one object-safe [`Backend`] trait with
//! five implementations chosen by URL ([`backend_from_url`]):
//!
//! | URL | backend | feature | tested against |
//! |---|---|---|---|
//! | `memory://[name]` | [`MemoryBackend`], process-wide store (default) | always | conformance suite |
//! | `etcd://[user:pass@]host:2379?namespace=ns` | [`etcd`] v3 JSON gateway: lease + keepalive, prefix range, watch, auth | `etcd` | conformance suite on etcd 3.4 (with and without auth), SIGKILL test |
//! | `nats://host:4222?namespace=ns` | [`nats`] JetStream KV, per-key TTL + limit markers, watch | `nats` | conformance suite on NATS 2.15, SIGKILL test |
//! | `redis://host:6379/0?namespace=ns` | [`redis`] keys with `PX` expiry, pub/sub + keyspace notifications | `redis` | conformance suite (both notification modes) on Redis 7, SIGKILL test |
//! | `consul://host:8500?token=t&dc=dc1`, `consul+https://host:8501?ca_file=ca.pem` | [`consul`] agent/health HTTP(S) API, TTL checks, blocking queries | `consul` | **no Consul server**: documented JSON, recorded requests, conformance suite against a fake agent over TLS (below) |
//!
//! ```
//! use std::time::Duration;
//! use marketprism_discovery::{InstanceStatus, Registry, RegistryEvent, ServiceInstance};
//!
//! # #[tokio::main] async fn main() -> marketprism_discovery::Result<()> {
//! // `memory://` is the in-process default; `etcd://127.0.0.1:2379` etc. switch backends.
//! let registry = Registry::builder(marketprism_discovery::backend_from_url("memory://example").await?)
//!     .ttl(Duration::from_secs(15))
//!     .build();
//! registry.on_event(|e: &RegistryEvent| tracing::info!(kind = e.kind(), service = e.service()));
//!
//! let me = ServiceInstance::builder("data-storage-service", "10.0.0.7", 8082)
//!     .metadata("version", env!("CARGO_PKG_VERSION"))
//!     .health_check_url("http://10.0.0.7:8082/health")
//!     .weight(2)
//!     .build()?;
//! let me = registry.register(me).await?; // renewed every ttl/3 from now on
//!
//! registry.watch_service("data-storage-service").await?; // follow changes in the background
//! assert_eq!(registry.get_service_url("data-storage-service").await?, "http://10.0.0.7:8082");
//!
//! registry.set_status(&me.service, &me.id, InstanceStatus::Maintenance).await?; // drain
//! registry.shutdown().await?; // deregisters
//! # Ok(()) }
//! ```
//!
//! ## Guarantees, every backend
//!
//! One conformance suite (`conformance::run_all`, run by `tests/conformance.rs`) checks each
//! backend: register + list round trip, metadata values of every JSON type, TTL expiry without renewals, renewals keep a record
//! alive, deregistration (idempotent; renew/update afterwards → [`DiscoveryError::NotFound`]),
//! watch events for register / status change / deregister / expiry with the right
//! [`RemovalReason`], weights and statuses round-trip, two clients registering 20 instances
//! concurrently see the same set, service listing, invalid input rejected. `tests/kill.rs`
//! SIGKILLs a child process that registered through a [`Registry`] and checks its record
//! disappears within its TTL (+ slack) on etcd, NATS and Redis.
//!
//! ## When the backend is unreachable
//!
//! Calls fail with [`DiscoveryError::Unavailable`] naming the backend and the address
//! ([`is_retryable`](DiscoveryError::is_retryable) is true); the registry retries with capped
//! exponential backoff and jitter ([`RetryPolicy`]); [`Registry::discover`] then returns the
//! last known instances with `stale: true` and emits [`RegistryEvent::Stale`]; renewals keep
//! trying and register again if the record expired meanwhile.
//!
//! ## Expiry detection
//!
//! Removals reach watchers from the backend (etcd lease expiry = DELETE, NATS TTL markers,
//! Redis keyspace notifications or listing comparison, Consul critical checks); in addition
//! the registry re-lists every watched service each `cleanup_interval` and reports anything
//! that vanished unannounced as [`RegistryEvent::Expired`] — necessary for NATS buckets with
//! a bucket-wide `max_age`, whose expiry produces no watch event at all.
//!
//! ## The Consul gap
//!
//! No Consul server can be installed where this crate is developed, so the `consul` backend
//! is built on the documented HTTP API and has **not** run against a real agent. What is
//! tested: the registration body and the parsing of `/v1/health/service` answers against the
//! JSON examples of Consul's API docs (unit tests); with a recording HTTP stub (a mock) the
//! exact requests sent; and the whole conformance suite through `consul+https://` against a
//! *fake* agent (an in-memory imitation of the endpoints used, with TTL checks and blocking
//! queries) behind real TLS with a self-signed certificate. What is **not** tested: a real
//! agent's TTL timing, `DeregisterCriticalServiceAfter` reaping (Consul's minimum is one
//! minute, so an expired instance is hidden at once but deleted later), blocking queries
//! under load, ACL denials, and the SIGKILL test. Run `conformance::run_all` against a real
//! agent before relying on it.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
#[doc(hidden)]
pub mod conformance;
#[cfg(feature = "consul")]
pub mod consul;
mod discover;
pub mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod events;
pub mod factory;
mod health;
pub mod instance;
pub mod memory;
pub mod metrics;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "redis")]
pub mod redis;
mod registry;
mod retry;

pub use backend::{Backend, Lease, RemovalReason, WatchEvent, WatchStream};
pub use discover::Discovery;
pub use error::{DiscoveryError, Result};
pub use events::{EventHandler, RegistryEvent};
pub use factory::{BackendFactory, BackendResolver, backend_from_url};
pub use instance::{InstanceStatus, ServiceInstance, ServiceInstanceBuilder};
pub use memory::MemoryBackend;
pub use registry::{Registry, RegistryBuilder};
pub use retry::RetryPolicy;

/// A reqwest client builder, after installing rustls' `ring` provider as the process default
/// once (reqwest is built with `rustls-no-provider`; plain-HTTP backends still need one to
/// build a client).
pub(crate) fn http_client_builder() -> reqwest::ClientBuilder {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}
