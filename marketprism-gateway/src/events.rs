//! Where live events come from: the object-safe [`EventSource`], implemented for the
//! in-process [`Bus`] ([`BusEventSource`]) and for NATS core subscriptions
//! ([`NatsEventSource`], feature `nats`).
//!
//! Items are the event's JSON as bytes — exactly what a WebSocket client receives, one event
//! per item. From NATS the payload is forwarded without copying: a one-event message as it
//! is, a several-event message (JSON lines with the count header, see
//! [`marketprism_core::framing`]) as one item per line; from the bus each event is serialized
//! once per subscriber.

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use marketprism_core::{bus::Bus, subject::SubjectPattern};

use crate::GatewayError;

/// A stream of events as JSON bytes. It ends when the source closes.
pub type EventStream = BoxStream<'static, Bytes>;

/// A source of live events, subscribed to by subject pattern (NATS semantics: `*` one token,
/// `>` the rest). Object-safe: used as `Arc<dyn EventSource>`.
#[async_trait]
pub trait EventSource: Send + Sync {
    /// Subscribes to `pattern`. When this returns, the subscription is active: events
    /// published afterwards are delivered. `capacity` bounds the source-side buffer where the
    /// source has one.
    async fn subscribe(
        &self,
        pattern: &SubjectPattern,
        capacity: usize,
    ) -> Result<EventStream, GatewayError>;

    /// A short name for status pages (`bus`, `nats`).
    fn name(&self) -> &'static str;
}

/// Events from the in-process [`Bus`].
///
/// The bus applies backpressure to its publisher when a subscription's buffer is full; the
/// gateway drains each subscription at once into the client's own bounded buffer, so a slow
/// WebSocket client never holds the bus back (it is disconnected instead).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::StreamExt;
/// use marketprism_core::{bus::Bus, model::*, subject::SubjectPattern};
/// use marketprism_gateway::{BusEventSource, EventSource};
/// let bus = Bus::new();
/// let source = BusEventSource::new(bus.clone());
/// let mut events = source.subscribe(&SubjectPattern::new("status.okx.>")?, 16).await?;
/// bus.publish(MarketEvent::Status(Status::new(ExchangeId::OKX, MarketType::Spot, None, 7,
///     StatusKind::Connected { connection: "c".into() }))).await?;
/// let json = events.next().await.expect("one event");
/// assert!(std::str::from_utf8(&json)?.contains("\"type\":\"status\""));
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct BusEventSource {
    bus: Bus,
}

impl BusEventSource {
    /// Wraps a bus (clones share subscribers).
    pub fn new(bus: Bus) -> Self {
        BusEventSource { bus }
    }
}

#[async_trait]
impl EventSource for BusEventSource {
    async fn subscribe(
        &self,
        pattern: &SubjectPattern,
        capacity: usize,
    ) -> Result<EventStream, GatewayError> {
        let subscription = self
            .bus
            .subscribe(pattern.as_str(), capacity)
            .map_err(|e| GatewayError::EventSource {
                message: format!("bus subscription to `{pattern}` failed"),
                source: Some(Box::new(e)),
            })?;
        let stream = futures::stream::unfold(subscription, |mut sub| async move {
            loop {
                let event = sub.recv().await?;
                match serde_json::to_vec(&*event) {
                    Ok(json) => return Some((Bytes::from(json), sub)),
                    Err(e) => tracing::warn!(error = %e, "event not serializable; skipped"),
                }
            }
        });
        Ok(stream.boxed())
    }

    fn name(&self) -> &'static str {
        "bus"
    }
}

/// Events from NATS core subscriptions (works with JetStream streams too: a stream's
/// messages are published on plain subjects first).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let source = marketprism_gateway::NatsEventSource::new(client);
/// # let _ = source;
/// # Ok(()) }
/// ```
#[cfg(feature = "nats")]
#[derive(Clone)]
pub struct NatsEventSource {
    client: async_nats::Client,
    subject_prefix: Option<String>,
}

#[cfg(feature = "nats")]
impl NatsEventSource {
    /// Uses a connected client. Its `subscription_capacity` bounds each subscription's
    /// buffer (NATS drops messages for a subscriber that falls that far behind, without
    /// slowing other subscribers; the gateway drains it at once anyway).
    pub fn new(client: async_nats::Client) -> Self {
        NatsEventSource {
            client,
            subject_prefix: None,
        }
    }

    /// Reads subjects under `prefix` (`<prefix>.trade.binance...`), as published by services
    /// configured with the same `nats.subject_prefix`; clients still name unprefixed subjects.
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = Some(prefix.into());
        self
    }
}

#[cfg(feature = "nats")]
#[async_trait]
impl EventSource for NatsEventSource {
    async fn subscribe(
        &self,
        pattern: &SubjectPattern,
        _capacity: usize,
    ) -> Result<EventStream, GatewayError> {
        let failed =
            |what: &str, e: Box<dyn std::error::Error + Send + Sync>| GatewayError::EventSource {
                message: format!("NATS {what} for `{pattern}` failed"),
                source: Some(e),
            };
        let subject = match &self.subject_prefix {
            Some(prefix) => format!("{prefix}.{pattern}"),
            None => pattern.as_str().to_owned(),
        };
        let subscriber = self
            .client
            .subscribe(subject)
            .await
            .map_err(|e| failed("subscribe", Box::new(e)))?;
        // The server has registered the subscription once a PING after it is answered.
        self.client
            .flush()
            .await
            .map_err(|e| failed("flush", Box::new(e)))?;
        Ok(subscriber
            .flat_map(|message| futures::stream::iter(split_events(message)))
            .boxed())
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}

/// The events of a NATS message, each a zero-copy slice of its payload (no allocation).
#[cfg(feature = "nats")]
struct SplitEvents {
    payload: Bytes,
    at: usize,
    lines: bool,
}

#[cfg(feature = "nats")]
fn split_events(message: async_nats::Message) -> SplitEvents {
    let lines = message
        .headers
        .as_ref()
        .is_some_and(|h| h.get(marketprism_core::framing::EVENTS_HEADER).is_some());
    SplitEvents {
        payload: message.payload,
        at: 0,
        lines,
    }
}

#[cfg(feature = "nats")]
impl Iterator for SplitEvents {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let rest = self.payload.get(self.at..)?;
        let header = self.lines.then_some("");
        let range = marketprism_core::framing::event_ranges(rest, header).next()?;
        let (start, end) = (self.at + range.start, self.at + range.end);
        self.at = end + 1;
        Some(self.payload.slice(start..end))
    }
}
