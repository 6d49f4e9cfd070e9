//! The `marketprism` command line.

mod record;
mod replay;
mod service;
mod sim;

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use marketprism_exchanges::{Channel, Venue};

pub use record::record;
pub use replay::replay;
pub use service::{SERVICES, ServiceAction, ServiceCmdArgs, service};
pub use sim::sim;

/// MarketPrism: collect, check, move, store and serve crypto market data.
#[derive(Debug, Parser)]
#[command(name = "marketprism", version, about)]
pub struct Cli {
    /// Log as JSON lines (stderr).
    #[arg(long, global = true)]
    pub log_json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to an exchange and write every raw frame and REST response to a capture file.
    Record(RecordArgs),
    /// Run a capture file through the normalizers and print normalized events as JSON lines.
    Replay(ReplayArgs),
    /// Run all six services in this process (embedded defaults without servers).
    Run(crate::platform::PlatformArgs),
    /// Like `run`, fed by built-in exchange simulators: data flows with no internet.
    Demo(DemoArgs),
    /// Run a local exchange simulator (WebSocket + REST + /_sim/ control routes).
    Sim(SimArgs),
    /// Start, stop, show or tail the six service processes (PID files and logs under a
    /// state directory): `marketprism service start|stop|status|logs NAME|all`.
    Service(ServiceCmdArgs),
}

/// `marketprism demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Platform flags (ports, data folder, servers).
    #[command(flatten)]
    pub platform: crate::platform::PlatformArgs,
    /// Simulated events per second and symbol.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
}

/// `marketprism sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Venue: binance-spot, binance-usdm, binance-coinm, okx, deribit.
    #[arg(long)]
    pub exchange: Venue,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub listen: String,
    /// Events per second and symbol.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Native symbols, comma-separated (default: the venue's defaults).
    #[arg(long, value_delimiter = ',')]
    pub symbols: Vec<String>,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Price levels per side of each simulated book.
    #[arg(long, default_value_t = 50)]
    pub book_depth: usize,
    /// A fault to inject at start, as JSON (repeatable), e.g.
    /// `{"type":"gap","symbol":"BTCUSDT","skip":3}`; more at runtime: POST /_sim/faults.
    #[arg(long = "fault", value_name = "JSON")]
    pub faults: Vec<String>,
    /// Inject the `--fault`s after this many seconds.
    #[arg(long, default_value_t = 0)]
    pub fault_after_secs: u64,
}

/// `marketprism record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Venue: binance-spot, binance-usdm, binance-coinm, okx, deribit.
    #[arg(long)]
    pub venue: Venue,
    /// Channels, comma-separated: trades, book, bbo, ticker, funding, mark_price,
    /// open_interest, liquidations, long_short_ratio, option_summary, volatility_index, kline.
    #[arg(long, value_delimiter = ',', value_parser = parse_channel, default_value = "trades,book")]
    pub channels: Vec<Channel>,
    /// Symbols, normalized (BTC-USDT-PERP) or native (BTCUSDT), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub symbols: Vec<String>,
    /// Capture file to write (JSON lines, see docs/capture-format.md).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Also print normalized events on stdout.
    #[arg(long)]
    pub print: bool,
    /// Override the WebSocket base URL (e.g. a local simulator).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// Override the REST base URL.
    #[arg(long)]
    pub rest_url: Option<String>,
    /// Keep books to this many levels per side.
    #[arg(long)]
    pub depth: Option<usize>,
}

impl RecordArgs {
    /// How long to record.
    pub fn duration(&self) -> Option<Duration> {
        self.seconds.map(Duration::from_secs)
    }
}

/// `marketprism replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture file (JSON lines); `-` reads stdin.
    pub file: PathBuf,
    /// Keep books to this many levels per side.
    #[arg(long)]
    pub depth: Option<usize>,
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_owned()))
        .map_err(|_| format!("unknown channel `{s}`"))
}
