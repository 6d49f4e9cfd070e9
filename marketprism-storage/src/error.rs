//! The crate's error type.

use std::error::Error as StdError;

/// A boxed error source.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Errors of `marketprism-storage`.
///
/// Every variant keeps its source; [`StorageError::is_retryable`] tells a transient failure
/// (server down, timeout, broker unreachable) from a permanent one (bad schema, a value the
/// column cannot hold, malformed input).
///
/// ```
/// use marketprism_storage::StorageError;
/// let e = StorageError::InvalidInput { field: "limit", message: "must be positive".into() };
/// assert!(!e.is_retryable());
/// assert!(e.to_string().contains("limit"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A backend (ClickHouse, Redis, NATS, embedded database) failed.
    #[error("{backend} error during {operation}: {source}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// What was being done.
        operation: String,
        /// Whether a retry may succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A value cannot be represented by the storage schema (e.g. a decimal out of range).
    #[error("cannot store {what}: {message}")]
    Unrepresentable {
        /// What value.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// Stored data cannot be turned back into an event.
    #[error("corrupt stored {what}: {message}")]
    Corrupt {
        /// What record.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A request parameter is invalid; `field` names it.
    #[error("invalid `{field}`: {message}")]
    InvalidInput {
        /// The offending field or parameter.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A storage URL or configuration is invalid or names a backend this build lacks.
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The operation is not supported by this store.
    #[error("{store} does not support {operation}")]
    Unsupported {
        /// Store name.
        store: &'static str,
        /// Operation.
        operation: &'static str,
    },
    /// The store has no place for events of this kind (a kind newer than the store).
    #[error("{store} cannot store or query `{kind}` events")]
    UnsupportedKind {
        /// Store name.
        store: &'static str,
        /// The event kind.
        kind: marketprism_core::model::EventKind,
    },
    /// JSON (de)serialization failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// An error from `marketprism-core` (a sink, the bus, config).
    #[error(transparent)]
    Core(#[from] marketprism_core::Error),
    /// The pipeline was asked to shut down before the operation finished.
    #[error("shutting down")]
    Shutdown,
}

impl StorageError {
    /// Whether retrying the failed operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StorageError::Backend { retryable, .. } => *retryable,
            StorageError::Core(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// A backend error.
    #[cfg_attr(
        not(any(
            feature = "clickhouse",
            feature = "redis",
            feature = "nats",
            feature = "embedded"
        )),
        allow(dead_code)
    )]
    pub(crate) fn backend(
        backend: &'static str,
        operation: impl Into<String>,
        retryable: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        StorageError::Backend {
            backend,
            operation: operation.into(),
            retryable,
            source: source.into(),
        }
    }

    /// Converts into the core error a [`Sink`](marketprism_core::sink::Sink) returns,
    /// keeping retryability and the source.
    pub fn into_sink_error(self, sink: &str) -> marketprism_core::Error {
        match self {
            StorageError::Core(e) => e,
            other => marketprism_core::Error::Sink {
                sink: sink.to_owned(),
                message: other.to_string(),
                retryable: other.is_retryable(),
                source: Some(Box::new(other)),
            },
        }
    }
}

/// Result with [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
