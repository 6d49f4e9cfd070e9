//! The JetStream publisher: events are published on their subjects, acks are pipelined with
//! a bounded number in flight, failed publishes are retried, and a batch that still cannot be
//! published is returned as an error to the caller (the collector), which is the
//! backpressure: nothing is dropped silently.
//!
//! The events of one subject within a batch travel together, up to
//! [`max_events_per_message`](PublisherConfig::max_events_per_message): one message with the
//! events as JSON lines and their count in the
//! [`EVENTS_HEADER`] (see
//! [`framing`](marketprism_core::framing)). A batch is what waited while the previous one was
//! being published, so at low rates each message still carries one event (plain JSON, no
//! header) and under load messages grow: the server stores, acks and delivers once per
//! message. A message with one event has the event's identity as `Nats-Msg-Id`; one with
//! several has `{first identity}..{last identity}#{count}`, stable across the retries of the
//! same batch, so JetStream's duplicate window still drops a retried publish.
//!
//! In the [bulk layout](super::StreamLayout::Bulk) the stored messages group a batch's events
//! by venue instead (`bulk.{exchange}.{market}`, any channels and symbols), and the
//! per-subject messages above go to core NATS first as live copies.
//!
//! ```no_run
//! use marketprism_storage::nats::{NatsConfig, publisher::{JetStreamPublisher, PublisherConfig}};
//! # async fn run(events: Vec<marketprism_core::model::MarketEvent>) -> Result<(), marketprism_storage::StorageError> {
//! let publisher = JetStreamPublisher::connect(
//!     NatsConfig::new("nats://127.0.0.1:4222"),
//!     PublisherConfig::default().max_in_flight(4096),
//! ).await?;
//! let report = publisher.publish_batch(&events).await?; // returns once all are acked
//! assert_eq!(report.acked, events.len());
//! # Ok(()) }
//! ```

mod messages;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage as Publish};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream::FuturesUnordered};
use marketprism_core::{
    backoff::Backoff,
    framing::EVENTS_HEADER,
    model::MarketEvent,
    sink::{Health, Sink},
};

use self::messages::{Messages, Prepared};
use super::{NatsConfig, connect, ensure_streams, nats_err};
use crate::{Result, StorageError, metrics_names as m};

/// Publisher settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// Most publishes awaiting their ack at once (default 2048).
    pub max_in_flight: usize,
    /// Retries per event before the batch fails (default 5).
    pub max_retries: u32,
    /// First retry delay, doubled per attempt up to 2 s and jittered (default 50 ms; see
    /// [`Backoff`]).
    pub retry_backoff: Duration,
    /// Most events of one subject carried by one message (default 256; 1: one message per
    /// event, so that JetStream dedups each event by its own identity — what collectors that
    /// overlap, with leases or redundancy, need).
    pub max_events_per_message: usize,
    /// Largest payload of a several-event message (default 256 KiB, below the server's
    /// default 1 MiB `max_payload`); a single larger event still goes alone.
    pub max_message_bytes: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            max_in_flight: 2048,
            max_retries: 5,
            retry_backoff: Duration::from_millis(50),
            max_events_per_message: 256,
            max_message_bytes: 256 * 1024,
        }
    }
}

impl PublisherConfig {
    /// Sets the in-flight bound.
    ///
    /// ```
    /// let c = marketprism_storage::nats::publisher::PublisherConfig::default().max_in_flight(64);
    /// assert_eq!(c.max_in_flight, 64);
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
    /// Sets the retries per event.
    ///
    /// ```
    /// let c = marketprism_storage::nats::publisher::PublisherConfig::default().max_retries(0);
    /// assert_eq!(c.max_retries, 0);
    /// ```
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    /// Sets the most events of one subject per message (at least 1).
    ///
    /// ```
    /// let c = marketprism_storage::nats::publisher::PublisherConfig::default()
    ///     .max_events_per_message(0);
    /// assert_eq!(c.max_events_per_message, 1);
    /// ```
    pub fn max_events_per_message(mut self, n: usize) -> Self {
        self.max_events_per_message = n.max(1);
        self
    }
}

