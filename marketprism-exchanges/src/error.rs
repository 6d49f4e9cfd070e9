//! The crate's error type.

use marketprism_core::model::ExchangeId;

/// Errors of `marketprism-exchanges`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// A frame or REST body is not valid JSON of the expected shape.
    #[error("{exchange}: malformed {what}: {source}")]
    Malformed {
        /// Exchange.
        exchange: ExchangeId,
        /// What was being parsed (e.g. `trade`, `depthUpdate`, `frame`).
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A numeric field is not a valid decimal.
    #[error("{exchange}: invalid decimal `{value}` in field `{field}`")]
    InvalidDecimal {
        /// Exchange.
        exchange: ExchangeId,
        /// Field name.
        field: &'static str,
        /// The text received.
        value: String,
        /// The parse error.
        #[source]
        source: rust_decimal::Error,
    },
    /// A well-formed message whose content is not acceptable (missing field, bad value).
    #[error("{exchange}: invalid {what}: {detail}")]
    Invalid {
        /// Exchange.
        exchange: ExchangeId,
        /// What was being parsed.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A message names an instrument that is not in the loaded instrument table.
    #[error("{exchange}: unknown instrument `{native_symbol}`")]
    UnknownInstrument {
        /// Exchange.
        exchange: ExchangeId,
        /// The exchange's symbol.
        native_symbol: String,
    },
    /// A message of a type this crate does not handle.
    #[error("{exchange}: unsupported message: {detail}")]
    Unsupported {
        /// Exchange.
        exchange: ExchangeId,
        /// Short description (channel or event name).
        detail: String,
    },
    /// An order-book checksum did not match; the book was resynced.
    #[error(
        "{exchange}: checksum mismatch on {native_symbol}: exchange {expected}, computed {computed}"
    )]
    Checksum {
        /// Exchange.
        exchange: ExchangeId,
        /// The exchange's symbol.
        native_symbol: String,
        /// Checksum the exchange sent.
        expected: i32,
        /// Checksum of our book.
        computed: i32,
    },
    /// A WebSocket connection failed or broke.
    #[error("WebSocket {url}: {source}")]
    WebSocket {
        /// The URL.
        url: String,
        /// The transport error.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// An HTTP request failed (transport error or non-success status).
    #[error("HTTP GET {url} failed (status {status:?})")]
    Http {
        /// The URL.
        url: String,
        /// HTTP status when one was received.
        status: Option<u16>,
        /// The transport error or the error body.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The exchange answered 429 (too many requests) or 418 (IP banned).
    #[error("{venue}: rate limited (HTTP {status}), retry after {retry_after:?}")]
    RateLimited {
        /// Venue.
        venue: String,
        /// 429 or 418.
        status: u16,
        /// How long the exchange asked us to wait.
        retry_after: std::time::Duration,
    },
    /// No data (not even a heartbeat) for longer than the stall timeout.
    #[error("{venue}: connection stalled: no frame for {silent_for:?}")]
    Stalled {
        /// Venue.
        venue: String,
        /// Silence observed.
        silent_for: std::time::Duration,
    },
    /// The connection was closed by the peer.
    #[error("{venue}: connection closed by the exchange: {reason}")]
    Closed {
        /// Venue.
        venue: String,
        /// Close frame reason or description.
        reason: String,
    },
    /// An error of an [`Exchange`](crate::Exchange) implemented outside this crate that fits
    /// no other variant.
    #[error("{venue}: {source}")]
    Generic {
        /// The venue's [`name`](crate::Exchange::name).
        venue: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An error from the core crate.
    #[error(transparent)]
    Core(#[from] marketprism_core::Error),
}

impl ExchangeError {
    /// Whether retrying the operation (reconnecting, refetching) may succeed. Parse errors are
    /// not retryable: the same bytes fail the same way.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExchangeError::Core(e) => e.is_retryable(),
            ExchangeError::WebSocket { .. }
            | ExchangeError::RateLimited { .. }
            | ExchangeError::Stalled { .. }
            | ExchangeError::Closed { .. } => true,
            // 4xx other than 429/418 will fail again; 5xx and transport errors may not.
            ExchangeError::Http { status, .. } => status.is_none_or(|s| s >= 500),
            _ => false,
        }
    }

    /// Short, stable label for metrics (`marketprism_exchange_errors_total{kind=..}`).
    pub fn kind(&self) -> &'static str {
        match self {
            ExchangeError::Malformed { .. } => "malformed",
            ExchangeError::InvalidDecimal { .. } => "invalid_decimal",
            ExchangeError::Invalid { .. } => "invalid",
            ExchangeError::UnknownInstrument { .. } => "unknown_instrument",
            ExchangeError::Unsupported { .. } => "unsupported",
            ExchangeError::Checksum { .. } => "checksum",
            ExchangeError::WebSocket { .. } => "websocket",
            ExchangeError::Http { .. } => "http",
            ExchangeError::RateLimited { .. } => "rate_limited",
            ExchangeError::Stalled { .. } => "stalled",
            ExchangeError::Closed { .. } => "closed",
            ExchangeError::Generic { .. } => "generic",
            ExchangeError::Core(_) => "core",
        }
    }
}
