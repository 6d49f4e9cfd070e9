//! The extension point: everything the connection layer needs from a venue, as one
//! object-safe trait.
//!
//! The connection layer (connections, subscription limits, keep-alive, rotation, resync, the
//! REST weight budget, polling, capture and replay) is written once against
//! `Arc<dyn Exchange>`. The built-in venues ([`binance::BinanceSpot`](crate::binance::BinanceSpot),
//! [`BinanceUsdm`](crate::binance::BinanceUsdm), [`BinanceCoinm`](crate::binance::BinanceCoinm),
//! [`okx::Okx`](crate::okx::Okx), [`deribit::Deribit`](crate::deribit::Deribit)) implement it
//! with public items only, so an exchange written outside this crate gets the same machinery.

use std::{fmt, sync::Arc, time::Duration};

use marketprism_core::model::Instrument;

use crate::{Channel, ExchangeError, InstrumentMap, Normalizer, RestKind};

/// How a venue keeps a connection alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Keepalive {
    /// The server sends WebSocket pings; the transport answers with pongs (Binance). Also the
    /// choice when nothing needs to be sent by us.
    ServerPing,
    /// We send the text frame `ping` after `idle` without data; the server answers `pong` (OKX).
    TextPing {
        /// Idle time before sending `ping`.
        idle: Duration,
    },
    /// Heartbeats are enabled by an on-connect frame (Deribit `public/set_heartbeat`); the
    /// server sends `test_request`s that the normalizer answers with [`Action::Send`](crate::Action::Send).
    Heartbeat {
        /// Heartbeat interval requested.
        interval: Duration,
    },
    /// We send the text `frame` every `interval`, whatever the traffic; the server's answer
    /// is for the normalizer to recognize as [`FrameKind::Heartbeat`](crate::FrameKind::Heartbeat)
    /// (Bybit v5: `{"op":"ping"}` every 20 s).
    Periodic {
        /// Time between two frames.
        interval: Duration,
        /// The text frame to send.
        frame: &'static str,
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
    /// use marketprism_exchanges::{Channel, Subscription};
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

impl RestRequest {
    /// A request of `weight` for `path_and_query`.
    ///
    /// ```
    /// let r = marketprism_exchanges::RestRequest::new("/api/v3/exchangeInfo", 20);
    /// assert_eq!(r.weight, 20);
    /// ```
    pub fn new(path_and_query: impl Into<String>, weight: u32) -> Self {
        RestRequest {
            path_and_query: path_and_query.into(),
            weight,
        }
    }
}

/// Where a channel's data comes from on a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A WebSocket subscription.
    WebSocket,
    /// REST polling at the given interval (requests from [`Exchange::poll_requests`]).
    Poll(Duration),
    /// Not offered by this venue.
    Unsupported,
}

