//! Binance connector: spot, USDⓈ-M futures and COIN-M futures.
//!
//! Three zero-sized venue types implement [`VenueSpec`]: [`BinanceSpot`], [`BinanceUsdm`],
//! [`BinanceCoinm`]. They share one normalizer, [`BinanceNormalizer`], parameterized by
//! [`Venue`].
//!
//! | channel | spot stream | futures stream / endpoint | normalized event |
//! |---|---|---|---|
//! | [`Trades`](Channel::Trades) | `<s>@trade` (`@aggTrade` also accepted) | `<s>@aggTrade` (`@trade` also accepted) | `Trade` (aggregate id for `aggTrade`) |
//! | [`Book`](Channel::Book) | `<s>@depth@100ms` + `GET /api/v3/depth` | `<s>@depth@100ms` + `GET /fapi/v1/depth`, `/dapi/v1/depth` | `BookSnapshot` then `BookDelta`s |
//! | (received top-N frames) | `<s>@depth5/10/20` | `<s>@depth5/10/20` | `BookSnapshot` |
//! | [`Bbo`](Channel::Bbo) | `<s>@bookTicker` (no time: local time used) | `<s>@bookTicker` | `Bbo` |
//! | [`Ticker`](Channel::Ticker) | `<s>@ticker` (`@miniTicker`, `@ticker_1h/4h/1d` also accepted) | `<s>@ticker` | `Ticker` |
//! | [`Kline`](Channel::Kline) | `<s>@kline_1m` | `<s>@kline_1m` | `Kline` |
//! | [`Funding`](Channel::Funding), [`MarkPrice`](Channel::MarkPrice) | — | `<s>@markPrice@1s` | `MarkPrice`; `FundingRate` for perpetuals |
//! | [`Liquidations`](Channel::Liquidations) | — | `<s>@forceOrder` | `Liquidation` |
//! | [`OpenInterest`](Channel::OpenInterest) | — | poll `GET /fapi/v1/openInterest`, `/dapi/v1/openInterest` | `OpenInterest` |
//! | [`LongShortRatio`](Channel::LongShortRatio) | — | poll `GET /futures/data/{topLongShortPositionRatio, topLongShortAccountRatio, globalLongShortAccountRatio}` | `LongShortRatio` |
//!
//! Spot `avgPrice` frames are recognized and produce no event (the model has no average-price
//! event). Control frames: `{"result":..,"id":..}` (any key order) → `SubscriptionAck`;
//! `{"code":..,"msg":..}` and `{"error":{..},"id":..}` → `ExchangeError`; `serverShutdown` →
//! `Shutdown` plus [`Action::Rotate`](crate::Action::Rotate). Keep-alive is WebSocket-level
//! ping/pong (the transport answers pings), so no JSON heartbeat exists.
//!
//! Book sync and its rules are described in the `book` module: buffer diffs, one
//! `FetchSnapshot` per instrument, bridge (`U <= lastUpdateId+1 <= u` spot,
//! `U <= lastUpdateId <= u` futures), then `U == prev u + 1` (spot) / `pu == prev u`
//! (futures) on every diff, forever; any break → `Gap` + `BookResync` status, that instrument
//! only, new snapshot.
//!
//! Docs: [spot streams](https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams),
//! [spot REST](https://developers.binance.com/docs/binance-spot-api-docs/rest-api),
//! [USDⓈ-M streams](https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams),
//! [COIN-M streams](https://developers.binance.com/docs/derivatives/coin-margined-futures/websocket-market-streams).

mod book;
mod instruments;
mod normalize;
mod normalizer;
mod rest;
mod subscription;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use marketprism_core::model::Instrument;

pub use normalizer::BinanceNormalizer;
pub use subscription::{
    KLINE_INTERVAL, OPEN_INTEREST_POLL, RATIO_ENDPOINTS, RATIO_PERIOD, RATIO_POLL, SNAPSHOT_LIMIT,
    stream_name, usdm_route,
};

use crate::{
    ExchangeError, InstrumentMap, RestKind, Venue,
    spec::{Keepalive, RestRequest, Source, Subscription, VenueSpec},
    venue::Channel,
};

/// Binance connections are cut after 24 hours.
const LIFETIME: Option<Duration> = Some(Duration::from_secs(24 * 3600));

