//! The crate's error type.

/// Errors of `marketprism-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key is unknown or its value is invalid.
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong, naming the key and the file or variable that set it.
        message: String,
        /// The underlying error.
        #[source]
        source: Box<figment::Error>,
    },
    /// A name (exchange, market type, ...) is not known.
    #[error("unknown {what} `{name}`")]
    UnknownName {
        /// What kind of name.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A name (exchange, ...) breaks the naming rules.
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        /// What kind of name.
        what: &'static str,
        /// The name given (at most its first 64 characters).
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A bounded table is full; hostile input cannot grow memory without bound.
    #[error("too many {what}: the limit is {limit}")]
    LimitExceeded {
        /// What is counted.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
    /// A subject or subject pattern is malformed.
    #[error("invalid subject `{subject}`: {reason}")]
    InvalidSubject {
        /// The subject given.
        subject: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A book delta does not follow the book's sequence; it was not applied.
    #[error("sequence gap: expected a delta following {expected}, got one following {received}")]
    SequenceGap {
        /// The book's sequence.
        expected: u64,
        /// The delta's `prev_sequence`.
        received: u64,
    },
    /// Applying an update would leave the book crossed (best bid >= best ask).
    #[error("crossed book: best bid {bid} >= best ask {ask}")]
    CrossedBook {
        /// Best bid after the update.
        bid: rust_decimal::Decimal,
        /// Best ask after the update.
        ask: rust_decimal::Decimal,
    },
    /// The bus has been closed.
    #[error("the event bus is closed")]
    BusClosed,
    /// A sink failed to write.
    #[error("sink `{sink}` failed: {message}")]
    Sink {
        /// Sink name.
        sink: String,
        /// What failed.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An I/O error (listener, file).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// JSON (de)serialization failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Whether retrying the failed operation may succeed.
    ///
    /// ```
    /// let e = marketprism_core::Error::BusClosed;
    /// assert!(!e.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Sink { retryable, .. } => *retryable,
            Error::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
