//! The storage pipeline: durable JetStream consumer → every sink → ack.
//!
//! For each batch: malformed messages are dead-lettered (and acked once the dead letter is
//! stored); the decoded events go through the [`SinkDriver`]: written to every sink, retrying
//! retryable failures with the backoff for as long as it takes (sending "in progress" acks so
//! JetStream does not redeliver meanwhile, and fetching nothing new — so while ClickHouse is
//! down, JetStream holds the backlog); events a sink refuses permanently are dead-lettered
//! one by one; then every message is acked. A crash at any point leaves the unacked messages
//! to be redelivered, and the sinks' identity-keyed deduplication absorbs the repeats. At
//! shutdown the batch in hand is finished (for at most the ack wait: after that JetStream
//! redelivers it anyway).
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marketprism_core::{backoff::Backoff, sink::Sink};

pub use crate::driver::{
    DriverSnapshot as PipelineSnapshot, DriverState as PipelineState,
    DriverStatus as PipelineStatus,
};
use crate::{
    Result, StorageError,
    driver::{Delivery, DriverConfig, NoAck, SinkDriver},
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
    /// Retry delays after a failed sink write, fetch or ack (default 100 ms doubling up to 5 s).
    pub retry: Backoff,
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
            retry: Backoff::default(),
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

/// Runs the pipeline until `shutdown` completes (the batch in progress is finished first) or
/// a non-retryable consumer error occurs.
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
    let driver = SinkDriver::new(
        sinks,
        DriverConfig::default()
            .batch_size(config.consumer.batch_size)
            .backoff(config.retry)
            .drain_limit(Some(config.consumer.ack_wait)),
    )
    .with_status(Arc::clone(&status));
    let consumer = JetStreamConsumer::connect(config.nats.clone(), config.consumer.clone()).await?;
    status.set_state(PipelineState::Running);
    let worker = Worker {
        consumer,
        driver,
        config,
    };
    let result = worker.run(shutdown).await;
    worker.driver.flush().await;
    status.set_state(PipelineState::Stopped);
    result
}

struct Worker {
    consumer: JetStreamConsumer,
    driver: SinkDriver,
    config: PipelineConfig,
}

impl Worker {
    async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut batch = tokio::select! {
            b = self.fetch() => b?,
            () = &mut shutdown => return Ok(()),
        };
        loop {
            if batch.is_empty() {
                batch = tokio::select! {
                    b = self.fetch() => b?,
                    () = &mut shutdown => return Ok(()),
                };
                continue;
            }
            // The next batch is fetched while this one is written (one batch ahead, so at
            // most two are unacked); it is acked only after its own write, as always.
            let mut stopping = false;
            let (processed, next) = {
                let work = async { tokio::join!(self.process(&batch), self.fetch()) };
                tokio::pin!(work);
                tokio::select! {
                    r = &mut work => r,
                    () = &mut shutdown => {
                        stopping = true;
                        self.driver.begin_shutdown();
                        work.await
                    }
                }
            };
            match processed {
                Err(StorageError::Shutdown) => {
                    tracing::warn!(
                        messages = batch.len(),
                        "batch left unacked at shutdown; JetStream redelivers it"
                    );
                    return Ok(());
                }
                r => r?,
            }
            if stopping {
                return Ok(());
            }
            batch = next?;
        }
    }

    /// The next batch (possibly empty after the batch timeout), retrying fetch errors.
    async fn fetch(&self) -> Result<Batch> {
        self.driver
            .retry("fetch", &NoAck, || self.consumer.next_batch())
            .await
    }

    async fn process(&self, batch: &Batch) -> Result<()> {
        let delivery = JetStreamDelivery {
            consumer: &self.consumer,
            batch,
            last_progress: Mutex::new(Instant::now()),
            progress_every: self.config.consumer.ack_wait / 3,
            pause_before_ack: self.config.pause_before_ack,
        };
        for bad in &batch.malformed {
            let Some(message) = batch.messages.get(bad.origin.message) else {
                continue;
            };
            self.driver
                .retry("dead-letter", &delivery, || {
                    self.consumer
                        .dead_letter(message, bad.origin.bytes.clone(), &bad.reason)
                })
                .await?;
            self.driver.status().add_dead_lettered(1);
        }
        let keep = self.driver.process(&batch.events, &delivery).await?;
        let kept = keep.iter().filter(|k| **k).count();
        self.driver
            .status()
            .add_acked((kept + batch.malformed.len()) as u64);
        Ok(())
    }
}

/// Dead letters, "in progress" and acks of one JetStream batch.
struct JetStreamDelivery<'a> {
    consumer: &'a JetStreamConsumer,
    batch: &'a Batch,
    last_progress: Mutex<Instant>,
    progress_every: Duration,
    pause_before_ack: Option<Duration>,
}

#[async_trait]
impl Delivery for JetStreamDelivery<'_> {
    /// Keeps the batch's messages from being redelivered ("in progress" every third of the
    /// ack wait).
    async fn retrying(&self, _: &str, _: &StorageError) {
        let due = self
            .last_progress
            .lock()
            .map(|l| l.elapsed() >= self.progress_every)
            .unwrap_or(true);
        if !due {
            return;
        }
        self.consumer.in_progress(&self.batch.messages).await;
        if let Ok(mut l) = self.last_progress.lock() {
            *l = Instant::now();
        }
    }

    async fn dead_letter(&self, index: usize, reason: &str) -> Result<()> {
        let Some(origin) = self.batch.origins.get(index) else {
            return Ok(());
        };
        match self.batch.messages.get(origin.message) {
            Some(message) => {
                self.consumer
                    .dead_letter(message, origin.bytes.clone(), reason)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Every event of the batch is now written or dead-lettered (`keep` false): every
    /// message is done.
    async fn ack(&self, _keep: &[bool]) -> Result<()> {
        if let Some(pause) = self.pause_before_ack {
            tokio::time::sleep(pause).await;
        }
        self.consumer.ack(&self.batch.messages).await
    }
}
