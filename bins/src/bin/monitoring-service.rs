//! `monitoring-service`: scrapes every discovered service, alert rules, webhook, status page.
//!
//! Config: `--config FILE` (TOML/YAML), environment (`MARKETPRISM_<SECTION>__<KEY>` and the
//! seeds' names), `--set key=value`. See docs/configuration.md.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    common::{ServiceArgs, run_main},
    monitoring::{self, MonitoringConfig},
    telemetry,
};

/// MarketPrism monitoring-service: scrapes every discovered service, alert rules, webhook, status page.
#[derive(Debug, Parser)]
#[command(name = "monitoring-service", version, about)]
struct Args {
    #[command(flatten)]
    common: ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    run_main(
        &args.common,
        MonitoringConfig::default(),
        |config, listener| monitoring::run(config, listener, telemetry::shutdown_signal()),
    )
    .await
}
