//! `data-storage-service`: JetStream to ClickHouse + Redis (or the embedded store), storage API.
//!
//! Config: `--config FILE` (TOML/YAML), environment (`MARKETPRISM_<SECTION>__<KEY>` and the
//! seeds' names), `--set key=value`. See docs/configuration.md.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    common::{ServiceArgs, run_main},
    storage_service::{self, StorageConfig},
    telemetry,
};

/// MarketPrism data-storage-service: JetStream to ClickHouse + Redis (or the embedded store), storage API.
#[derive(Debug, Parser)]
#[command(name = "data-storage-service", version, about)]
struct Args {
    #[command(flatten)]
    common: ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    run_main(
        &args.common,
        StorageConfig::default(),
        |config, listener| storage_service::run(config, listener, telemetry::shutdown_signal()),
    )
    .await
}
