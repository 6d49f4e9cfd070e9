//! The reference collector with Bybit added: this file is the whole custom binary.
//!
//! ```text
//! bybit-collector --config collector.toml
//! # collector.toml:
//! # [[exchanges]]
//! # venue = "bybit"
//! # channels = ["trades", "book"]
//! # symbols = ["BTC-USDT"]
//! ```

use std::{process::ExitCode, sync::Arc};

use clap::Parser;
use marketprism_bins::{
    collector::{Collector, CollectorConfig},
    common::{ServiceArgs, run_main},
    telemetry,
};
use marketprism_example_bybit::Bybit;

/// market-data-collector with Bybit v5 spot.
#[derive(Debug, Parser)]
#[command(name = "bybit-collector", version, about)]
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
        |config, listener| async {
            Collector::new(config)
                .exchange(Arc::new(Bybit::new()?))
                .run(listener, telemetry::shutdown_signal())
                .await
        },
    )
    .await
}
