//! The storage pipeline: durable JetStream consumer → every sink → ack.
//!
//! For each batch: malformed messages are dead-lettered (and acked once the dead letter is
//! stored); the decoded events are written to every sink, retrying retryable failures with
//! capped exponential backoff for as long as it takes (sending "in progress" acks so JetStream
//! does not redeliver meanwhile, and fetching nothing new — so while ClickHouse is down,
//! JetStream holds the backlog); events a sink refuses permanently are dead-lettered one by
//! one; then every message is acked. A crash at any point leaves the unacked messages to be
//! redelivered, and the sinks' identity-keyed deduplication absorbs the repeats.
//!
//! ```no_run
//! use std::sync::Arc;
//! use marketprism_storage::{pipeline::{PipelineConfig, run_storage_pipeline}, nats::NatsConfig};
//! # async fn run(sinks: Vec<Arc<dyn marketprism_core::sink::Sink>>) -> Result<(), marketprism_storage::StorageError> {
//! let config = PipelineConfig::new(NatsConfig::new("nats://127.0.0.1:4222"));
//! run_storage_pipeline(config, sinks, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marketprism_core::{model::MarketEvent, sink::Sink};
use serde::Serialize;

use crate::{
    Result, StorageError, metrics_names as m,
    nats::{
        NatsConfig,
        consumer::{Batch, ConsumerConfig, JetStreamConsumer},
    },
};

/// Pipeline settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Stream location and names.
    pub nats: NatsConfig,
    /// Consumer settings (durable name, batch size and timeout, ack wait).
    pub consumer: ConsumerConfig,
    /// First retry delay after a failed sink write (default 100 ms), doubled per attempt.
    pub retry_initial: Duration,
    /// Longest retry delay (default 5 s).
    pub retry_max: Duration,
    /// Test hook: sleep this long after the sinks wrote a batch and before acking it, so a
    /// crash test can kill the process between write and ack. `None` in production.
    #[doc(hidden)]
    pub pause_before_ack: Option<Duration>,
}

impl PipelineConfig {
    /// Defaults for `nats`.
    pub fn new(nats: NatsConfig) -> Self {
        PipelineConfig {
            nats,
            consumer: ConsumerConfig::default(),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            pause_before_ack: None,
        }
    }
    /// Sets the consumer settings.
    ///
    /// ```
    /// use marketprism_storage::{nats::{NatsConfig, consumer::ConsumerConfig}, pipeline::PipelineConfig};
    /// let c = PipelineConfig::new(NatsConfig::new("nats://127.0.0.1:4222"))
    ///     .consumer(ConsumerConfig::default().batch_size(5000));
    /// assert_eq!(c.consumer.batch_size, 5000);
    /// ```
    pub fn consumer(mut self, consumer: ConsumerConfig) -> Self {
        self.consumer = consumer;
        self
    }
}

/// Live counters of a running pipeline, for `/api/v1/storage/status` and tests.
#[derive(Debug, Default)]
pub struct PipelineStatus {
    batches: AtomicU64,
    events: AtomicU64,
    acked: AtomicU64,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    state: Mutex<PipelineState>,
}

/// What the pipeline is doing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PipelineState {
    /// Not started yet.
    #[default]
    Starting,
    /// Consuming normally.
    Running,
    /// A sink is failing; the current batch is being retried and nothing is acked.
    Retrying {
        /// The sink.
        sink: String,
        /// Its last error.
        error: String,
    },
    /// Stopped.
    Stopped,
}

/// A snapshot of [`PipelineStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineSnapshot {
    /// Batches completed.
    pub batches: u64,
    /// Events written to every sink.
    pub events: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// Messages dead-lettered.
    pub dead_lettered: u64,
    /// Sink write retries.
    pub retries: u64,
    /// Current state.
    #[serde(flatten)]
    pub state: PipelineState,
}

impl PipelineStatus {
    /// Current counters and state.
    pub fn snapshot(&self) -> PipelineSnapshot {
        PipelineSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            state: self.state.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }
    fn set(&self, state: PipelineState) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }
}

/// Runs the pipeline until `shutdown` completes (the batch in progress is abandoned unacked,
/// to be redelivered) or a non-retryable consumer error occurs.
pub async fn run_storage_pipeline<F>(
    config: PipelineConfig,
    sinks: Vec<Arc<dyn Sink>>,
    shutdown: F,
) -> Result<()>
where
    F: Future<Output = ()> + Send,
{
    run_with_status(config, sinks, Arc::new(PipelineStatus::default()), shutdown).await
}

/// [`run_storage_pipeline`] reporting into `status`.
pub async fn run_with_status<F>(
    config: PipelineConfig,
    sinks: Vec<Arc<dyn Sink>>,
    status: Arc<PipelineStatus>,
    shutdown: F,
) -> Result<()>
where
    F: Future<Output = ()> + Send,
{
    m::describe();
    let consumer = JetStreamConsumer::connect(config.nats.clone(), config.consumer.clone()).await?;
    status.set(PipelineState::Running);
    let worker = Worker {
        consumer,
        sinks,
        config,
        status: Arc::clone(&status),
    };
    tokio::pin!(shutdown);
    let result = tokio::select! {
        r = worker.run() => r,
        () = &mut shutdown => Ok(()),
    };
    status.set(PipelineState::Stopped);
    result
}

struct Worker {
    consumer: JetStreamConsumer,
    sinks: Vec<Arc<dyn Sink>>,
    config: PipelineConfig,
    status: Arc<PipelineStatus>,
}

