//! The pure half of a connector: raw frames and REST bodies in, normalized events and
//! requests for the connection layer out. No I/O, so the live path, replay and the corpus
//! tests all run the same code.

use marketprism_core::model::{MarketEvent, TimestampNs};

use crate::{ExchangeError, venue::Channel};

/// What a normalizer produced for one input. Reused across inputs to avoid allocation:
/// the caller drains `events` and `actions` and calls [`Output::clear`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Output {
    /// Normalized events, in order (status events included).
    pub events: Vec<MarketEvent>,
    /// Requests for the connection layer, in order.
    pub actions: Vec<Action>,
}

impl Output {
    /// An empty output.
    pub fn new() -> Self {
        Output::default()
    }

    /// Empties both lists, keeping their capacity.
    pub fn clear(&mut self) {
        self.events.clear();
        self.actions.clear();
    }
}

/// A request from a normalizer to the connection layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Fetch a REST depth snapshot for this instrument and pass it to
    /// [`Normalizer::on_rest`] with [`RestKind::DepthSnapshot`] (Binance book sync).
    FetchSnapshot {
        /// The exchange's symbol.
        native_symbol: String,
    },
    /// Unsubscribe and resubscribe this instrument's channel (OKX and Deribit book resync).
    Resubscribe {
        /// The exchange's symbol.
        native_symbol: String,
        /// The channel to resubscribe.
        channel: Channel,
    },
    /// The exchange announced a disconnect (`serverShutdown`, OKX `notice`): open a new
    /// connection and close this one once the new one is live.
    Rotate {
        /// Why.
        reason: String,
    },
    /// Send this text frame on the connection (e.g. Deribit's `public/test` after a `test_request`).
    Send(String),
}

/// The REST responses a normalizer understands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RestKind {
    /// Depth snapshot of an instrument (`/api/v3/depth`, `/fapi/v1/depth`, ...).
    DepthSnapshot {
        /// The exchange's symbol.
        native_symbol: String,
    },
    /// Open interest of an instrument.
    OpenInterest {
        /// The exchange's symbol (or currency/underlying where the exchange asks for that).
        native_symbol: String,
    },
    /// Long/short ratio statistics.
    LongShortRatio {
        /// The exchange's symbol (or currency).
        native_symbol: String,
        /// Which statistic (`topLongShortPositionRatio`, `globalLongShortAccountRatio`, ...).
        endpoint: String,
    },
    /// Funding rate.
    FundingRate {
        /// The exchange's symbol.
        native_symbol: String,
    },
    /// Volatility index (Deribit DVOL).
    VolatilityIndex {
        /// Currency.
        currency: String,
    },
}

/// How a frame was recognized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameKind {
    /// Market data; the events are in the [`Output`].
    Data,
    /// A subscription acknowledgement (or an unsubscribe/property reply).
    SubscriptionAck,
    /// A heartbeat, pong or keep-alive.
    Heartbeat,
    /// An error frame from the exchange (kept, logged and counted by the caller).
    ExchangeError {
        /// Exchange error code.
        code: String,
        /// Exchange error message.
        message: String,
    },
    /// A notice of an upcoming disconnect; an [`Action::Rotate`] is in the output.
    Shutdown,
    /// Another control frame (e.g. Deribit `test_request`; actions are in the output).
    Control,
}

/// Turns one venue's raw frames and REST bodies into normalized events, keeping whatever
/// per-instrument state the exchange's integrity rules need (book sync, sequence chains).
///
/// Errors are per frame: a malformed frame returns `Err`, changes no state and leaves nothing
/// in `out` (callers may still drain it; it holds only what earlier inputs left); the next
/// frame is processed normally. Integrity failures (gaps, checksum mismatches, crossed books)
/// are not errors: they return `Ok` with status events and a resync action in `out`.
pub trait Normalizer: Send {
    /// Processes one WebSocket text frame received at `local_ts`.
    fn on_frame(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError>;

    /// Processes one REST response body received at `local_ts`.
    fn on_rest(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError>;

    /// The connection carrying these instruments dropped: every book becomes unsynced, and a
    /// [`BookResync`](marketprism_core::model::StatusKind::BookResync) status is emitted for
    /// each book that was live, so consumers know data may be missing until the next snapshot.
    fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output);

    /// Emits a [`BookSnapshot`](marketprism_core::model::MarketEvent::BookSnapshot) of every
    /// synced book. Used when a rotated connection takes over from the old one, so that
    /// consumers switch to the new connection's book state with a clean image.
    fn emit_books(&mut self, local_ts: TimestampNs, out: &mut Output) {
        let _ = (local_ts, out);
    }
}
