//! # marketprism-discovery
//!
//! Service discovery: a `Registry` over memory, Consul, etcd, NATS and Redis backends.
//! Under construction: tracked by its own issue; nothing is implemented yet.
#![deny(missing_docs)]