/// The outcome of [`JetStreamPublisher::publish_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PublishReport {
    /// Events acknowledged by the stream (stored, or recognized as duplicates).
    pub acked: usize,
    /// Messages those events travelled in.
    pub messages: usize,
    /// Of the events, how many the server reported as duplicates of an earlier publish.
    pub duplicates: usize,
    /// Publish attempts retried.
    pub retries: usize,
}

/// Publishes events to JetStream. Cheap to share (`Arc`); implements [`Sink`], so a collector
/// can use it like any other sink: `write_batch` returns once every event is acked.
pub struct JetStreamPublisher {
    client: async_nats::Client,
    js: jetstream::Context,
    nats: NatsConfig,
    config: PublisherConfig,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Held while a batch makes its first attempts, so concurrent batches (a collector
    /// writing several at once) reach the server in order: a subject's events stay in order
    /// on the stream and for live subscribers. Only a retry can overtake.
    send_order: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JetStreamPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamPublisher")
            .field("nats", &self.nats)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JetStreamPublisher {
    /// Connects and makes sure the streams exist.
    pub async fn connect(nats: NatsConfig, config: PublisherConfig) -> Result<Self> {
        let client = connect(&nats).await?;
        let js = jetstream::new(client.clone());
        ensure_streams(&js, &nats).await?;
        Ok(JetStreamPublisher {
            client,
            js,
            nats,
            config,
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            send_order: tokio::sync::Mutex::new(()),
        })
    }

    /// The NATS configuration.
    pub fn nats_config(&self) -> &NatsConfig {
        &self.nats
    }

    /// The NATS client (shared connection).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Publishes `events` (grouped by subject, see the module doc) and waits for every ack.
    /// At most `max_in_flight` acks are awaited at once; a failed publish is retried (harmless: the `Nats-Msg-Id` dedups it) up to
    /// `max_retries` times, then the whole call fails with a retryable error and the caller
    /// must publish the batch again (or stop reading from the exchange).
    pub async fn publish_batch(&self, events: &[MarketEvent]) -> Result<PublishReport> {
        let messages = messages::prepare(&self.nats, &self.config, events)?;
        let result = self.publish_prepared(&messages).await;
        match &result {
            Ok(r) => {
                metrics::counter!(m::PUBLISHED).increment(r.acked as u64);
                metrics::counter!(m::PUBLISH_DUPLICATES).increment(r.duplicates as u64);
                self.failures.store(0, Ordering::Relaxed);
            }
            Err(e) => {
                metrics::counter!(m::PUBLISH_FAILED).increment(1);
                self.failures.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_error.lock() {
                    *last = Some(e.to_string());
                }
            }
        }
        result
    }

    async fn publish_prepared(&self, messages: &Messages) -> Result<PublishReport> {
        let prepared = &messages.stored;
        let mut report = PublishReport::default();
        let mut queue: VecDeque<(usize, u32)> = (0..prepared.len()).map(|i| (i, 0)).collect();
        let mut in_flight = FuturesUnordered::new();
        let mut first_attempts_left = prepared.len();
        let mut order = Some(self.send_order.lock().await);
        self.publish_live(&messages.live).await;
        loop {
            while in_flight.len() < self.config.max_in_flight {
                let Some((i, attempt)) = queue.pop_front() else {
                    break;
                };
                let Some(p) = prepared.get(i) else { break };
                let mut publish = Publish::build()
                    .payload(p.payload.clone())
                    .message_id(p.id.as_str());
                if p.events > 1 {
                    publish = publish.header(EVENTS_HEADER, p.events.to_string().as_str());
                }
                let sent = self.js.send_publish(p.subject.clone(), publish).await;
                if attempt == 0 {
                    first_attempts_left -= 1;
                    if first_attempts_left == 0 {
                        // All of this batch went out: the next batch may start sending.
                        order.take();
                    }
                }
                match sent {
                    Ok(ack) => in_flight.push(async move { (i, attempt, ack.await) }),
                    Err(e) => {
                        self.retry_or_fail(&mut queue, &mut report, i, attempt, e)
                            .await?;
                    }
                }
            }
            match in_flight.next().await {
                None => break,
                Some((i, _, Ok(ack))) => {
                    let events = prepared.get(i).map_or(1, |p| p.events);
                    report.acked += events;
                    report.messages += 1;
                    if ack.duplicate {
                        report.duplicates += events;
                    }
                }
                Some((i, attempt, Err(e))) => {
                    self.retry_or_fail(&mut queue, &mut report, i, attempt, e)
                        .await?;
                }
            }
        }
        Ok(report)
    }

    /// Sends the live copies of the bulk layout over core NATS, in order, before their stored
    /// batch. At most once: a live copy is not acked, and a failure here (the connection is
    /// gone) shows in the stored publish that follows.
    async fn publish_live(&self, live: &[Prepared]) {
        for p in live {
            let sent = if p.events > 1 {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(EVENTS_HEADER, p.events.to_string().as_str());
                self.client
                    .publish_with_headers(p.subject.clone(), headers, p.payload.clone())
                    .await
            } else {
                self.client
                    .publish(p.subject.clone(), p.payload.clone())
                    .await
            };
            if let Err(error) = sent {
                tracing::debug!(%error, "live copy not sent");
                return;
            }
        }
    }

    async fn retry_or_fail(
        &self,
        queue: &mut VecDeque<(usize, u32)>,
        report: &mut PublishReport,
        i: usize,
        attempt: u32,
        error: jetstream::context::PublishError,
    ) -> Result<()> {
        if attempt >= self.config.max_retries {
            tracing::warn!(%error, attempt, "JetStream publish failed; giving up on the batch");
            return Err(nats_err("publish", true, error));
        }
        tracing::debug!(%error, attempt, "JetStream publish failed; retrying");
        metrics::counter!(m::PUBLISH_RETRIES).increment(1);
        report.retries += 1;
        Backoff::new(self.config.retry_backoff, Duration::from_secs(2))
            .sleep(attempt)
            .await;
        queue.push_back((i, attempt + 1));
        Ok(())
    }

    /// Publishes one raw payload (tests and tools; e.g. to inject a malformed message).
    pub async fn publish_raw(&self, subject: &str, payload: Bytes, id: &str) -> Result<bool> {
        let publish = Publish::build().payload(payload).message_id(id);
        let ack = self
            .js
            .send_publish(self.nats.subject_for(subject), publish)
            .await
            .map_err(|e| nats_err("publish", true, e))?
            .await
            .map_err(|e| nats_err("publish ack", true, e))?;
        Ok(ack.duplicate)
    }
}

#[async_trait]
impl Sink for JetStreamPublisher {
    fn name(&self) -> &str {
        "jetstream"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), marketprism_core::Error> {
        self.publish_batch(batch)
            .await
            .map(|_| ())
            .map_err(|e: StorageError| e.into_sink_error("jetstream"))
    }
    async fn flush(&self) -> Result<(), marketprism_core::Error> {
        self.client
            .flush()
            .await
            .map_err(|e| nats_err("flush", true, e).into_sink_error("jetstream"))
    }
    async fn health(&self) -> Health {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Health::Unhealthy {
                reason: "not connected to NATS".into(),
            };
        }
        match self.failures.load(Ordering::Relaxed) {
            0 => Health::Healthy,
            n => Health::Degraded {
                reason: format!(
                    "{n} failed publish batch(es) in a row; last: {}",
                    self.last_error
                        .lock()
                        .ok()
                        .and_then(|l| l.clone())
                        .unwrap_or_default()
                ),
            },
        }
    }
}
