//! What the connection layer needs to know about a venue, as associated items of a
//! zero-sized type per venue (`BinanceSpot`, `BinanceUsdm`, `BinanceCoinm`, `Okx`, `Deribit`).

use std::time::Duration;

use marketprism_core::model::Instrument;

use crate::{ExchangeError, InstrumentMap, Normalizer, RestKind, Venue, venue::Channel};

/// How a venue keeps a connection alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// The server sends WebSocket pings; we answer with pongs (Binance).
    ServerPing,
    /// We send the text frame `ping` after `idle` without data; the server answers `pong` (OKX).
    TextPing {
        /// Idle time before sending `ping`.
        idle: Duration,
    },
    /// We enable heartbeats by JSON-RPC (`public/set_heartbeat`); the server sends
    /// `test_request`s that we must answer (Deribit).
    Heartbeat {
        /// Heartbeat interval requested.
        interval: Duration,
    },
}

/// One channel of one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subscription {
    /// The channel.
    pub channel: Channel,
    /// The exchange's symbol (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC-PERPETUAL`; a currency for
    /// per-currency channels such as Deribit DVOL).
    pub native_symbol: String,
}

impl Subscription {
    /// A subscription.
    ///
    /// ```
    /// use marketprism_exchanges::{spec::Subscription, Channel};
    /// let s = Subscription::new(Channel::Trades, "BTCUSDT");
    /// assert_eq!(s.native_symbol, "BTCUSDT");
    /// ```
    pub fn new(channel: Channel, native_symbol: impl Into<String>) -> Self {
        Subscription {
            channel,
            native_symbol: native_symbol.into(),
        }
    }
}

/// A REST GET request, relative to the venue's REST base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    /// Path and query, e.g. `/api/v3/depth?symbol=BTCUSDT&limit=1000`.
    pub path_and_query: String,
    /// Request weight against the venue's budget (Binance weights; 1 elsewhere).
    pub weight: u32,
}

/// Where a channel's data comes from on a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A WebSocket subscription.
    WebSocket,
    /// REST polling at the given interval.
    Poll(Duration),
    /// Not offered by this venue.
    Unsupported,
}

/// A venue's endpoints, limits, protocol messages and normalizer.
pub trait VenueSpec: Send + Sync + 'static {
    /// The venue.
    const VENUE: Venue;
    /// Default WebSocket base URL (overridable in config).
    const WS_URL: &'static str;
    /// Default REST base URL (overridable in config).
    const REST_URL: &'static str;
    /// Maximum streams (channel × instrument) per connection.
    const MAX_STREAMS_PER_CONNECTION: usize;
    /// Maximum subscribe messages per second per connection.
    const MAX_SUBSCRIBE_MESSAGES_PER_SEC: u32;
    /// Maximum subscriptions carried by one subscribe message.
    const MAX_SUBSCRIPTIONS_PER_MESSAGE: usize;
    /// Keep-alive protocol.
    const KEEPALIVE: Keepalive;
    /// Maximum lifetime of a connection imposed by the exchange (Binance: 24 h).
    const MAX_CONNECTION_LIFETIME: Option<Duration>;
    /// REST weight budget per minute (Binance `x-mbx-used-weight-1m` limit; generous elsewhere).
    const REST_WEIGHT_PER_MINUTE: u32;

    /// The normalizer type.
    type Normalizer: Normalizer;

    /// Where `channel` comes from for `instrument` on this venue.
    fn source(channel: Channel, instrument: &Instrument) -> Source;

    /// The WebSocket URL to connect to for these subscriptions (`base` is the configured
    /// base URL; Binance uses the combined-stream path, others a fixed path).
    fn ws_url(base: &str, subscriptions: &[Subscription]) -> String;

    /// Text frames that subscribe to `subscriptions` (at most
    /// [`MAX_SUBSCRIPTIONS_PER_MESSAGE`](VenueSpec::MAX_SUBSCRIPTIONS_PER_MESSAGE) each),
    /// using ids from `request_id` upwards.
    fn subscribe_frames(subscriptions: &[Subscription], request_id: u64) -> Vec<String>;

    /// Text frames that unsubscribe.
    fn unsubscribe_frames(subscriptions: &[Subscription], request_id: u64) -> Vec<String>;

    /// Frames to send right after connecting (Deribit `public/set_heartbeat`); empty elsewhere.
    fn on_connect_frames(request_id: u64) -> Vec<String>;

    /// The requests that list the venue's instruments.
    fn instruments_requests() -> Vec<RestRequest>;

    /// Parses one instruments response body.
    fn parse_instruments(body: &str) -> Result<Vec<Instrument>, ExchangeError>;

    /// The depth-snapshot request for an instrument, when book sync uses REST snapshots.
    fn snapshot_request(native_symbol: &str) -> Option<RestRequest>;

    /// The polling requests for a REST-polled channel, with how to interpret each answer.
    /// Called before every poll (requests may carry a time window).
    fn poll_requests(subscription: &Subscription) -> Vec<(RestRequest, RestKind)>;

    /// A fresh normalizer over `instruments`, keeping books to `book_depth` levels per side.
    fn normalizer(instruments: InstrumentMap, book_depth: Option<usize>) -> Self::Normalizer;
}
