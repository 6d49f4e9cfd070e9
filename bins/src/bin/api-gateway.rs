//! `api-gateway`: the single entry point: discovery-routed proxy, auth, limits, live WebSocket stream.
//!
//! Config: `--config FILE` (TOML/YAML), environment (`MARKETPRISM_<SECTION>__<KEY>` and the
//! seeds' names), `--set key=value`. See docs/configuration.md.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    common::{ServiceArgs, run_main},
    gateway_service::{self, GatewayServiceConfig},
    telemetry,
};

/// MarketPrism api-gateway: the single entry point: discovery-routed proxy, auth, limits, live WebSocket stream.
#[derive(Debug, Parser)]
#[command(name = "api-gateway", version, about)]
struct Args {
    #[command(flatten)]
    common: ServiceArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    run_main(
        &args.common,
        GatewayServiceConfig::default(),
        |config, listener| gateway_service::run(config, listener, telemetry::shutdown_signal()),
    )
    .await
}
