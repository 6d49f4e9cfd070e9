//! `market-data-collector`: exchanges to JetStream (or the in-process bus).
//!
//! Config: `--config FILE` (TOML/YAML), environment (`MARKETPRISM_<SECTION>__<KEY>` and the
//! seeds' names), `--set key=value`. See docs/configuration.md.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    collector::{self, CollectorConfig},
    common::{ServiceArgs, run_main},
    telemetry,
};

/// MarketPrism market-data-collector: exchanges to JetStream (or the in-process bus).
#[derive(Debug, Parser)]
#[command(name = "market-data-collector", version, about)]
struct Args {
    #[command(flatten)]
    common: ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    run_main(
        &args.common,
        CollectorConfig::default(),
        |config, listener| collector::run(config, listener, telemetry::shutdown_signal()),
    )
    .await
}
