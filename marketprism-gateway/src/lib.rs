//! # marketprism-gateway
//!
//! The API gateway as tower layers and a hyper service. Under construction: tracked by its own
//! issue; nothing is implemented yet.
#![deny(missing_docs)]
