//! The one sink driver: batches of events → every sink in parallel → retry → acknowledge.
//!
//! Used by the storage pipeline (JetStream consumer → sinks → ack), by the storage service's
//! in-process bus mode and by the collector (exchange streams → JetStream publisher or bus).
//! The rules are the same everywhere:
//!
//! - every sink writes the whole batch at once, all sinks in parallel;
//! - a retryable failure ([`StorageError::is_retryable`]) is retried with the one
//!   [`Backoff`] for as long as it takes (the source is meanwhile kept waiting: backpressure),
//!   calling [`Delivery::retrying`] so the source does not redeliver meanwhile;
//! - a permanent failure makes that sink write the batch one event at a time; the events it
//!   refuses are handed to [`Delivery::dead_letter`] (a dead-letter subject, or just skipped),
//!   counted ([`metrics_names::SINK_SKIPPED`](crate::metrics_names::SINK_SKIPPED)) and
//!   logged, never retried forever;
//! - only then is the batch acknowledged ([`Delivery::ack`]) with the events every sink wrote;
//! - at shutdown the batch in hand is written, not dropped ([`DriverConfig::drain_limit`] can
//!   bound how long that may take for sources that redeliver anyway).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), marketprism_storage::StorageError> {
//! use std::sync::Arc;
//! use marketprism_core::{bus::Bus, sink::Sink};
//! use marketprism_storage::driver::{DriverConfig, NoAck, SinkDriver};
//! let bus = Bus::new();
//! let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(bus)];
//! let driver = SinkDriver::new(sinks, DriverConfig::default());
//! let keep = driver.process(&[], &NoAck).await?;
//! assert!(keep.is_empty());
//! # Ok(()) }
//! ```

mod run;
mod status;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marketprism_core::{backoff::Backoff, model::MarketEvent, sink::Sink};

pub use status::{DriverSnapshot, DriverState, DriverStatus};

use crate::{Result, StorageError, metrics_names as m};

/// Driver settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig {
    /// Most events per batch (default 1000).
    pub batch_size: usize,
    /// How long a partial batch may wait for more events (default 0: write what is waiting
    /// at once — natural batching).
    pub batch_timeout: Duration,
    /// Retry delays (default 100 ms doubling up to 5 s, jittered).
    pub backoff: Backoff,
    /// After shutdown began, give up retrying the batch in hand after this long (`None`, the
    /// default: never give up — nothing is dropped).
    pub drain_limit: Option<Duration>,
    /// Batches [`run`](SinkDriver::run) writes at once (default 1: one at a time). With more,
    /// a batch is written as soon as it forms instead of after the previous one is
    /// acknowledged, so a slow acknowledgement no longer holds the next events back; when
    /// all are busy, events wait and the next batch grows (natural batching). Batches may
    /// then complete, and be acknowledged, out of order.
    pub in_flight: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            batch_size: 1000,
            batch_timeout: Duration::ZERO,
            backoff: Backoff::default(),
            drain_limit: None,
            in_flight: 1,
        }
    }
}

impl DriverConfig {
    /// Sets the batch size (at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Sets the batch timeout.
    pub fn batch_timeout(mut self, d: Duration) -> Self {
        self.batch_timeout = d;
        self
    }
    /// Sets the retry backoff.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the drain limit.
    pub fn drain_limit(mut self, d: Option<Duration>) -> Self {
        self.drain_limit = d;
        self
    }
    /// Sets the batches written at once (at least 1).
    ///
    /// ```
    /// use marketprism_storage::driver::DriverConfig;
    /// assert_eq!(DriverConfig::default().in_flight(0).in_flight, 1);
    /// assert_eq!(DriverConfig::default().in_flight(4).in_flight, 4);
    /// ```
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }
}

/// What the source of a batch does around the write: keep its messages from redelivery
/// while retrying, dead-letter what cannot be stored, acknowledge what was stored.
/// Every method has a default that does nothing (a source without acknowledgements).
#[async_trait]
pub trait Delivery: Send + Sync {
    /// Called after every failed attempt that is going to be retried: `what` (a sink or an
    /// operation) failed with `error`. A source that redelivers keeps the batch alive here.
    async fn retrying(&self, what: &str, error: &StorageError) {
        let _ = (what, error);
    }
    /// Event `index` of the batch is permanently refused by a sink (`reason`); retried while
    /// it fails retryably.
    async fn dead_letter(&self, index: usize, reason: &str) -> Result<()> {
        let _ = (index, reason);
        Ok(())
    }
    /// Every sink wrote the events whose `keep` flag is set; acknowledge the batch.
    async fn ack(&self, keep: &[bool]) -> Result<()> {
        let _ = keep;
        Ok(())
    }
}

/// A source without acknowledgements (the in-process bus, an exchange stream).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAck;

impl Delivery for NoAck {}

