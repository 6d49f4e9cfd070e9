//! The MarketPrism services and the all-in-one `marketprism` binary.
//!
//! Each service is a library module with a serde config struct and
//! `run(config, listener, shutdown)`; the binaries in `src/bin/` only parse flags, load the
//! config ([`common::load_from_args`]), set up tracing and signals, and call it.
//!
//! | module | binary | port |
//! |---|---|---|
//! | [`gateway_service`] | `api-gateway` | 8080 |
//! | [`collector`] | `market-data-collector` | 8081 |
//! | [`storage_service`] | `data-storage-service` | 8082 |
//! | [`monitoring`] | `monitoring-service` | 8083 |
//! | [`scheduler`] | `scheduler-service` | 8084 |
//! | [`broker`] | `message-broker-service` | 8085 |
//!
//! [`platform`] runs all six in one process (`marketprism run` / `marketprism demo`).
#![deny(missing_docs)]

/// The services allocate with mimalloc (feature `mimalloc`, on by default): glibc's allocator
/// cost the collector and the storage service about a sixth of their CPU in profiles, much
/// of it freeing on one thread what another allocated (docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod broker;
pub mod cli;
pub mod collector;
pub mod common;
pub mod gateway_service;
pub mod monitoring;
pub mod platform;
pub mod scheduler;
pub mod storage_service;
pub mod telemetry;
pub mod validate;

service_config!(broker::BrokerConfig);
service_config!(collector::CollectorConfig);
service_config!(gateway_service::GatewayServiceConfig);
service_config!(monitoring::MonitoringConfig);
service_config!(scheduler::SchedulerConfig);
service_config!(storage_service::StorageConfig);
