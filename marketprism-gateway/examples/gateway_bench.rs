//! Gateway throughput and added latency, measured against calling the same upstream directly,
//! in the same run, on loopback only.
//!
//! ```text
//! cargo run --release -p marketprism-gateway --example gateway_bench -- [requests] [concurrency]
//! ```
//!
//! One axum upstream answers a small JSON body; the gateway (API-key auth on, rate limits
//! off, breaker and request ids on) proxies to it. For each target: a sequential run (added
//! latency per request) and a concurrent run (throughput), each bounded by a request count
//! and a 20 s time cap. Client, gateway and upstream share this machine's cores, so the
//! figures are a lower bound for a gateway on its own host.
#![allow(clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::get};
use marketprism_gateway::{BusEventSource, Role, StaticUpstreams, Upstream, config::GatewayConfig};
use tokio::{net::TcpListener, sync::oneshot};

const TIME_CAP: Duration = Duration::from_secs(20);

struct Run {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: usize,
}

impl Run {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    total: usize,
    concurrency: usize,
) -> Run {
    let started = Instant::now();
    let per_task = total.div_ceil(concurrency);
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let key = key.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            let mut errors = 0;
            for _ in 0..per_task {
                if started.elapsed() > TIME_CAP {
                    break;
                }
                let t = Instant::now();
                let mut req = client.get(&url);
                if let Some(k) = &key {
                    req = req.header("x-api-key", k);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            errors += e;
        }
    }
    Run {
        requests: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
        errors,
    }
}

fn report(label: &str, r: &Run) {
    println!(
        "{label:<28} {:>8} req  {:>9.0} req/s  p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>7.1} µs  errors {}",
        r.requests,
        r.rps(),
        r.percentile(0.50).as_secs_f64() * 1e6,
        r.percentile(0.90).as_secs_f64() * 1e6,
        r.percentile(0.99).as_secs_f64() * 1e6,
        r.errors
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(16), |a| a.parse())?;
    let sequential = (total / 10).max(100);

    // Upstream.
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let upstream_addr = upstream.local_addr()?;
    let app = Router::new().route(
        "/api/v1/storage/status",
        get(|| async {
            Json(serde_json::json!({"status": "ok", "service": "data-storage-service"}))
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(upstream, app).await;
    });

    // Gateway.
    let config =
        GatewayConfig::default()
            .without_rate_limits()
            .api_key("bench", "bench-key", &[Role::Read]);
    let upstreams = StaticUpstreams::new().with(
        "data-storage-service",
        Upstream::new("s1", format!("http://{upstream_addr}")),
    );
    let gateway = TcpListener::bind("127.0.0.1:0").await?;
    let gateway_addr = gateway.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(marketprism_gateway::serve(
        gateway,
        config,
        Arc::new(upstreams),
        Arc::new(BusEventSource::default()),
        async {
            let _ = stopped.await;
        },
    ));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency * 2)
        .tcp_nodelay(true)
        .build()?;
    let direct = format!("http://{upstream_addr}/api/v1/storage/status");
    let via = format!("http://{gateway_addr}/api/v1/storage/status");

    // Warm up connection pools on both paths.
    run(&client, &direct, None, 1_000, concurrency).await;
    run(&client, &via, Some("bench-key"), 1_000, concurrency).await;

    println!(
        "loopback, {} cores, {total} requests at concurrency {concurrency}, {sequential} sequential",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let d1 = run(&client, &direct, None, sequential, 1).await;
    let g1 = run(&client, &via, Some("bench-key"), sequential, 1).await;
    let dn = run(&client, &direct, None, total, concurrency).await;
    let gn = run(&client, &via, Some("bench-key"), total, concurrency).await;
    report("direct, sequential", &d1);
    report("gateway, sequential", &g1);
    report(&format!("direct, concurrency {concurrency}"), &dn);
    report(&format!("gateway, concurrency {concurrency}"), &gn);
    println!(
        "added latency (sequential): p50 {:.1} µs, p99 {:.1} µs; throughput ratio gateway/direct {:.2}",
        (g1.percentile(0.5).as_secs_f64() - d1.percentile(0.5).as_secs_f64()) * 1e6,
        (g1.percentile(0.99).as_secs_f64() - d1.percentile(0.99).as_secs_f64()) * 1e6,
        gn.rps() / dn.rps()
    );

    let _ = stop.send(());
    server.await??;
    Ok(())
}
