//! Per-upstream circuit breaker.
//!
//! ```text
//!            N failures within `window`
//!  Closed ─────────────────────────────▶ Open
//!    ▲                                    │ `cooldown` elapsed: the next request
//!    │ probe succeeds                     ▼ is admitted as the only probe
//!    └──────────────────────────────── HalfOpen ──probe fails──▶ Open (cooldown again)
//! ```
//!
//! A request takes a [`Permit`] with [`Breaker::try_acquire`] and reports the outcome on it;
//! a permit dropped without an outcome (the client went away) frees the half-open probe slot
//! without counting as a success or a failure.

mod registry;

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;

pub use registry::{BreakerRegistry, BreakerSnapshot};

use crate::config::BreakerConfig;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed,
    /// Requests are rejected until the cooldown ends.
    Open,
    /// One probe request is admitted; its outcome decides.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: VecDeque<Instant> },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: Mutex<Inner>,
    requests: AtomicU64,
    failures: AtomicU64,
    rejected: AtomicU64,
}

/// Permission to send one request; report the outcome with [`Permit::success`] or
/// [`Permit::failure`].
#[must_use = "report the outcome on the permit"]
#[derive(Debug)]
pub struct Permit {
    breaker: Arc<Breaker>,
    probe: bool,
    done: bool,
}

impl Breaker {
    /// A closed breaker.
    ///
    /// ```
    /// use marketprism_gateway::{breaker::{Breaker, BreakerState}, config::BreakerConfig};
    /// let b = std::sync::Arc::new(Breaker::new(BreakerConfig { failure_threshold: 2, window_ms: 1000, cooldown_ms: 100 }));
    /// b.try_acquire().expect("closed admits").failure();
    /// b.try_acquire().expect("closed admits").failure();
    /// assert_eq!(b.state(), BreakerState::Open);
    /// assert!(b.try_acquire().is_none());
    /// ```
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            state: Mutex::new(Inner::Closed {
                failures: VecDeque::new(),
            }),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state (an open breaker whose cooldown has ended reports `HalfOpen`).
    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    fn state_at(&self, now: Instant) -> BreakerState {
        match &*self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now < *until => BreakerState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether [`try_acquire`](Self::try_acquire) would admit a request now (no side effect).
    pub fn would_admit(&self) -> bool {
        let now = Instant::now();
        match &*self.lock() {
            Inner::Closed { .. } => true,
            Inner::Open { until } => now >= *until,
            Inner::HalfOpen { probing } => !probing,
        }
    }

    /// Counts a request that skipped this instance because the breaker did not admit it.
    pub fn record_rejection(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Time until an open breaker admits a probe (`None` unless open).
    pub fn retry_after(&self) -> Option<Duration> {
        match &*self.lock() {
            Inner::Open { until } => Some(until.saturating_duration_since(Instant::now())),
            _ => None,
        }
    }

    /// Admits a request, or `None` when open (or half-open with the probe in flight).
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(self: &Arc<Self>, now: Instant) -> Option<Permit> {
        let mut state = self.lock();
        let probe = match &mut *state {
            Inner::Closed { .. } => false,
            Inner::Open { until } if now < *until => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Inner::Open { .. } => {
                *state = Inner::HalfOpen { probing: true };
                true
            }
            Inner::HalfOpen { probing } if *probing => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Inner::HalfOpen { probing } => {
                *probing = true;
                true
            }
        };
        drop(state);
        self.requests.fetch_add(1, Ordering::Relaxed);
        Some(Permit {
            breaker: Arc::clone(self),
            probe,
            done: false,
        })
    }

    fn on_success(&self, probe: bool) {
        let mut state = self.lock();
        match &mut *state {
            Inner::HalfOpen { .. } if probe => {
                *state = Inner::Closed {
                    failures: VecDeque::new(),
                };
            }
            Inner::Closed { failures } => failures.clear(),
            _ => {}
        }
    }

    fn on_failure(&self, probe: bool, now: Instant) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let cooldown = self.config.cooldown();
        let window = self.config.window();
        let threshold = self.config.failure_threshold.max(1) as usize;
        let mut state = self.lock();
        match &mut *state {
            Inner::HalfOpen { .. } if probe => {
                *state = Inner::Open {
                    until: now + cooldown,
                };
            }
            Inner::Closed { failures } => {
                while failures
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) > window)
                {
                    failures.pop_front();
                }
                failures.push_back(now);
                if failures.len() >= threshold {
                    tracing::warn!(failures = failures.len(), "circuit breaker opened");
                    *state = Inner::Open {
                        until: now + cooldown,
                    };
                }
            }
            _ => {}
        }
    }

    fn on_abandon(&self, probe: bool) {
        if !probe {
            return;
        }
        if let Inner::HalfOpen { probing } = &mut *self.lock() {
            *probing = false;
        }
    }

    /// Requests admitted so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Failures reported so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Requests rejected while open so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

