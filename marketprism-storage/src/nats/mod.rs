//! NATS JetStream: the stream, the [`publisher`] and the durable pull [`consumer`].
//!
//! The stream (default `MARKETPRISM`) captures every `{type}.>` subject of
//! [`marketprism_core::subject`] (optionally under a prefix, so several deployments or tests
//! share one server), with a duplicate window (default 2 minutes) inside which a repeated
//! `Nats-Msg-Id` is dropped by the server. Malformed messages go to a separate dead-letter
//! stream (default `MARKETPRISM_DEADLETTER`, subjects `deadletter.>`), under
//! `deadletter.<original subject>`.
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
        }
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
        TYPE_TOKENS
            .iter()
            .map(|t| self.subject_for(&format!("{t}.>")))
            .collect()
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

/// Attempts at creating the streams while JetStream is not answering yet.
const ENSURE_ATTEMPTS: u32 = 6;

/// Creates the event stream and the dead-letter stream if they do not exist (idempotent).
///
/// A cluster whose nodes have just started answers stream requests with a timeout until it has
/// elected its JetStream meta leader (a few seconds); such timeouts, and "JetStream not
/// available", are retried (six attempts, 0.25 s to 4 s apart) instead of failing the service
/// at start. Any other error fails at once.
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
            Ok(()) => return Ok(()),
        }
    }
}

async fn try_ensure_streams(
    js: &jetstream::Context,
    config: &NatsConfig,
) -> std::result::Result<(), (&'static str, jetstream::context::CreateStreamError)> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: config.stream_subjects(),
        duplicate_window: config.duplicate_window,
        storage: stream::StorageType::File,
        num_replicas: num_replicas(config),
        ..Default::default()
    })
    .await
    .map_err(|e| ("create stream", e))?;
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
    Ok(())
}
