//! The in-process load generator: `concurrency` tasks each sending requests one after the
//! other with reqwest, recording latencies and the process CPU time the run used.

use std::time::{Duration, Instant};

/// A run is cut after this long whatever its request count.
const TIME_CAP: Duration = Duration::from_secs(20);

/// One load run against one URL.
pub(crate) struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
    pub(crate) errors: usize,
    /// Process CPU time (user + system) spent during the run, when known.
    cpu: Option<Duration>,
}

impl Run {
    /// Latency at `p` (0..=1), in µs.
    pub(crate) fn percentile_us(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1e6
    }

    pub(crate) fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU time of the whole process (client, gateway and upstream) per request.
    pub(crate) fn cpu_us_per_request(&self) -> Option<f64> {
        let n = self.latencies.len().max(1) as f64;
        self.cpu.map(|c| c.as_secs_f64() * 1e6 / n)
    }
}

/// CPU time used by process `pid` (`self` for this one) so far: utime + stime of
/// `/proc/<pid>/stat`, in clock ticks of 10 ms (USER_HZ is 100 on Linux). `None` elsewhere.
pub(crate) fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Sends `total` GETs to `url` from `concurrency` tasks.
pub(crate) async fn run(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    total: usize,
    concurrency: usize,
) -> Run {
    let cpu_before = process_cpu("self");
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
    let elapsed = started.elapsed();
    let cpu = process_cpu("self")
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    Run {
        elapsed,
        latencies,
        errors,
        cpu,
    }
}
