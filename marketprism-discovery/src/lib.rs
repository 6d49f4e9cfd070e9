//! # marketprism-discovery
//!
//! Service discovery: a [`Registry`] over memory, Consul, etcd, NATS and Redis backends.
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
mod balance;
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