/// A venue: endpoints, subscription messages and limits, keep-alive, connection lifetime,
/// REST weight, instruments, snapshot and polling requests, and a [`Normalizer`] factory.
///
/// Object safe: the connection layer holds `Arc<dyn Exchange>`. Methods take `&self`, so an
/// implementation may carry configuration (another name, a testnet URL, credentials for a
/// private feed). Venues are identified by [`name`](Exchange::name): two values with one
/// name are the same venue to a [`MarketStreamBuilder`](crate::MarketStreamBuilder) and in
/// capture files.
///
/// Provided methods cover the common case: a single WebSocket path, no unsubscribe, no
/// on-connect frames, server-driven pings, no lifetime cap, no REST snapshots, no polling.
///
/// ```
/// use std::sync::Arc;
/// use marketprism_core::model::{ExchangeId, Instrument};
/// use marketprism_exchanges::{
///     Channel, Exchange, ExchangeError, InstrumentMap, Normalizer, RestRequest, Source,
///     Subscription, Venue,
/// };
///
/// /// Binance spot on another host, under another name.
/// #[derive(Debug)]
/// struct Mirror(Arc<dyn Exchange>);
///
/// impl Exchange for Mirror {
///     fn name(&self) -> &str { "binance-mirror" }
///     fn exchange_id(&self) -> ExchangeId { self.0.exchange_id() }
///     fn ws_base_url(&self) -> &str { "wss://mirror.example:9443" }
///     fn rest_base_url(&self) -> &str { "https://mirror.example" }
///     fn ws_url(&self, base: &str, subs: &[Subscription]) -> String { self.0.ws_url(base, subs) }
///     fn max_streams_per_connection(&self) -> usize { 100 }
///     fn max_subscribe_messages_per_sec(&self) -> u32 { 5 }
///     fn subscribe_frames(&self, subs: &[Subscription], id: u64) -> Vec<String> {
///         self.0.subscribe_frames(subs, id)
///     }
///     fn source(&self, channel: Channel, instrument: &Instrument) -> Source {
///         self.0.source(channel, instrument)
///     }
///     fn instruments_requests(&self) -> Vec<RestRequest> { self.0.instruments_requests() }
///     fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
///         self.0.parse_instruments(body)
///     }
///     fn snapshot_request(&self, native_symbol: &str) -> Option<RestRequest> {
///         self.0.snapshot_request(native_symbol)
///     }
///     fn normalizer(&self, instruments: InstrumentMap, depth: Option<usize>) -> Box<dyn Normalizer> {
///         self.0.normalizer(instruments, depth)
///     }
/// }
///
/// let mirror: Arc<dyn Exchange> = Arc::new(Mirror(Venue::BinanceSpot.into()));
/// assert_eq!(mirror.name(), "binance-mirror");
/// assert_eq!(mirror.max_connection_lifetime(), None);
/// ```
pub trait Exchange: Send + Sync + 'static {
    /// Stable venue name (`binance-spot`, `okx`): used in capture files, configuration,
    /// logs, metrics labels and connection ids. Must not change between releases.
    fn name(&self) -> &str;

    /// The exchange identity carried by this venue's normalized events.
    fn exchange_id(&self) -> marketprism_core::model::ExchangeId;

    /// Default WebSocket base URL (a [`MarketStreamBuilder`](crate::MarketStreamBuilder) may
    /// override it, e.g. to point at a simulator).
    fn ws_base_url(&self) -> &str;

    /// Default REST base URL (overridable like the WebSocket one).
    fn rest_base_url(&self) -> &str;

    /// The WebSocket URL to connect to for `subscriptions`, given the configured `base`.
    /// Subscriptions are grouped per URL before connecting, so a venue with several routes
    /// (Binance USDⓈ-M `/public` and `/market`) returns the route of the subscription.
    /// Default: `base` without a trailing slash.
    fn ws_url(&self, base: &str, subscriptions: &[Subscription]) -> String {
        let _ = subscriptions;
        base.trim_end_matches('/').to_owned()
    }

    /// Maximum streams (channel × instrument) per connection.
    fn max_streams_per_connection(&self) -> usize;

    /// Maximum subscribe messages per second per connection.
    fn max_subscribe_messages_per_sec(&self) -> u32;

    /// Text frames that subscribe to `subscriptions`, using request ids from `request_id`
    /// upwards (the caller skips as many ids as frames returned).
    fn subscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String>;

    /// Text frames that unsubscribe (sent before a resubscribe). Default: none.
    fn unsubscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        let _ = (subscriptions, request_id);
        Vec::new()
    }

    /// Frames to send right after connecting, before subscribing (Deribit
    /// `public/set_heartbeat`). Default: none.
    fn on_connect_frames(&self, request_id: u64) -> Vec<String> {
        let _ = request_id;
        Vec::new()
    }

    /// Keep-alive protocol. Default: [`Keepalive::ServerPing`] (nothing sent by us).
    fn keepalive(&self) -> Keepalive {
        Keepalive::ServerPing
    }

    /// Maximum lifetime of a connection imposed by the exchange (Binance: 24 h); connections
    /// are rotated with overlap 30 minutes before it. Default: no cap.
    fn max_connection_lifetime(&self) -> Option<Duration> {
        None
    }

    /// REST weight budget per minute, shared by instrument loading, snapshots and polls.
    /// Default: 600 (ten weight-1 requests per second).
    fn rest_weight_per_minute(&self) -> u32 {
        600
    }

    /// Where `channel` comes from for `instrument` on this venue.
    fn source(&self, channel: Channel, instrument: &Instrument) -> Source;

    /// The requests that list the venue's instruments.
    fn instruments_requests(&self) -> Vec<RestRequest>;

    /// Parses one instruments response body.
    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError>;

    /// The depth-snapshot request for an instrument, when book sync uses REST snapshots
    /// (answered through [`Normalizer::on_rest`] with
    /// [`RestKind::DepthSnapshot`]). Default: `None` (books sync from the WebSocket).
    fn snapshot_request(&self, native_symbol: &str) -> Option<RestRequest> {
        let _ = native_symbol;
        None
    }

    /// The polling requests for a REST-polled channel ([`Source::Poll`]), with how to
    /// interpret each answer. Called before every poll (requests may carry a time window).
    /// Default: none.
    fn poll_requests(&self, subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
        let _ = subscription;
        Vec::new()
    }

    /// An instrument for a symbol that names an index rather than a listed instrument
    /// (Deribit: a currency such as `BTC` or an index name such as `btc_usd`, for DVOL and the
    /// price index), or `None` (the default: only listed instruments can be subscribed).
    fn index_instrument(&self, instruments: &InstrumentMap, symbol: &str) -> Option<Instrument> {
        let _ = (instruments, symbol);
        None
    }

    /// A fresh normalizer over `instruments`, keeping books to `book_depth` levels per side.
    /// One is created per connection (and per polled channel).
    fn normalizer(
        &self,
        instruments: InstrumentMap,
        book_depth: Option<usize>,
    ) -> Box<dyn Normalizer>;
}

impl fmt::Debug for dyn Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchange")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// The built-in venues, one `Arc<dyn Exchange>` each (what [`capture::replay`](crate::capture::replay)
/// resolves venue names against by default).
///
/// ```
/// let names: Vec<String> = marketprism_exchanges::builtin_exchanges()
///     .iter()
///     .map(|e| e.name().to_owned())
///     .collect();
/// assert_eq!(names, ["binance-spot", "binance-usdm", "binance-coinm", "okx", "deribit"]);
/// ```
pub fn builtin_exchanges() -> Vec<Arc<dyn Exchange>> {
    crate::Venue::ALL.into_iter().map(Into::into).collect()
}

/// Finds the exchange named `name` (exact match first, then ASCII case-insensitive).
///
/// ```
/// use marketprism_exchanges::{builtin_exchanges, find_exchange};
/// let all = builtin_exchanges();
/// assert_eq!(find_exchange(&all, "okx").map(|e| e.name()), Some("okx"));
/// assert!(find_exchange(&all, "kraken").is_none());
/// ```
pub fn find_exchange<'a>(
    exchanges: &'a [Arc<dyn Exchange>],
    name: &str,
) -> Option<&'a Arc<dyn Exchange>> {
    exchanges.iter().find(|e| e.name() == name).or_else(|| {
        exchanges
            .iter()
            .find(|e| e.name().eq_ignore_ascii_case(name))
    })
}
