//! Gateway throughput and latency against calling the same upstream directly, measured in the
//! same run, in two regimes — CPU-bound and with a realistic upstream service time.
//!
//! ```text
//! cargo run --release -p marketprism-gateway --example gateway_bench -- [requests] [concurrency] [options]
//!   --service-ms N   upstream service time of the realistic case, in ms (default 2)
//!   --rounds N       rounds per case, targets alternating; medians are reported (default 3)
//!   --log            write the gateway's access log (formatted, to a sink) as in production
//!   --wrk            also load an upstream, a bare proxy and a gateway running in child
//!                    processes with `wrk` (skipped with a note when wrk is not installed)
//!   --wrk-secs N     duration of each wrk run (default 5)
//!   --serve-upstream ADDR               only serve the bench upstream
//!   --serve-gateway ADDR --upstream URL only serve a gateway in front of URL
//!   --serve-bare ADDR --upstream URL    only serve a bare proxy in front of URL
//! ```
//!
//! One axum upstream answers a small JSON body, either at once (`/api/v1/storage/status`) or
//! after the service time, as a storage query would (`/api/v1/storage/slow`). Three targets
//! are loaded in turn, alternating within each round: the upstream **direct**, a **bare**
//! proxy (the gateway's server and client stack forwarding with nothing else: the cost of
//! proxying itself) and the **gateway** (API-key auth on, rate limits off, breaker and request
//! ids on, served with [`marketprism_gateway::serve`] so the core runtime's metrics and trace
//! layers are on too). Cases:
//!
//! - **sequential**: one request at a time, the latency a hop adds;
//! - **cpu-bound**: `concurrency` clients against the instant route; throughput is limited only
//!   by CPU;
//! - **service time**: `concurrency` clients against the slow route; throughput is limited by
//!   the upstream's service time, as in a deployment.
//!
//! Besides req/s and latency every run reports the process CPU time per request (user +
//! system, from `/proc/self/stat`), which other load on the machine disturbs much less than
//! throughput.
//!
//! Why the cpu-bound ratio cannot come near 1 here: client, proxy and upstream share the same
//! cores. Direct, a request costs one HTTP exchange (client + upstream); through a proxy it
//! costs two (client + proxy server side, proxy client side + upstream) plus what the proxy
//! does. With every core busy, throughput is CPU per request bound, so the ratio is at most
//! `cpu/request direct ÷ cpu/request proxied` — the bare proxy shows that bound for any proxy
//! on this machine. With a service time the cores are not saturated and the ratio shows what a
//! deployment sees: added latency rather than lost throughput.
#![allow(clippy::print_stdout)]

mod external;
mod load;
mod servers;

use std::time::Duration;

use load::{Run, run};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const API_KEY: &str = "bench-key";
const FAST: &str = "/api/v1/storage/status";
const SLOW: &str = "/api/v1/storage/slow";

/// Command-line options (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) total: usize,
    pub(crate) concurrency: usize,
    pub(crate) service: Duration,
    pub(crate) rounds: usize,
    pub(crate) log: bool,
    pub(crate) wrk: bool,
    pub(crate) wrk_secs: u64,
    serve: Option<(String, String)>,
    upstream: Option<String>,
}

impl Options {
    fn parse() -> Result<Options, BoxError> {
        let mut o = Options {
            total: 20_000,
            concurrency: 16,
            service: Duration::from_millis(2),
            rounds: 3,
            log: false,
            wrk: false,
            wrk_secs: 5,
            serve: None,
            upstream: None,
        };
        let mut positional = 0;
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                "--service-ms" => o.service = Duration::from_millis(value()?.parse()?),
                "--rounds" => o.rounds = value()?.parse::<usize>()?.max(1),
                "--log" => o.log = true,
                "--wrk" => o.wrk = true,
                "--wrk-secs" => o.wrk_secs = value()?.parse()?,
                "--serve-upstream" | "--serve-gateway" | "--serve-bare" => {
                    o.serve = Some((a.clone(), value()?));
                }
                "--upstream" => o.upstream = Some(value()?),
                _ if positional == 0 => (o.total, positional) = (a.parse()?, 1),
                _ if positional == 1 => {
                    (o.concurrency, positional) = (a.parse::<usize>()?.max(1), 2);
                }
                _ => return Err(format!("unexpected argument `{a}`").into()),
            }
        }
        Ok(o)
    }
}

/// One thing to load: its base URL and whether it needs the API key.
struct Target {
    label: &'static str,
    base: String,
    key: Option<&'static str>,
}

/// Median of `values` (not empty).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
}