macro_rules! binance_venue {
    (
        $(#[$doc:meta])*
        $ty:ident, $venue:expr, ws: $ws:literal, rest: $rest:literal,
        streams: $streams:literal, msgs: $msgs:literal, weight: $weight:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $ty;

        impl VenueSpec for $ty {
            const VENUE: Venue = $venue;
            const WS_URL: &'static str = $ws;
            const REST_URL: &'static str = $rest;
            const MAX_STREAMS_PER_CONNECTION: usize = $streams;
            const MAX_SUBSCRIBE_MESSAGES_PER_SEC: u32 = $msgs;
            // Not documented; kept well under the message-size and stream limits.
            const MAX_SUBSCRIPTIONS_PER_MESSAGE: usize = 100;
            const KEEPALIVE: Keepalive = Keepalive::ServerPing;
            const MAX_CONNECTION_LIFETIME: Option<Duration> = LIFETIME;
            const REST_WEIGHT_PER_MINUTE: u32 = $weight;

            type Normalizer = BinanceNormalizer;

            fn source(channel: Channel, instrument: &Instrument) -> Source {
                subscription::source(Self::VENUE, channel, instrument)
            }

            fn ws_url(base: &str, subscriptions: &[Subscription]) -> String {
                subscription::ws_url(Self::VENUE, base, subscriptions)
            }

            fn subscribe_frames(subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
                subscription::method_frames(
                    Self::VENUE,
                    "SUBSCRIBE",
                    subscriptions,
                    request_id,
                    Self::MAX_SUBSCRIPTIONS_PER_MESSAGE,
                )
            }

            fn unsubscribe_frames(subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
                subscription::method_frames(
                    Self::VENUE,
                    "UNSUBSCRIBE",
                    subscriptions,
                    request_id,
                    Self::MAX_SUBSCRIPTIONS_PER_MESSAGE,
                )
            }

            fn on_connect_frames(_request_id: u64) -> Vec<String> {
                Vec::new()
            }

            fn instruments_requests() -> Vec<RestRequest> {
                vec![subscription::instruments_request(Self::VENUE)]
            }

            fn parse_instruments(body: &str) -> Result<Vec<Instrument>, ExchangeError> {
                instruments::parse_exchange_info(Self::VENUE, body)
            }

            fn snapshot_request(native_symbol: &str) -> Option<RestRequest> {
                Some(subscription::snapshot_request(Self::VENUE, native_symbol))
            }

            fn poll_requests(subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
                subscription::poll_requests(Self::VENUE, subscription)
            }

            fn normalizer(instruments: InstrumentMap, book_depth: Option<usize>) -> BinanceNormalizer {
                BinanceNormalizer::new(Self::VENUE, instruments, book_depth)
            }
        }
    };
}

binance_venue!(
    /// Binance spot: `wss://stream.binance.com:9443`, `https://api.binance.com`.
    /// 1024 streams and 5 incoming messages per second per connection; REST weight
    /// 6000 per minute.
    ///
    /// ```
    /// use marketprism_exchanges::{binance::BinanceSpot, spec::{Subscription, VenueSpec}, Channel};
    /// let subs = [Subscription::new(Channel::Trades, "BTCUSDT")];
    /// assert_eq!(BinanceSpot::ws_url(BinanceSpot::WS_URL, &subs), "wss://stream.binance.com:9443/stream");
    /// assert_eq!(
    ///     BinanceSpot::subscribe_frames(&subs, 1),
    ///     [r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#]
    /// );
    /// ```
    BinanceSpot, Venue::BinanceSpot,
    ws: "wss://stream.binance.com:9443", rest: "https://api.binance.com",
    streams: 1024, msgs: 5, weight: 6000
);

binance_venue!(
    /// Binance USDⓈ-M futures: `wss://fstream.binance.com` with the routed paths `/public`
    /// (book streams) and `/market` (all other market streams), `https://fapi.binance.com`.
    /// 200 streams and 10 incoming messages per second per connection; REST weight 2400 per
    /// minute.
    ///
    /// A connection carries one route: group subscriptions by [`usdm_route`] before calling
    /// [`ws_url`](VenueSpec::ws_url), which takes the route of the first subscription.
    ///
    /// ```
    /// use marketprism_exchanges::{binance::BinanceUsdm, spec::{Subscription, VenueSpec}, Channel};
    /// let book = [Subscription::new(Channel::Book, "BTCUSDT")];
    /// assert_eq!(BinanceUsdm::ws_url(BinanceUsdm::WS_URL, &book), "wss://fstream.binance.com/public/stream");
    /// let marks = [Subscription::new(Channel::MarkPrice, "BTCUSDT")];
    /// assert_eq!(BinanceUsdm::ws_url(BinanceUsdm::WS_URL, &marks), "wss://fstream.binance.com/market/stream");
    /// ```
    BinanceUsdm, Venue::BinanceUsdm,
    ws: "wss://fstream.binance.com", rest: "https://fapi.binance.com",
    streams: 200, msgs: 10, weight: 2400
);

binance_venue!(
    /// Binance COIN-M futures: `wss://dstream.binance.com`, `https://dapi.binance.com`.
    /// Quantities are contracts of `contractSize` USD; quote volumes and open-interest values
    /// are derived from them. 200 streams and 10 incoming messages per second per connection;
    /// REST weight 2400 per minute.
    ///
    /// ```
    /// use marketprism_exchanges::{binance::BinanceCoinm, spec::VenueSpec};
    /// let req = BinanceCoinm::snapshot_request("BTCUSD_PERP").expect("REST snapshots");
    /// assert_eq!(req.path_and_query, "/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000");
    /// assert_eq!(req.weight, 20);
    /// ```
    BinanceCoinm, Venue::BinanceCoinm,
    ws: "wss://dstream.binance.com", rest: "https://dapi.binance.com",
    streams: 200, msgs: 10, weight: 2400
);
