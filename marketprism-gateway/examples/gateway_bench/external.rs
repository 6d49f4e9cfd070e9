//! The bench across processes: `--serve-*` serve one server each, and `--wrk` starts the
//! upstream, the bare proxy and the gateway as child processes of this binary and loads them
//! with `wrk`, a separate C load generator (so the client shares only the cores with them,
//! not a runtime or an allocator, and costs far less CPU per request than reqwest).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{API_KEY, BoxError, FAST, Options, SLOW, load::process_cpu, median, servers};

/// Serves one server until interrupted; prints `listening http://ADDR` once bound.
pub(crate) async fn serve(
    mode: &str,
    addr: &str,
    upstream: Option<&str>,
    service: Duration,
) -> Result<(), BoxError> {
    let upstream = || upstream.ok_or_else(|| format!("{mode} needs --upstream URL"));
    let local = match mode {
        "--serve-upstream" => servers::start_upstream(addr, service).await?,
        "--serve-gateway" => servers::start_gateway(addr, upstream()?).await?,
        _ => servers::start_bare_proxy(addr, upstream()?).await?,
    };
    println!("listening http://{local}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The 1-minute load average, to show how busy the machine was.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".to_owned())
}

/// A child process of this binary, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Result<Server, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| format!("unexpected first line `{line}`"))?
            .to_owned();
        Ok(Server { child, url })
    }

    fn cpu(&self) -> Option<Duration> {
        process_cpu(&self.child.id().to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one wrk run reported.
struct WrkRun {
    requests: f64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: bool,
}

fn wrk(o: &Options, url: &str, key: Option<&str>, secs: u64) -> Result<WrkRun, BoxError> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{}", o.concurrency),
        &format!("-d{secs}s"),
    ]);
    cmd.arg("--latency");
    if let Some(k) = key {
        cmd.args(["-H", &format!("x-api-key: {k}")]);
    }
    let out = cmd.arg(url).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(duration_us)
    };
    Ok(WrkRun {
        requests: text
            .lines()
            .find(|l| l.contains(" requests in "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0),
        rps: value("Requests/sec:").unwrap_or(0.0),
        p50_us: value("50%").unwrap_or(0.0),
        p99_us: value("99%").unwrap_or(0.0),
        errors: text.contains("Non-2xx") || text.contains("Socket errors"),
    })
}

/// `105.00us`, `1.23ms`, `2.00s` → µs; a plain number (Requests/sec) is returned as is.
fn duration_us(s: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        (s, 1.0)
    };
    number.parse::<f64>().ok().map(|v| v * scale)
}

fn cpu_per_request(server: &Server, before: Option<Duration>, requests: f64) -> String {
    match server.cpu().zip(before) {
        Some((after, before)) if requests > 0.0 => format!(
            "{:.1}",
            after.saturating_sub(before).as_secs_f64() * 1e6 / requests
        ),
        _ => "n/a".to_owned(),
    }
}

/// Runs both cases with wrk against child processes; returns early (with a note) when wrk is
/// not installed.
pub(crate) async fn wrk_cases(o: &Options) -> Result<(), BoxError> {
    let o = o.clone();
    // Blocking process handling, off the runtime's workers.
    tokio::task::spawn_blocking(move || wrk_cases_blocking(&o)).await?
}

fn wrk_cases_blocking(o: &Options) -> Result<(), BoxError> {
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("\nwrk is not installed: skipping the separate-process runs");
        return Ok(());
    }
    let ms = o.service.as_millis().to_string();
    let upstream = Server::start(&["--serve-upstream", "127.0.0.1:0", "--service-ms", &ms])?;
    let up = upstream.url.as_str();
    let bare = Server::start(&["--serve-bare", "127.0.0.1:0", "--upstream", up])?;
    let mut gateway_args = vec!["--serve-gateway", "127.0.0.1:0", "--upstream", up];
    if o.log {
        gateway_args.push("--log");
    }
    let gateway = Server::start(&gateway_args)?;
    println!(
        "\nseparate processes: wrk -t1 -c{} -d{}s → [bare proxy | gateway] process → upstream \
         process; load average {}",
        o.concurrency,
        o.wrk_secs,
        load_average()
    );
    // Warm-up: connections and the proxies' upstream pools.
    wrk(o, &format!("{}{FAST}", bare.url), None, 1)?;
    wrk(o, &format!("{}{FAST}", gateway.url), Some(API_KEY), 1)?;
    let targets = [
        ("direct", None, None),
        ("bare", Some(&bare), None),
        ("gateway", Some(&gateway), Some(API_KEY)),
    ];
    for (title, path) in [("cpu-bound", FAST), ("service time", SLOW)] {
        println!("{title}");
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
        for round in 1..=o.rounds {
            let mut direct_rps = 0.0;
            for (i, (label, proxy, key)) in targets.iter().enumerate() {
                let base = proxy.map_or(up, |p| p.url.as_str());
                let (up_before, proxy_before) = (upstream.cpu(), proxy.and_then(|p| p.cpu()));
                let r = wrk(o, &format!("{base}{path}"), *key, o.wrk_secs)?;
                let up_cpu = cpu_per_request(&upstream, up_before, r.requests);
                let proxy_cpu = proxy.map_or(String::new(), |p| {
                    format!(", {label} {}", cpu_per_request(p, proxy_before, r.requests))
                });
                let ratio = if i == 0 {
                    direct_rps = r.rps;
                    String::new()
                } else {
                    let ratio = if direct_rps > 0.0 {
                        r.rps / direct_rps
                    } else {
                        0.0
                    };
                    ratios[i].push(ratio);
                    format!("  ratio {ratio:.2}")
                };
                let prefix = if i == 0 {
                    format!("round {round}")
                } else {
                    String::new()
                };
                println!(
                    "  {prefix:<8} {label:<8} {:>7.0} req/s  p50 {:>7.1} µs  p99 {:>7.1} µs  \
                     cpu µs/req: upstream {up_cpu}{proxy_cpu}{ratio}{}",
                    r.rps,
                    r.p50_us,
                    r.p99_us,
                    if r.errors { "  ERRORS" } else { "" }
                );
            }
        }
        for (i, (label, _, _)) in targets.iter().enumerate().skip(1) {
            println!(
                "  median ratio {label}/direct {:.2}",
                median(&mut ratios[i])
            );
        }
    }
    Ok(())
}
