//! The bench's last line (issue 14): one machine-readable summary of every step,
//!
//! `pipeline-summary: sustained_ev_s=N platform_cpu_us_per_event=X p99_receipt_to_nats_ms_at_10k=Y ch_visible_p99_ms_at_10k=Z`
//!
//! - `sustained_ev_s`: the highest offered rate that was published and stored in full
//!   (≥ 97 % of what the simulator offered reached NATS, and ≥ 97 % of that ClickHouse);
//! - `platform_cpu_us_per_event`: CPU of collector + storage + nats-server + ClickHouse (from
//!   /proc; simulator and measuring subscriber excluded) per stored event, at that step (at
//!   the highest step when none keeps up);
//! - the two latencies at the step whose offered rate is closest to 10 k events/s.

/// What one rate step measured.
pub(crate) struct StepResult {
    /// Events/s the simulator sent.
    pub(crate) offered: f64,
    /// Events/s delivered by NATS to the measuring subscriber.
    pub(crate) published: f64,
    /// Rows/s that became visible in ClickHouse.
    pub(crate) stored: f64,
    /// CPU-seconds of the platform processes per second of the step.
    pub(crate) platform_cores: f64,
    /// p99 collector receipt → NATS delivery (ms).
    pub(crate) p99_receipt_to_nats_ms: f64,
    /// p99 collector receipt → visible in ClickHouse (ms).
    pub(crate) p99_ch_visible_ms: f64,
}

impl StepResult {
    fn keeps_up(&self) -> bool {
        self.published >= 0.97 * self.offered && self.stored >= 0.97 * self.published
    }

    fn cpu_us_per_event(&self) -> f64 {
        self.platform_cores * 1e6 / self.stored.max(1e-9)
    }
}

/// The summary line of `steps` (see the module docs).
pub(crate) fn line(steps: &[StepResult]) -> String {
    let sustained = steps
        .iter()
        .filter(|s| s.keeps_up())
        .max_by(|a, b| a.offered.total_cmp(&b.offered));
    let for_cpu = sustained.or_else(|| steps.iter().max_by(|a, b| a.offered.total_cmp(&b.offered)));
    let at_10k = steps.iter().min_by(|a, b| {
        (a.offered - 10_000.0)
            .abs()
            .total_cmp(&(b.offered - 10_000.0).abs())
    });
    format!(
        "pipeline-summary: sustained_ev_s={:.0} platform_cpu_us_per_event={:.1} \
         p99_receipt_to_nats_ms_at_10k={:.2} ch_visible_p99_ms_at_10k={:.0}",
        sustained.map_or(0.0, |s| s.offered),
        for_cpu.map_or(f64::NAN, StepResult::cpu_us_per_event),
        at_10k.map_or(f64::NAN, |s| s.p99_receipt_to_nats_ms),
        at_10k.map_or(f64::NAN, |s| s.p99_ch_visible_ms),
    )
}
