//! # marketprism-discovery
//!
//! Service discovery: a [`Registry`] over memory, Consul, etcd, NATS and Redis backends.
#![deny(missing_docs)]

pub mod backend;
#[doc(hidden)]
pub mod conformance;
pub mod error;
pub mod factory;
pub mod instance;
pub mod memory;

pub use backend::{Backend, Lease, RemovalReason, WatchEvent, WatchStream};
pub use error::{DiscoveryError, Result};
pub use factory::{BackendFactory, BackendResolver, backend_from_url};
pub use instance::{InstanceStatus, ServiceInstance, ServiceInstanceBuilder};
pub use memory::MemoryBackend;
