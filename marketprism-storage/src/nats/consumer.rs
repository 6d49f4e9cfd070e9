//! The durable pull consumer: fetches batches by size and time, decodes them, dead-letters
//! what cannot be decoded, and acknowledges only when told to (after the sinks wrote).
//!
//! A message carries one event or several of one subject (JSON lines with the
//! [`EVENTS_HEADER`]; see [`framing`](marketprism_core::framing)); both are read. An event
//! that cannot be decoded is dead-lettered on its own, its neighbours in the message are
//! written, and the message is acknowledged once all of its events are written or
//! dead-lettered.

use std::{ops::Range, time::Duration};

use async_nats::{
    HeaderMap,
    jetstream::{
        self, AckKind, Message,
        consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
        message::PublishMessage as Publish,
    },
};
use futures::StreamExt;
use marketprism_core::{
    framing::{EVENTS_HEADER, event_ranges},
    model::MarketEvent,
};

use super::{NatsConfig, connect, ensure_streams, nats_err};
use crate::{Result, StorageError, metrics_names as m};

/// Consumer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Durable consumer name (shared by every storage-service instance; default `storage`).
    pub durable_name: String,
    /// Most messages per batch (default 10,000). A batch is one insert per table: larger
    /// batches mean fewer, larger inserts (fewer ClickHouse parts to merge) and fewer
    /// per-batch round trips.
    pub batch_size: usize,
    /// Longest wait for a batch to fill (default 500 ms).
    pub batch_timeout: Duration,
    /// Most payload bytes per batch (default 8 MiB, at least 2 MiB so that any one message
    /// fits): bounds memory when messages carry several events each. Asked of the server
    /// only on a single-replica stream: on a replicated one, NATS (2.15) may send the status
    /// that ends a byte-bounded pull before the messages it delivered, which are held until
    /// a quorum has them, and a client that stops at the status loses them to redelivery —
    /// every batch, while a backlog lasts. There a batch is bounded by `batch_size` messages
    /// (each at most the publisher's `max_message_bytes`).
    pub batch_max_bytes: usize,
    /// How long the server waits for an ack before redelivering (default 30 s). While sinks
    /// are retrying, the pipeline extends it with "in progress" acks.
    pub ack_wait: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            durable_name: "storage".into(),
            batch_size: 10_000,
            batch_timeout: Duration::from_millis(500),
            batch_max_bytes: 8 << 20,
            ack_wait: Duration::from_secs(30),
        }
    }
}

impl ConsumerConfig {
    /// Sets the durable name.
    ///
    /// ```
    /// use marketprism_storage::nats::consumer::ConsumerConfig;
    /// let c = ConsumerConfig::default().durable_name("s2").batch_size(500);
    /// assert_eq!((c.durable_name.as_str(), c.batch_size), ("s2", 500));
    /// ```
    pub fn durable_name(mut self, name: impl Into<String>) -> Self {
        self.durable_name = name.into();
        self
    }
    /// Sets the batch size.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
    /// Sets the most payload bytes per batch (at least 2 MiB).
    ///
    /// ```
    /// use marketprism_storage::nats::consumer::ConsumerConfig;
    /// assert_eq!(ConsumerConfig::default().batch_max_bytes(1).batch_max_bytes, 2 << 20);
    /// ```
    pub fn batch_max_bytes(mut self, n: usize) -> Self {
        self.batch_max_bytes = n.max(2 << 20);
        self
    }
    /// Sets the batch timeout.
    pub fn batch_timeout(mut self, timeout: Duration) -> Self {
        self.batch_timeout = timeout;
        self
    }
    /// Sets the ack wait.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }
}

/// Where an event (or an undecodable one) sits: its message in [`Batch::messages`] and its
/// bytes in the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index in [`Batch::messages`].
    pub message: usize,
    /// Its bytes in the message's payload (the whole payload for a one-event message).
    pub bytes: Range<usize>,
}

/// An event that could not be decoded into a [`MarketEvent`].
#[derive(Debug)]
pub struct Malformed {
    /// Where it is.
    pub origin: Origin,
    /// Why it was refused.
    pub reason: String,
}

/// One fetched batch. `events[i]` came from `origins[i]`.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Batch {
    /// Decoded events.
    pub events: Vec<MarketEvent>,
    /// Where each event came from.
    pub origins: Vec<Origin>,
    /// Every fetched message, to acknowledge once its events are written or dead-lettered.
    pub messages: Vec<Message>,
    /// Events that could not be decoded.
    pub malformed: Vec<Malformed>,
}

impl Batch {
    /// Fetched messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }
    /// True when nothing was fetched.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
    /// Decodes `message` (one event or several, see the module doc) into the batch.
    pub fn push(&mut self, message: Message) {
        let index = self.messages.len();
        let header = message
            .headers
            .as_ref()
            .and_then(|h| h.get(EVENTS_HEADER))
            .map(|v| v.as_str());
        for bytes in event_ranges(&message.payload, header) {
            let origin = Origin {
                message: index,
                bytes,
            };
            let json = message
                .payload
                .get(origin.bytes.clone())
                .unwrap_or_default();
            match serde_json::from_slice::<MarketEvent>(json) {
                Ok(event) => {
                    self.events.push(event);
                    self.origins.push(origin);
                }
                Err(e) => self.malformed.push(Malformed {
                    origin,
                    reason: format!("undecodable event: {e}"),
                }),
            }
        }
        self.messages.push(message);
    }
    /// Events (decoded or not).
    pub fn events_len(&self) -> usize {
        self.events.len() + self.malformed.len()
    }
}

/// The durable pull consumer on the event stream.
pub struct JetStreamConsumer {
    client: async_nats::Client,
    js: jetstream::Context,
    nats: NatsConfig,
    config: ConsumerConfig,
    consumer: PullConsumer,
    /// The stream has more than one replica (see [`ConsumerConfig::batch_max_bytes`]).
    replicated: bool,
}

