//! `marketprism`: the all-in-one binary (record, replay; services to come).

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    cli::{self, Cli, Command},
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    telemetry::init_tracing(args.log_json);
    let result = match &args.command {
        Command::Replay(a) => cli::replay(a, &mut std::io::stdout().lock(), &mut std::io::stderr())
            .map(|errors| {
                if errors == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                }
            })
            .map_err(|e| e.to_string()),
        Command::Record(a) => cli::record(a, &mut std::io::stdout(), telemetry::shutdown_signal())
            .await
            .map(|events| {
                tracing::info!(events, file = %a.out.display(), "recording finished");
                ExitCode::SUCCESS
            })
            .map_err(|e| e.to_string()),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "failed");
        ExitCode::FAILURE
    })
}
