//! The durable pull consumer: fetches batches by size and time, decodes them, dead-letters
//! what cannot be decoded, and acknowledges only when told to (after the sinks wrote).

use std::time::Duration;

use async_nats::{
    HeaderMap,
    jetstream::{
        self, AckKind, Message,
        consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
        message::PublishMessage as Publish,
    },
};
use futures::StreamExt;
use marketprism_core::model::MarketEvent;

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

/// A message that could not be decoded into a [`MarketEvent`].
#[derive(Debug)]
pub struct Malformed {
    /// The message.
    pub message: Message,
    /// Why it was refused.
    pub reason: String,
}

/// One fetched batch. `events[i]` came from `messages[i]`.
#[derive(Debug, Default)]
pub struct Batch {
    /// Decoded events.
    pub events: Vec<MarketEvent>,
    /// Their messages, to acknowledge once written.
    pub messages: Vec<Message>,
    /// Messages that could not be decoded.
    pub malformed: Vec<Malformed>,
}

impl Batch {
    /// Fetched messages, decoded or not.
    pub fn len(&self) -> usize {
        self.messages.len() + self.malformed.len()
    }
    /// True when nothing was fetched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The durable pull consumer on the event stream.
pub struct JetStreamConsumer {
    client: async_nats::Client,
    js: jetstream::Context,
    nats: NatsConfig,
    config: ConsumerConfig,
    consumer: PullConsumer,
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
        let mut messages = self
            .consumer
            .batch()
            .max_messages(self.config.batch_size)
            .expires(self.config.batch_timeout)
            .messages()
            .await
            .map_err(|e| nats_err("fetch", true, e))?;
        let mut batch = Batch::default();
        while let Some(message) = messages.next().await {
            let message = message.map_err(|e| StorageError::backend("nats", "fetch", true, e))?;
            match serde_json::from_slice::<MarketEvent>(&message.payload) {
                Ok(event) => {
                    batch.events.push(event);
                    batch.messages.push(message);
                }
                Err(e) => batch.malformed.push(Malformed {
                    message,
                    reason: format!("undecodable event: {e}"),
                }),
            }
        }
        metrics::counter!(m::CONSUMED).increment(batch.len() as u64);
        Ok(batch)
    }

    /// Publishes `message`'s payload to `deadletter.<subject>` (with the reason and origin in
    /// headers), waits for the stream's ack, then acknowledges the original.
    pub async fn dead_letter(&self, message: &Message, reason: &str) -> Result<()> {
        let mut headers = HeaderMap::new();
        headers.insert("MarketPrism-Error", one_line(reason).as_str());
        headers.insert("MarketPrism-Subject", message.subject.as_str());
        let mut publish = Publish::build()
            .payload(message.payload.clone())
            .headers(headers);
        if let Ok(info) = message.info() {
            // Redelivery of the same message dead-letters it once.
            publish = publish.message_id(format!("dl:{}:{}", info.stream, info.stream_sequence));
        }
        self.js
            .send_publish(self.nats.dead_letter_subject(&message.subject), publish)
            .await
            .map_err(|e| nats_err("dead-letter publish", true, e))?
            .await
            .map_err(|e| nats_err("dead-letter ack", true, e))?;
        message
            .ack()
            .await
            .map_err(|e| nats_err("ack", true, std::io::Error::other(e.to_string())))?;
        metrics::counter!(m::DEAD_LETTERED, "reason" => reason_label(reason)).increment(1);
        tracing::warn!(subject = %message.subject, reason, "message dead-lettered");
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
