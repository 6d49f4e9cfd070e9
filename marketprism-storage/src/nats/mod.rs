//! NATS JetStream: the stream, the [`publisher`] and the durable pull [`consumer`].
//!
//! The stream (default `MARKETPRISM`) captures every `{type}.>` subject of
//! [`marketprism_core::subject`] (optionally under a prefix, so several deployments or tests
//! share one server), with a duplicate window (default 2 minutes) inside which a repeated
//! `Nats-Msg-Id` is dropped by the server. Malformed messages go to a separate dead-letter
//! stream (default `MARKETPRISM_DEADLETTER`, subjects `deadletter.>`), under
//! `deadletter.<original subject>`.
//!
//! With [`StreamLayout::Bulk`] the stream holds one message per batch and venue on
//! `bulk.{exchange}.{market}` instead, and the per-symbol subjects carry live copies over
//! core NATS only (see [`StreamLayout`]).
//!
//! `url` may name several servers of one cluster, comma-separated
//! (`nats://a:4222,nats://b:4222`): the client connects to any that answers and moves to
//! another when its server goes away. With `replicas = 3` each stream is kept by three
//! servers (a JetStream cluster): losing one loses nothing (see docs/scaling.md).

pub mod consumer;
pub mod publisher;

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::{Result, StorageError};

/// Every `{type}` token of the subject scheme.
pub const TYPE_TOKENS: [&str; 13] = [
    "trade",
    "book",
    "bbo",
    "ticker",
    "funding",
    "mark_price",
    "open_interest",
    "liquidation",
    "long_short_ratio",
    "option_summary",
    "volatility_index",
    "kline",
    "status",
];

/// What the stream stores, and on which subjects.
///
/// Every JetStream message costs the server about the same whatever it carries (store,
/// publish ack, delivery, consumer ack), and messages are per subject: at 33 k events/s
/// over 60 subjects a few milliseconds of batching puts one or two events in each. The bulk
/// layout stores the events of a batch together instead, per venue, so the server's work
/// follows batches rather than events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StreamLayout {
    /// The stream captures every per-symbol subject of the scheme (`{type}.>`): each
    /// message holds events of one subject, and JetStream consumers can filter by symbol.
    #[default]
    PerSymbol,
    /// The stream captures `bulk.>` only: each message holds up to
    /// [`max_events_per_message`](publisher::PublisherConfig::max_events_per_message)
    /// events of one venue (`bulk.{exchange}.{market}`), in batch order, any channels and
    /// symbols. The per-symbol subjects still carry every event, over core NATS (not
    /// stored, no acks): live subscribers such as the gateway's WebSocket are unchanged,
    /// but a JetStream consumer filtering by symbol finds nothing; read `bulk.>` and filter
    /// by the events' fields instead. Not for overlapping collectors (`[assignment]`), whose
    /// duplicates JetStream can drop only one event per message.
    Bulk,
    /// The stream of [`Bulk`](Self::Bulk), without the live per-symbol copies: for
    /// deployments where only JetStream consumers (storage) read the events. Core NATS
    /// subscribers of per-symbol subjects, such as the gateway's WebSocket, get nothing;
    /// subscribe to `bulk.>` instead. Storage and other consumers treat it as `Bulk`.
    BulkOnly,
}

impl StreamLayout {
    /// The configuration spelling (`per_symbol`, `bulk`).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamLayout::PerSymbol => "per_symbol",
            StreamLayout::Bulk => "bulk",
            StreamLayout::BulkOnly => "bulk_only",
        }
    }
    /// Whether the stream holds `bulk.>` messages (the two bulk layouts).
    pub fn is_bulk(self) -> bool {
        matches!(self, StreamLayout::Bulk | StreamLayout::BulkOnly)
    }
    /// Whether the per-symbol subjects carry every event (live, or stored as well).
    pub fn has_symbol_subjects(self) -> bool {
        !matches!(self, StreamLayout::BulkOnly)
    }
}

/// First token of the bulk layout's subjects.
pub const BULK_TOKEN: &str = "bulk";

/// The venue part, `{exchange}.{market}`, of a scheme subject
/// `{type}.{exchange}.{market}.{symbol}`: what bulk messages are grouped and named by.
pub(crate) fn venue_of(subject: &str) -> &str {
    let rest = subject.split_once('.').map_or("", |(_, rest)| rest);
    match rest.match_indices('.').nth(1) {
        Some((end, _)) => &rest[..end],
        None => rest,
    }
}

