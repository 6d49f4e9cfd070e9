//! The crate's error type.

use marketprism_core::model::Exchange;

/// Errors of `marketprism-exchanges`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// A frame or REST body is not valid JSON of the expected shape.
    #[error("{exchange}: malformed {what}: {source}")]
    Malformed {
        /// Exchange.
        exchange: Exchange,
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
        exchange: Exchange,
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
        exchange: Exchange,
        /// What was being parsed.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A message names an instrument that is not in the loaded instrument table.
    #[error("{exchange}: unknown instrument `{native_symbol}`")]
    UnknownInstrument {
        /// Exchange.
        exchange: Exchange,
        /// The exchange's symbol.
        native_symbol: String,
    },
    /// A message of a type this crate does not handle.
    #[error("{exchange}: unsupported message: {detail}")]
    Unsupported {
        /// Exchange.
        exchange: Exchange,
        /// Short description (channel or event name).
        detail: String,
    },
    /// An order-book checksum did not match; the book was resynced.
    #[error(
        "{exchange}: checksum mismatch on {native_symbol}: exchange {expected}, computed {computed}"
    )]
    Checksum {
        /// Exchange.
        exchange: Exchange,
        /// The exchange's symbol.
        native_symbol: String,
        /// Checksum the exchange sent.
        expected: i32,
        /// Checksum of our book.
        computed: i32,
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
            ExchangeError::Core(_) => "core",
        }
    }
}