/// Writes batches to every sink with retries, dead-lettering and acknowledgements; see the
/// [module docs](self).
pub struct SinkDriver {
    sinks: Vec<Arc<dyn Sink>>,
    config: DriverConfig,
    status: Arc<DriverStatus>,
    stopping_since: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SinkDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.sinks.iter().map(|s| s.name()).collect();
        f.debug_struct("SinkDriver")
            .field("sinks", &names)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SinkDriver {
    /// A driver writing to `sinks`.
    pub fn new(sinks: Vec<Arc<dyn Sink>>, config: DriverConfig) -> Self {
        m::describe();
        SinkDriver {
            sinks,
            config,
            status: Arc::new(DriverStatus::default()),
            stopping_since: Mutex::new(None),
        }
    }

    /// Reports into `status` (shared with an HTTP route, a test).
    pub fn with_status(mut self, status: Arc<DriverStatus>) -> Self {
        self.status = status;
        self
    }

    /// The live status.
    pub fn status(&self) -> &Arc<DriverStatus> {
        &self.status
    }

    /// The settings.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// The sinks.
    pub fn sinks(&self) -> &[Arc<dyn Sink>] {
        &self.sinks
    }

    /// Shutdown has begun: from now on, [`DriverConfig::drain_limit`] runs.
    pub fn begin_shutdown(&self) {
        if let Ok(mut s) = self.stopping_since.lock() {
            s.get_or_insert_with(Instant::now);
        }
    }

    fn gave_up(&self) -> bool {
        let since = self.stopping_since.lock().ok().and_then(|s| *s);
        matches!((since, self.config.drain_limit), (Some(s), Some(l)) if s.elapsed() >= l)
    }

    /// Writes `events` to every sink, dead-letters what a sink refuses permanently, then
    /// acknowledges. Returns which events every sink wrote. Fails only when the source
    /// fails permanently or the drain limit passed ([`StorageError::Shutdown`]).
    pub async fn process(
        &self,
        events: &[MarketEvent],
        delivery: &dyn Delivery,
    ) -> Result<Vec<bool>> {
        let mut keep = vec![true; events.len()];
        if !events.is_empty() {
            metrics::histogram!(m::BATCH_SIZE).record(events.len() as f64);
            let whole = futures::future::join_all(
                self.sinks
                    .iter()
                    .map(|sink| self.write_whole(sink.as_ref(), events, delivery)),
            )
            .await;
            for (sink, result) in self.sinks.iter().zip(whole) {
                let written = match result {
                    Ok(()) => events.len() as u64,
                    Err(StorageError::Core(e)) if !e.is_retryable() => {
                        tracing::warn!(sink = sink.name(), error = %e, "permanent write error; isolating events");
                        self.isolate(sink.as_ref(), events, &mut keep, delivery)
                            .await?
                    }
                    Err(e) => return Err(e),
                };
                metrics::counter!(m::SINK_WRITTEN, "sink" => sink.name().to_owned())
                    .increment(written);
                self.status.add_written(sink.name(), written);
            }
        }
        self.retry("ack", delivery, || delivery.ack(&keep)).await?;
        let kept = keep.iter().filter(|k| **k).count() as u64;
        self.status.add_batch(kept);
        Ok(keep)
    }

    async fn write_whole(
        &self,
        sink: &dyn Sink,
        events: &[MarketEvent],
        delivery: &dyn Delivery,
    ) -> Result<()> {
        let started = Instant::now();
        let result = self
            .retry(sink.name(), delivery, || async {
                sink.write_batch(events).await.map_err(StorageError::from)
            })
            .await;
        metrics::histogram!(m::SINK_WRITE_SECONDS, "sink" => sink.name().to_owned())
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// After a permanent error on the whole batch: writes the kept events to `sink` one by
    /// one; those refused are dead-lettered and dropped from `keep`. Returns how many it wrote.
    async fn isolate(
        &self,
        sink: &dyn Sink,
        events: &[MarketEvent],
        keep: &mut [bool],
        delivery: &dyn Delivery,
    ) -> Result<u64> {
        let mut written = 0;
        for (i, event) in events.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let one = std::slice::from_ref(event);
            match self
                .retry(sink.name(), delivery, || async {
                    sink.write_batch(one).await.map_err(StorageError::from)
                })
                .await
            {
                Ok(()) => written += 1,
                Err(StorageError::Core(e)) if !e.is_retryable() => {
                    let reason = format!("unstorable in {}: {e}", sink.name());
                    tracing::warn!(sink = sink.name(), error = %e, "event refused permanently; dead-lettered");
                    self.retry("dead-letter", delivery, || delivery.dead_letter(i, &reason))
                        .await?;
                    metrics::counter!(m::SINK_SKIPPED, "sink" => sink.name().to_owned())
                        .increment(1);
                    self.status.add_dead_lettered(1);
                    self.status.set_error(reason);
                    keep[i] = false;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Runs `op` until it succeeds or fails permanently, retrying retryable failures with
    /// the backoff (calling [`Delivery::retrying`] after each). `what` names the sink or
    /// operation in logs, metrics and the status. After shutdown began and the drain limit
    /// passed, gives up with [`StorageError::Shutdown`].
    pub async fn retry<T, F, Fut>(
        &self,
        what: &str,
        delivery: &dyn Delivery,
        mut op: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retries = self.config.backoff.retries();
        loop {
            match op().await {
                Ok(v) => {
                    if retries.attempts() > 0 {
                        tracing::info!(what, "recovered");
                        self.status.set_state(DriverState::Running);
                    }
                    return Ok(v);
                }
                Err(e) if e.is_retryable() => {
                    if self.gave_up() {
                        tracing::error!(what, error = %e, "still failing at shutdown; giving up");
                        return Err(StorageError::Shutdown);
                    }
                    if retries.attempts() == 0 {
                        tracing::warn!(what, error = %e, "write failed; retrying, not acknowledging");
                    }
                    self.status.set_state(DriverState::Retrying {
                        sink: what.to_owned(),
                        error: e.to_string(),
                    });
                    self.status.add_retry();
                    metrics::counter!(m::SINK_RETRIES, "sink" => what.to_owned()).increment(1);
                    retries.wait().await;
                    delivery.retrying(what, &e).await;
                }
                Err(e) => {
                    self.status.set_error(e.to_string());
                    return Err(e);
                }
            }
        }
    }

    /// Flushes every sink (failures are logged).
    pub async fn flush(&self) {
        for s in &self.sinks {
            if let Err(e) = s.flush().await {
                tracing::warn!(sink = s.name(), error = %e, "flush failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