/// Where the stream lives and how it is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URL, e.g. `nats://127.0.0.1:4222`, or several of one cluster separated by
    /// commas (`nats://a:4222,nats://b:4222`).
    pub url: String,
    /// Stream name.
    pub stream: String,
    /// Prefix of every subject (`{prefix}.trade.binance...`), none by default.
    pub subject_prefix: Option<String>,
    /// Duplicate window of the stream.
    pub duplicate_window: Duration,
    /// Dead-letter stream name.
    pub dead_letter_stream: String,
    /// Dead-letter subject prefix (`{prefix}.{original subject}`).
    pub dead_letter_prefix: String,
    /// Copies of each stream kept by a JetStream cluster (1 = a single server; 3 survives the
    /// loss of one server). Applies when the stream is created.
    pub replicas: usize,
    /// What the stream stores (default [`StreamLayout::PerSymbol`]). Publishers and
    /// consumers of one stream must agree; [`ensure_streams`] refuses a stream whose
    /// subjects belong to the other layout.
    pub layout: StreamLayout,
}

impl NatsConfig {
    /// Defaults: stream `MARKETPRISM`, no prefix, 2 min duplicate window, dead letters in
    /// `MARKETPRISM_DEADLETTER` under `deadletter.`.
    ///
    /// ```
    /// use marketprism_storage::nats::NatsConfig;
    /// let c = NatsConfig::new("nats://127.0.0.1:4222").stream("T1").subject_prefix("t1");
    /// assert_eq!(c.subject_for("trade.binance.spot.BTC-USDT"), "t1.trade.binance.spot.BTC-USDT");
    /// assert!(c.stream_subjects().contains(&"t1.book.>".to_string()));
    /// assert_eq!(c.dead_letter_prefix, "t1.deadletter");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            stream: "MARKETPRISM".into(),
            subject_prefix: None,
            duplicate_window: Duration::from_secs(120),
            dead_letter_stream: "MARKETPRISM_DEADLETTER".into(),
            dead_letter_prefix: "deadletter".into(),
            replicas: 1,
            layout: StreamLayout::PerSymbol,
        }
    }
    /// Sets the stream layout.
    ///
    /// ```
    /// use marketprism_storage::nats::{NatsConfig, StreamLayout};
    /// let c = NatsConfig::new("nats://a:4222").subject_prefix("t").layout(StreamLayout::Bulk);
    /// assert_eq!(c.stream_subjects(), ["t.bulk.>"]);
    /// assert_eq!(c.bulk_subject_of("trade.binance.spot.BTC-USDT"), "t.bulk.binance.spot");
    /// // A symbol with dots of its own does not move the venue.
    /// assert_eq!(c.bulk_subject_of("ticker.deribit.option.BTC.1"), "t.bulk.deribit.option");
    /// ```
    pub fn layout(mut self, layout: StreamLayout) -> Self {
        self.layout = layout;
        self
    }
    /// Sets the stream name; the dead-letter stream becomes `{name}_DEADLETTER`.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self.dead_letter_stream = format!("{}_DEADLETTER", self.stream);
        self
    }
    /// Puts every subject under `prefix` (the dead-letter prefix too).
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.dead_letter_prefix = format!("{prefix}.deadletter");
        self.subject_prefix = Some(prefix);
        self
    }
    /// Sets the duplicate window.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }
    /// Sets the replica count of the streams (at least 1; a cluster allows at most 5).
    ///
    /// ```
    /// use marketprism_storage::nats::NatsConfig;
    /// assert_eq!(NatsConfig::new("nats://a:4222").replicas(3).replicas, 3);
    /// assert_eq!(NatsConfig::new("nats://a:4222").replicas(0).replicas, 1);
    /// ```
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }
    /// The servers named by `url`.
    ///
    /// ```
    /// use marketprism_storage::nats::NatsConfig;
    /// let c = NatsConfig::new("nats://a:4222, nats://b:4222,");
    /// assert_eq!(c.servers(), ["nats://a:4222", "nats://b:4222"]);
    /// ```
    pub fn servers(&self) -> Vec<String> {
        server_list(&self.url)
    }
    /// The subject an event with scheme subject `subject` is published on.
    pub fn subject_for(&self, subject: &str) -> String {
        match &self.subject_prefix {
            Some(p) => format!("{p}.{subject}"),
            None => subject.to_owned(),
        }
    }
    /// The stream's subjects.
    pub fn stream_subjects(&self) -> Vec<String> {
        match self.layout {
            StreamLayout::PerSymbol => TYPE_TOKENS
                .iter()
                .map(|t| self.subject_for(&format!("{t}.>")))
                .collect(),
            StreamLayout::Bulk | StreamLayout::BulkOnly => vec![self.bulk_wildcard()],
        }
    }
    /// The bulk subject (`{prefix}.bulk.{exchange}.{market}`) of an event whose scheme
    /// subject is `subject`.
    pub fn bulk_subject_of(&self, subject: &str) -> String {
        self.subject_for(&format!("{BULK_TOKEN}.{}", venue_of(subject)))
    }
    /// `{prefix}.bulk.>`: what the stream captures in the bulk layouts.
    fn bulk_wildcard(&self) -> String {
        self.subject_for(&format!("{BULK_TOKEN}.>"))
    }
    /// The dead-letter subject of a message received on `subject`.
    pub fn dead_letter_subject(&self, subject: &str) -> String {
        format!("{}.{subject}", self.dead_letter_prefix)
    }
}