impl Worker {
    async fn run(&self) -> Result<()> {
        let mut batch = self.fetch().await?;
        loop {
            if batch.is_empty() {
                batch = self.fetch().await?;
                continue;
            }
            // The next batch is fetched while this one is written (one batch ahead, so at
            // most two are unacked); it is acked only after its own write, as always.
            let (processed, next) = tokio::join!(self.process(batch), self.fetch());
            processed?;
            batch = next?;
        }
    }

    /// The next batch (possibly empty after the batch timeout), retrying fetch errors.
    async fn fetch(&self) -> Result<Batch> {
        let mut delay = self.config.retry_initial;
        loop {
            match self.consumer.next_batch().await {
                Ok(b) => return Ok(b),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "fetch failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.retry_max);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn process(&self, batch: Batch) -> Result<()> {
        metrics::histogram!(m::BATCH_SIZE).record(batch.len() as f64);
        for bad in &batch.malformed {
            self.retry_forever("dead-letter", &batch, || {
                self.consumer.dead_letter(&bad.message, &bad.reason)
            })
            .await?;
            self.status.dead_lettered.fetch_add(1, Ordering::Relaxed);
        }
        let mut keep = vec![true; batch.events.len()];
        // Every sink writes the whole batch at once (ClickHouse and Redis in parallel); only a
        // sink that refuses some events permanently then isolates them, one sink at a time.
        let whole = futures::future::join_all(
            self.sinks
                .iter()
                .map(|sink| self.write_whole(sink.as_ref(), &batch, &batch.events)),
        )
        .await;
        for (sink, result) in self.sinks.iter().zip(whole) {
            let written = match result {
                Ok(()) => batch.events.len() as u64,
                Err(StorageError::Core(e)) if !e.is_retryable() => {
                    tracing::warn!(sink = sink.name(), error = %e, "permanent write error; isolating events");
                    self.isolate(sink.as_ref(), &batch, &mut keep).await?
                }
                Err(e) => return Err(e),
            };
            metrics::counter!(m::SINK_WRITTEN, "sink" => sink.name().to_owned()).increment(written);
        }
        if let Some(pause) = self.config.pause_before_ack {
            tokio::time::sleep(pause).await;
        }
        let to_ack: Vec<_> = batch
            .messages
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(m, _)| m.clone())
            .collect();
        self.retry_forever("ack", &batch, || self.consumer.ack(&to_ack))
            .await?;
        self.status.batches.fetch_add(1, Ordering::Relaxed);
        self.status
            .events
            .fetch_add(to_ack.len() as u64, Ordering::Relaxed);
        self.status.acked.fetch_add(
            (to_ack.len() + batch.malformed.len()) as u64,
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Writes `events` to `sink`, retrying retryable errors forever.
    async fn write_whole(
        &self,
        sink: &dyn Sink,
        batch: &Batch,
        events: &[MarketEvent],
    ) -> Result<()> {
        let started = Instant::now();
        let result = self
            .retry_forever(sink.name(), batch, || async {
                sink.write_batch(events).await.map_err(StorageError::from)
            })
            .await;
        metrics::histogram!(m::SINK_WRITE_SECONDS, "sink" => sink.name().to_owned())
            .record(started.elapsed().as_secs_f64());
        result
    }

    /// After a permanent error on the whole batch: writes the kept events to `sink` one by
    /// one and dead-letters (and drops from `keep`) those refused. Returns how many it wrote.
    async fn isolate(&self, sink: &dyn Sink, batch: &Batch, keep: &mut [bool]) -> Result<u64> {
        let mut written = 0;
        for (i, event) in batch.events.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let one = std::slice::from_ref(event);
            match self
                .retry_forever(sink.name(), batch, || async {
                    sink.write_batch(one).await.map_err(StorageError::from)
                })
                .await
            {
                Ok(()) => written += 1,
                Err(StorageError::Core(e)) if !e.is_retryable() => {
                    let reason = format!("unstorable in {}: {e}", sink.name());
                    let message = &batch.messages[i];
                    self.retry_forever("dead-letter", batch, || {
                        self.consumer.dead_letter(message, &reason)
                    })
                    .await?;
                    self.status.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    keep[i] = false;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Runs `op` until it succeeds or fails permanently. While retrying, keeps the batch's
    /// messages from being redelivered ("in progress" acks every third of the ack wait).
    async fn retry_forever<F, Fut>(&self, what: &str, batch: &Batch, mut op: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut delay = self.config.retry_initial;
        let mut last_progress = Instant::now();
        let progress_every = self.config.consumer.ack_wait / 3;
        let mut failing = false;
        loop {
            match op().await {
                Ok(()) => {
                    if failing {
                        tracing::info!(what, "recovered");
                        self.status.set(PipelineState::Running);
                    }
                    return Ok(());
                }
                Err(e) if e.is_retryable() => {
                    if !failing {
                        tracing::warn!(what, error = %e, "write failed; retrying, not acking");
                    }
                    failing = true;
                    self.status.set(PipelineState::Retrying {
                        sink: what.to_owned(),
                        error: e.to_string(),
                    });
                    self.status.retries.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(m::SINK_RETRIES, "sink" => what.to_owned()).increment(1);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.config.retry_max);
                    if last_progress.elapsed() >= progress_every {
                        self.consumer.in_progress(&batch.messages).await;
                        let bad: Vec<_> =
                            batch.malformed.iter().map(|b| b.message.clone()).collect();
                        self.consumer.in_progress(&bad).await;
                        last_progress = Instant::now();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