impl std::fmt::Debug for JetStreamConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamConsumer")
            .field("nats", &self.nats)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JetStreamConsumer {
    /// Connects, makes sure the streams exist and creates (or binds to) the durable consumer.
    pub async fn connect(nats: NatsConfig, config: ConsumerConfig) -> Result<Self> {
        let client = connect(&nats).await?;
        let js = jetstream::new(client.clone());
        ensure_streams(&js, &nats).await?;
        let stream = js
            .get_stream(&nats.stream)
            .await
            .map_err(|e| nats_err("get stream", true, e))?;
        let replicated = stream.cached_info().config.num_replicas > 1;
        let max_ack_pending =
            i64::try_from(config.batch_size.saturating_mul(4)).unwrap_or(i64::MAX);
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &config.durable_name,
                pull::Config {
                    durable_name: Some(config.durable_name.clone()),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy: DeliverPolicy::All,
                    ack_wait: config.ack_wait,
                    max_ack_pending: max_ack_pending.max(1000),
                    max_batch: 0,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| nats_err("create consumer", true, e))?;
        Ok(JetStreamConsumer {
            client,
            js,
            nats,
            config,
            consumer,
            replicated,
        })
    }

    /// The NATS configuration.
    pub fn nats_config(&self) -> &NatsConfig {
        &self.nats
    }

    /// The consumer configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Waits up to `batch_timeout` for up to `batch_size` messages and decodes them.
    pub async fn next_batch(&self) -> Result<Batch> {
        let mut request = self
            .consumer
            .batch()
            .max_messages(self.config.batch_size)
            .expires(self.config.batch_timeout);
        if !self.replicated {
            request = request.max_bytes(self.config.batch_max_bytes.max(2 << 20));
        }
        let mut messages = request
            .messages()
            .await
            .map_err(|e| nats_err("fetch", true, e))?;
        let mut batch = Batch::default();
        while let Some(message) = messages.next().await {
            match message {
                Ok(message) => batch.push(message),
                // The pull request ended with a status: "409 Batch Completed" when
                // `batch_max_bytes` is reached (the normal end of a full batch), or e.g. a
                // leader change. What arrived before it is delivered and is processed (and
                // acked) as usual; only an empty batch is an error.
                Err(e) if !batch.is_empty() => {
                    if !e.to_string().contains("Batch Completed") {
                        tracing::debug!(error = %e, "pull request ended early; processing what arrived");
                    }
                    break;
                }
                Err(e) => return Err(StorageError::backend("nats", "fetch", true, e)),
            }
        }
        metrics::counter!(m::CONSUMED).increment(batch.events_len() as u64);
        Ok(batch)
    }

    /// Publishes the event at `bytes` of `message`'s payload (one JSON event) to
    /// `deadletter.<subject>` with the reason and origin in headers, and waits for the
    /// stream's ack. The original message is acknowledged with the rest of its batch
    /// ([`ack`](Self::ack)), once all of its events are written or dead-lettered.
    pub async fn dead_letter(
        &self,
        message: &Message,
        bytes: Range<usize>,
        reason: &str,
    ) -> Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert("MarketPrism-Error", one_line(reason).as_str());
        headers.insert("MarketPrism-Subject", message.subject.as_str());
        let whole = bytes.start == 0 && bytes.end == message.payload.len();
        let payload = if whole {
            message.payload.clone()
        } else {
            message
                .payload
                .get(bytes.clone())
                .map(|b| message.payload.slice_ref(b))
                .unwrap_or_default()
        };
        let mut publish = Publish::build().payload(payload).headers(headers);
        if let Ok(info) = message.info() {
            // Redelivery of the same message dead-letters each of its events once.
            let id = if whole {
                format!("dl:{}:{}", info.stream, info.stream_sequence)
            } else {
                format!(
                    "dl:{}:{}:{}",
                    info.stream, info.stream_sequence, bytes.start
                )
            };
            publish = publish.message_id(id);
        }
        self.js
            .send_publish(self.nats.dead_letter_subject(&message.subject), publish)
            .await
            .map_err(|e| nats_err("dead-letter publish", true, e))?
            .await
            .map_err(|e| nats_err("dead-letter ack", true, e))?;
        metrics::counter!(m::DEAD_LETTERED, "reason" => reason_label(reason)).increment(1);
        tracing::warn!(subject = %message.subject, reason, "event dead-lettered");
        Ok(())
    }

    /// Acknowledges `messages` and flushes the connection so the acks leave the process.
    pub async fn ack(&self, messages: &[Message]) -> Result<()> {
        for message in messages {
            message
                .ack()
                .await
                .map_err(|e| nats_err("ack", true, std::io::Error::other(e.to_string())))?;
        }
        self.client
            .flush()
            .await
            .map_err(|e| nats_err("flush", true, e))?;
        metrics::counter!(m::ACKED).increment(messages.len() as u64);
        Ok(())
    }

    /// Tells the server the messages are still being worked on (resets their ack wait).
    pub async fn in_progress(&self, messages: &[Message]) {
        for message in messages {
            let _ = message.ack_with(AckKind::Progress).await;
        }
        let _ = self.client.flush().await;
    }

    /// The consumer's state on the server (pending, ack-pending, ack floor).
    pub async fn info(&self) -> Result<jetstream::consumer::Info> {
        let mut consumer = self.consumer.clone();
        consumer
            .info()
            .await
            .cloned()
            .map_err(|e| nats_err("consumer info", true, e))
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

fn reason_label(reason: &str) -> &'static str {
    if reason.starts_with("undecodable") {
        "undecodable"
    } else {
        "unstorable"
    }
}