/// Runs `rounds` rounds of one case (targets alternating), prints every run, then per target
/// the medians over rounds and, against the first target (direct), the throughput ratio,
/// the CPU-per-request ratio and the added median latency. Returns those comparisons, one
/// line, for the summary.
async fn case(
    title: &str,
    client: &reqwest::Client,
    targets: &[Target],
    path: &str,
    (total, concurrency, rounds): (usize, usize, usize),
) -> String {
    println!("\n{title}");
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        for (i, t) in targets.iter().enumerate() {
            let url = format!("{}{path}", t.base);
            let r = run(client, &url, t.key, total, concurrency).await;
            let prefix = if i == 0 {
                format!("round {round}")
            } else {
                String::new()
            };
            println!(
                "  {prefix:<8} {:<8} {:>7.0} req/s  p50 {:>7.1} µs  p99 {:>7.1} µs  cpu {:>6} µs/req{}",
                t.label,
                r.rps(),
                r.percentile_us(0.50),
                r.percentile_us(0.99),
                r.cpu_us_per_request()
                    .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.1}")),
                if r.errors > 0 {
                    format!("  errors {}", r.errors)
                } else {
                    String::new()
                }
            );
            runs[i].push(r);
        }
    }
    let per_round = |i: usize, f: &dyn Fn(&Run) -> Option<f64>| -> Vec<f64> {
        runs[i].iter().filter_map(f).collect()
    };
    println!("  medians over {rounds} rounds:");
    let mut summary = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let mut rps = per_round(i, &|r| Some(r.rps()));
        let mut p50 = per_round(i, &|r| Some(r.percentile_us(0.50)));
        let mut p99 = per_round(i, &|r| Some(r.percentile_us(0.99)));
        let mut cpu = per_round(i, &|r| r.cpu_us_per_request());
        let mut line = format!(
            "    {:<8} {:>7.0} req/s  p50 {:>7.1} µs  p99 {:>7.1} µs  cpu {:>6} µs/req",
            t.label,
            median(&mut rps),
            median(&mut p50),
            median(&mut p99),
            if cpu.is_empty() {
                "n/a".to_owned()
            } else {
                format!("{:.1}", median(&mut cpu))
            }
        );
        if i > 0 {
            let mut ratio: Vec<f64> = runs[i]
                .iter()
                .zip(&runs[0])
                .map(|(r, d)| r.rps() / d.rps())
                .collect();
            let (lo, hi) = min_max(&ratio);
            let mut cpu_ratio: Vec<f64> = runs[i]
                .iter()
                .zip(&runs[0])
                .filter_map(|(r, d)| Some(d.cpu_us_per_request()? / r.cpu_us_per_request()?))
                .collect();
            let mut added: Vec<f64> = runs[i]
                .iter()
                .zip(&runs[0])
                .map(|(r, d)| r.percentile_us(0.5) - d.percentile_us(0.5))
                .collect();
            let comparison = format!(
                "ratio {:.2} ({lo:.2}–{hi:.2}), cpu ratio {}, adds p50 {:.0} µs",
                median(&mut ratio),
                if cpu_ratio.is_empty() {
                    "n/a".to_owned()
                } else {
                    format!("{:.2}", median(&mut cpu_ratio))
                },
                median(&mut added)
            );
            line += &format!("  {comparison}");
            summary.push(format!("{} {comparison}", t.label));
        }
        println!("{line}");
    }
    summary.join("; ")
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let o = Options::parse()?;
    if o.log {
        // Formatted like a production log, written nowhere: the cost without the disk.
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_writer(std::io::sink)
            .init();
    }
    if let Some((mode, addr)) = &o.serve {
        return external::serve(mode, addr, o.upstream.as_deref(), o.service).await;
    }

    let upstream = servers::start_upstream("127.0.0.1:0", o.service).await?;
    let upstream_url = format!("http://{upstream}");
    let bare = servers::start_bare_proxy("127.0.0.1:0", &upstream_url).await?;
    let gateway = servers::start_gateway("127.0.0.1:0", &upstream_url).await?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(o.concurrency * 2)
        .tcp_nodelay(true)
        .build()?;
    let targets = [
        Target {
            label: "direct",
            base: upstream_url,
            key: None,
        },
        Target {
            label: "bare",
            base: format!("http://{bare}"),
            key: None,
        },
        Target {
            label: "gateway",
            base: format!("http://{gateway}"),
            key: Some(API_KEY),
        },
    ];
    // Warm up connection pools on every path.
    for t in &targets {
        run(
            &client,
            &format!("{}{FAST}", t.base),
            t.key,
            1_000,
            o.concurrency,
        )
        .await;
    }

    let sequential = (o.total / 10).max(100);
    println!(
        "in one process on loopback, {} cores; {} requests at concurrency {}, {sequential} \
         sequential, service time {} ms, {} rounds, access log {}; load average {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        o.total,
        o.concurrency,
        o.service.as_millis(),
        o.rounds,
        if o.log { "on" } else { "off" },
        external::load_average()
    );
    let (c, r) = (o.concurrency, o.rounds);
    let seq = case(
        "sequential (added latency)",
        &client,
        &targets,
        FAST,
        (sequential, 1, r),
    )
    .await;
    let title = format!("cpu-bound: upstream answers at once, concurrency {c}");
    let cpu = case(&title, &client, &targets, FAST, (o.total, c, r)).await;
    let ms = o.service.as_millis();
    let title = format!("service time: upstream takes {ms} ms per request, concurrency {c}");
    // At most `concurrency / service time` req/s: fewer requests keep the run short.
    let slow_total = (o.total / 4).max(c * 50);
    let service = case(&title, &client, &targets, SLOW, (slow_total, c, r)).await;
    // Last, and one line per case, for scripts that keep the tail of the output.
    println!("\nsummary, medians against direct (ratio = throughput ratio):");
    println!("  sequential    {seq}");
    println!("  cpu-bound     {cpu}");
    println!("  service time  {service}");

    if o.wrk {
        external::wrk_cases(&o).await?;
    }
    Ok(())
}