pub(crate) fn nats_err(
    operation: &str,
    retryable: bool,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StorageError {
    StorageError::backend("nats", operation, retryable, e)
}

/// The server URLs in `urls`: comma-separated, blanks ignored.
///
/// ```
/// use marketprism_storage::nats::server_list;
/// assert_eq!(server_list("nats://a:1,nats://b:2"), ["nats://a:1", "nats://b:2"]);
/// assert_eq!(server_list(" nats://a:1 "), ["nats://a:1"]);
/// assert!(server_list(" , ").is_empty());
/// ```
pub fn server_list(urls: &str) -> Vec<String> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Connects as `name` to any of the servers in `urls` (comma-separated, see
/// [`server_list`]). The client reconnects to another server of the cluster, including
/// ones it learns from the server, when its current one goes away.
pub async fn connect_to(urls: &str, name: &str) -> Result<async_nats::Client> {
    let servers = server_list(urls);
    if servers.is_empty() {
        return Err(nats_err(
            "connect",
            false,
            std::io::Error::other(format!("no NATS server URL in {urls:?}")),
        ));
    }
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(servers)
        .await
        .map_err(|e| nats_err("connect", true, e))
}

/// Connects to the servers of `config`.
pub async fn connect(config: &NatsConfig) -> Result<async_nats::Client> {
    connect_to(&config.url, "marketprism-storage").await
}

/// Stream replica count for the server API (`replicas` clamped to what it accepts).
fn num_replicas(config: &NatsConfig) -> usize {
    config.replicas.clamp(1, 5)
}

/// The layout an existing stream's `subjects` belong to, when it is not `config`'s.
fn other_layout(config: &NatsConfig, subjects: &[String]) -> Option<StreamLayout> {
    let holds_bulk = subjects.contains(&config.bulk_wildcard());
    match (config.layout.is_bulk(), holds_bulk) {
        (false, true) => Some(StreamLayout::Bulk),
        (true, false) => Some(StreamLayout::PerSymbol),
        _ => None,
    }
}

/// Attempts at creating the streams while JetStream is not answering yet.
const ENSURE_ATTEMPTS: u32 = 6;

/// Creates the event stream and the dead-letter stream if they do not exist (idempotent).
///
/// A cluster whose nodes have just started answers stream requests with a timeout until it has
/// elected its JetStream meta leader (a few seconds); such timeouts, and "JetStream not
/// available", are retried (six attempts, 0.25 s to 4 s apart) instead of failing the service
/// at start. Any other error fails at once, and so does an existing stream of the other
/// [`StreamLayout`].
pub async fn ensure_streams(js: &jetstream::Context, config: &NatsConfig) -> Result<()> {
    use jetstream::context::CreateStreamErrorKind as Kind;
    let backoff =
        marketprism_core::backoff::Backoff::new(Duration::from_millis(250), Duration::from_secs(4));
    let mut attempt = 0;
    loop {
        match try_ensure_streams(js, config).await {
            Err((what, e))
                if matches!(e.kind(), Kind::TimedOut | Kind::JetStreamUnavailable)
                    && attempt + 1 < ENSURE_ATTEMPTS =>
            {
                tracing::warn!(error = %e, attempt, "JetStream not answering yet ({what}); retrying");
                backoff.sleep(attempt).await;
                attempt += 1;
            }
            Err((what, e)) => return Err(nats_err(what, true, e)),
            Ok(subjects) => {
                return match other_layout(config, &subjects) {
                    None => Ok(()),
                    Some(found) => Err(StorageError::Config {
                        message: format!(
                            "nats.stream_layout: stream `{}` holds the `{}` layout (subjects \
                             {subjects:?}), this service is configured for `{}`",
                            config.stream,
                            found.as_str(),
                            config.layout.as_str()
                        ),
                    }),
                };
            }
        }
    }
}

/// Creates both streams if missing; returns the event stream's subjects.
async fn try_ensure_streams(
    js: &jetstream::Context,
    config: &NatsConfig,
) -> std::result::Result<Vec<String>, (&'static str, jetstream::context::CreateStreamError)> {
    let events = js
        .get_or_create_stream(stream::Config {
            name: config.stream.clone(),
            subjects: config.stream_subjects(),
            duplicate_window: config.duplicate_window,
            storage: stream::StorageType::File,
            num_replicas: num_replicas(config),
            ..Default::default()
        })
        .await
        .map_err(|e| ("create stream", e))?;
    let subjects = events.cached_info().config.subjects.clone();
    js.get_or_create_stream(stream::Config {
        name: config.dead_letter_stream.clone(),
        subjects: vec![format!("{}.>", config.dead_letter_prefix)],
        duplicate_window: config.duplicate_window,
        storage: stream::StorageType::File,
        num_replicas: num_replicas(config),
        ..Default::default()
    })
    .await
    .map_err(|e| ("create dead-letter stream", e))?;
    Ok(subjects)
}
