//! `scheduler-service`: cron tasks calling discovered services or publishing to NATS.
//!
//! Config: `--config FILE` (TOML/YAML), environment (`MARKETPRISM_<SECTION>__<KEY>` and the
//! seeds' names), `--set key=value`. See docs/configuration.md.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    common::{ServiceArgs, run_main},
    scheduler::{self, SchedulerConfig},
    telemetry,
};

/// MarketPrism scheduler-service: cron tasks calling discovered services or publishing to NATS.
#[derive(Debug, Parser)]
#[command(name = "scheduler-service", version, about)]
struct Args {
    #[command(flatten)]
    common: ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    run_main(
        &args.common,
        SchedulerConfig::default(),
        |config, listener| scheduler::run(config, listener, telemetry::shutdown_signal()),
    )
    .await
}
