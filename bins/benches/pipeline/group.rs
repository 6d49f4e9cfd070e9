//! Several processes of one kind (collectors, storage services) measured as one: CPU summed,
//! RSS the largest of them.

use std::time::Duration;

use crate::platform::{Proc, cpu_secs};

/// The processes of one kind.
#[derive(Default)]
pub(crate) struct Group(pub(crate) Vec<Proc>);

impl Group {
    /// CPU seconds (user + system) they have used so far, summed.
    pub(crate) fn cpu_secs(&self) -> f64 {
        self.0.iter().filter_map(Proc::pid).map(cpu_secs).sum()
    }

    /// The largest RSS among them (KiB).
    pub(crate) fn max_rss_kib(&self) -> u64 {
        self.0
            .iter()
            .filter_map(Proc::pid)
            .map(rss_kib)
            .max()
            .unwrap_or(0)
    }

    /// SIGTERM to each, waiting for each within `limit`.
    pub(crate) async fn terminate(&mut self, limit: Duration) {
        for p in &mut self.0 {
            let _ = p.terminate(limit).await;
        }
    }
}

/// A process count from the environment (`key`, default 1, at least 1).
pub(crate) fn count(key: &str) -> usize {
    std::env::var(key)
        .ok()
        .map_or(1, |v| v.trim().parse().expect(key))
        .max(1)
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
