//! `marketprism`: the all-in-one binary: `run`, `demo`, `sim`, `record`, `replay`, `service`.

use std::process::ExitCode;

use clap::Parser;
use marketprism_bins::{
    cli::{self, Cli, Command},
    platform, telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    telemetry::init_tracing(args.log_json);
    let _ = rustls::crypto::ring::default_provider().install_default();
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
        Command::Run(a) => run(a, None).await,
        Command::Demo(a) => demo(a).await,
        Command::Service(a) => cli::service(a, &mut std::io::stdout())
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| e.to_string()),
        Command::Sim(a) => cli::sim(a, &mut std::io::stdout(), telemetry::shutdown_signal())
            .await
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| e.to_string()),
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "failed");
        ExitCode::FAILURE
    })
}

async fn run(
    args: &platform::PlatformArgs,
    exchanges: Option<Vec<marketprism_bins::collector::ExchangeConfig>>,
) -> Result<ExitCode, String> {
    let mut configs = platform::PlatformConfigs::load(args).map_err(|e| e.to_string())?;
    if let Some(ex) = exchanges {
        configs.collector.exchanges = ex;
    }
    platform::run_platform(configs, telemetry::shutdown_signal(), |c| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", platform::banner(c));
        let _ = out.flush();
    })
    .await
    .map(|()| ExitCode::SUCCESS)
    .map_err(|e| e.to_string())
}

async fn demo(args: &cli::DemoArgs) -> Result<ExitCode, String> {
    let (sims, exchanges) = platform::Demo::start(args.rate)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("simulated exchanges: binance-spot (BTC-USDT, ETH-USDT), okx (BTC-USDT)");
    let result = run(&args.platform, Some(exchanges)).await;
    sims.stop().await;
    result
}
