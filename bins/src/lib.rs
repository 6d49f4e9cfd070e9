//! Service-specific logic of the MarketPrism binaries: the `marketprism` CLI commands and
//! process set-up (tracing, signals). The binaries themselves only parse flags and call this.
#![deny(missing_docs)]

pub mod cli;
pub mod telemetry;
