//! `message-broker-service`: declares JetStream streams and consumers, reports lag.
//!
//! Config: `--config FILE` (TOML/YAML), environment (`MARKETPRISM_<SECTION>__<KEY>` and the
//! seeds' names), `--set key=value`. See docs/configuration.md.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    broker::{self, BrokerConfig},
    common::{ServiceArgs, run_main},
    telemetry,
};

/// MarketPrism message-broker-service: declares JetStream streams and consumers, reports lag.
#[derive(Debug, Parser)]
#[command(name = "message-broker-service", version, about)]
struct Args {
    #[command(flatten)]
    common: ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    run_main(&args.common, BrokerConfig::default(), |config, listener| {
        broker::run(config, listener, telemetry::shutdown_signal())
    })
    .await
}
