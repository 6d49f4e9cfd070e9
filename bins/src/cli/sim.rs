//! `marketprism sim`.

use std::time::Duration;

use marketprism_exchanges::sim::{Fault, SimConfig, serve};

use super::SimArgs;
use crate::common::Result;

/// Runs a simulator until `shutdown`; prints its URLs on `out`.
pub async fn sim(
    args: &SimArgs,
    out: &mut impl std::io::Write,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let mut config = SimConfig::new(args.exchange)
        .rate(args.rate)
        .seed(args.seed)
        .book_depth(args.book_depth);
    if !args.symbols.is_empty() {
        config = config.symbols(args.symbols.iter().cloned());
    }
    for f in &args.faults {
        let fault: Fault = serde_json::from_str(f).map_err(|e| format!("--fault {f}: {e}"))?;
        config = config.fault_after(Duration::from_secs(args.fault_after_secs), fault);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    let addr = listener.local_addr()?;
    writeln!(
        out,
        "simulating {} on {addr}\n  WebSocket base: ws://{addr}\n  REST base:      http://{addr}\n  stats:          http://{addr}/_sim/stats\n  faults:         POST http://{addr}/_sim/faults",
        args.exchange.as_str()
    )?;
    out.flush()?;
    serve(listener, config, shutdown).await?;
    Ok(())
}
