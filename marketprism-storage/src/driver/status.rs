//! What a running [`SinkDriver`](super::SinkDriver) reports: state, counters, events written
//! per sink and the last error, for `/api/v1/storage/status` and tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of a driver. Shared as `Arc<DriverStatus>`.
#[derive(Debug, Default)]
pub struct DriverStatus {
    batches: AtomicU64,
    events: AtomicU64,
    acked: AtomicU64,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: DriverState,
    sinks: BTreeMap<String, u64>,
    last_error: Option<String>,
}

/// What the driver is doing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DriverState {
    /// Not started yet.
    #[default]
    Starting,
    /// Writing normally.
    Running,
    /// A sink is failing; the current batch is being retried and nothing is acknowledged.
    Retrying {
        /// The sink (or operation) failing.
        sink: String,
        /// Its last error.
        error: String,
    },
    /// Stopped.
    Stopped,
}

/// A snapshot of [`DriverStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverSnapshot {
    /// Batches completed.
    pub batches: u64,
    /// Events written to every sink.
    pub events: u64,
    /// Messages acknowledged upstream (0 for sources without acknowledgements).
    pub acked: u64,
    /// Events or messages dead-lettered or skipped as permanently unstorable.
    pub dead_lettered: u64,
    /// Retried failures (sink writes, acks, dead letters).
    pub retries: u64,
    /// Events durably written, by sink name.
    pub sinks: BTreeMap<String, u64>,
    /// The last error seen, if any (kept after recovery).
    pub last_error: Option<String>,
    /// Current state.
    #[serde(flatten)]
    pub state: DriverState,
}

impl DriverStatus {
    /// Current counters and state.
    pub fn snapshot(&self) -> DriverSnapshot {
        let (state, sinks, last_error) = self
            .inner
            .lock()
            .map(|i| (i.state.clone(), i.sinks.clone(), i.last_error.clone()))
            .unwrap_or_default();
        DriverSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            sinks,
            last_error,
            state,
        }
    }

    /// Sets the state.
    pub fn set_state(&self, state: DriverState) {
        if let Ok(mut i) = self.inner.lock() {
            if let DriverState::Retrying { error, .. } = &state {
                i.last_error = Some(error.clone());
            }
            i.state = state;
        }
    }

    /// Counts messages acknowledged upstream.
    pub fn add_acked(&self, n: u64) {
        self.acked.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a dead-lettered (or skipped) event or message.
    pub fn add_dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_written(&self, sink: &str, n: u64) {
        if let Ok(mut i) = self.inner.lock() {
            *i.sinks.entry(sink.to_owned()).or_default() += n;
        }
    }

    pub(crate) fn add_batch(&self, events: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
    }

    pub(crate) fn set_error(&self, error: String) {
        if let Ok(mut i) = self.inner.lock() {
            i.last_error = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_serializes_state_flat() {
        let s = DriverStatus::default();
        s.add_written("embedded", 3);
        s.add_batch(3);
        s.set_state(DriverState::Retrying {
            sink: "x".into(),
            error: "down".into(),
        });
        let v = serde_json::to_value(s.snapshot()).expect("json");
        assert_eq!(v["state"], "retrying");
        assert_eq!(v["sinks"]["embedded"], 3);
        assert_eq!(v["events"], 3);
        assert_eq!(v["last_error"], "down");
    }
}