impl Permit {
    /// Whether this request is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The upstream answered (any status below 500).
    pub fn success(mut self) {
        self.done = true;
        self.breaker.on_success(self.probe);
    }

    /// The upstream failed (transport error, timeout or 5xx).
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.on_failure(self.probe, Instant::now());
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.on_abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, window_ms: u64, cooldown_ms: u64) -> Arc<Breaker> {
        Arc::new(Breaker::new(BreakerConfig {
            failure_threshold: threshold,
            window_ms,
            cooldown_ms,
        }))
    }

    #[test]
    fn opens_after_threshold_within_window_only() {
        let b = breaker(3, 100, 1000);
        let t0 = Instant::now();
        // Two failures, then the window passes: they no longer count.
        for _ in 0..2 {
            let p = b.try_acquire_at(t0).expect("closed");
            p.done_failure_at(t0);
        }
        let later = t0 + Duration::from_millis(150);
        b.try_acquire_at(later)
            .expect("closed")
            .done_failure_at(later);
        assert_eq!(b.state_at(later), BreakerState::Closed);
        b.try_acquire_at(later)
            .expect("closed")
            .done_failure_at(later);
        b.try_acquire_at(later)
            .expect("closed")
            .done_failure_at(later);
        assert_eq!(b.state_at(later), BreakerState::Open);
        assert!(b.try_acquire_at(later).is_none());
        assert_eq!(b.rejected(), 1);
    }

    #[test]
    fn half_open_admits_one_probe_then_closes_or_reopens() {
        let b = breaker(1, 1000, 100);
        let t0 = Instant::now();
        b.try_acquire_at(t0).expect("closed").done_failure_at(t0);
        assert!(b.try_acquire_at(t0 + Duration::from_millis(50)).is_none());
        let t1 = t0 + Duration::from_millis(120);
        assert_eq!(b.state_at(t1), BreakerState::HalfOpen);
        let probe = b.try_acquire_at(t1).expect("probe admitted");
        assert!(probe.is_probe());
        assert!(b.try_acquire_at(t1).is_none(), "only one probe at a time");
        // Probe fails: open again for a full cooldown.
        probe.done_failure_at(t1);
        assert!(b.try_acquire_at(t1 + Duration::from_millis(50)).is_none());
        let t2 = t1 + Duration::from_millis(120);
        let probe = b.try_acquire_at(t2).expect("second probe");
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_acquire().is_some());
    }

    #[test]
    fn abandoned_probe_frees_the_slot() {
        let b = breaker(1, 1000, 0);
        let t0 = Instant::now();
        b.try_acquire_at(t0).expect("closed").done_failure_at(t0);
        let probe = b.try_acquire_at(t0).expect("probe");
        drop(probe);
        assert!(b.try_acquire_at(t0).is_some());
    }

    #[test]
    fn success_in_closed_resets_failures() {
        let b = breaker(2, 10_000, 1000);
        let t0 = Instant::now();
        b.try_acquire_at(t0).expect("c").done_failure_at(t0);
        b.try_acquire_at(t0).expect("c").success();
        b.try_acquire_at(t0).expect("c").done_failure_at(t0);
        assert_eq!(b.state_at(t0), BreakerState::Closed);
    }

    impl Permit {
        fn done_failure_at(mut self, now: Instant) {
            self.done = true;
            self.breaker.on_failure(self.probe, now);
        }
    }
}
