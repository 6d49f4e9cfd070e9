//! Binance connector: spot, USDⓈ-M futures and COIN-M futures.
//!
//! Three zero-sized venue types implement [`Exchange`]: [`BinanceSpot`], [`BinanceUsdm`],
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
    Channel, Exchange, ExchangeError, InstrumentMap, Keepalive, Normalizer, RestKind, RestRequest,
    Source, Subscription, Venue,
};

/// Binance connections are cut after 24 hours.
const LIFETIME: Option<Duration> = Some(Duration::from_secs(24 * 3600));

/// Subscriptions per `SUBSCRIBE` message: not documented; kept well under the message-size
/// and stream limits.
const MAX_SUBSCRIPTIONS_PER_MESSAGE: usize = 100;

macro_rules! binance_venue {
    (
        $(#[$doc:meta])*
        $ty:ident, $venue:expr, ws: $ws:literal, rest: $rest:literal,
        streams: $streams:literal, msgs: $msgs:literal, weight: $weight:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $ty;

        impl $ty {
            /// The built-in venue this type implements.
            pub const VENUE: Venue = $venue;
        }

        impl Exchange for $ty {
            fn name(&self) -> &str {
                Self::VENUE.as_str()
            }

            fn exchange_id(&self) -> marketprism_core::model::ExchangeId {
                Self::VENUE.exchange()
            }

            fn ws_base_url(&self) -> &str {
                $ws
            }

            fn rest_base_url(&self) -> &str {
                $rest
            }

            fn ws_url(&self, base: &str, subscriptions: &[Subscription]) -> String {
                subscription::ws_url(Self::VENUE, base, subscriptions)
            }

            fn max_streams_per_connection(&self) -> usize {
                $streams
            }

            fn max_subscribe_messages_per_sec(&self) -> u32 {
                $msgs
            }

            fn subscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
                subscription::method_frames(
                    Self::VENUE,
                    "SUBSCRIBE",
                    subscriptions,
                    request_id,
                    MAX_SUBSCRIPTIONS_PER_MESSAGE,
                )
            }

            fn unsubscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
                subscription::method_frames(
                    Self::VENUE,
                    "UNSUBSCRIBE",
                    subscriptions,
                    request_id,
                    MAX_SUBSCRIPTIONS_PER_MESSAGE,
                )
            }

            fn keepalive(&self) -> Keepalive {
                Keepalive::ServerPing
            }

            fn max_connection_lifetime(&self) -> Option<Duration> {
                LIFETIME
            }

            fn rest_weight_per_minute(&self) -> u32 {
                $weight
            }

            fn source(&self, channel: Channel, instrument: &Instrument) -> Source {
                subscription::source(Self::VENUE, channel, instrument)
            }

            fn instruments_requests(&self) -> Vec<RestRequest> {
                vec![subscription::instruments_request(Self::VENUE)]
            }

            fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
                instruments::parse_exchange_info(Self::VENUE, body)
            }

            fn snapshot_request(&self, native_symbol: &str) -> Option<RestRequest> {
                Some(subscription::snapshot_request(Self::VENUE, native_symbol))
            }

            fn poll_requests(&self, subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
                subscription::poll_requests(Self::VENUE, subscription)
            }

            fn normalizer(
                &self,
                instruments: InstrumentMap,
                book_depth: Option<usize>,
            ) -> Box<dyn Normalizer> {
                Box::new(BinanceNormalizer::new(Self::VENUE, instruments, book_depth))
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
    /// use marketprism_exchanges::{binance::BinanceSpot, Channel, Exchange, Subscription};
    /// let subs = [Subscription::new(Channel::Trades, "BTCUSDT")];
    /// let spot = BinanceSpot;
    /// assert_eq!(spot.ws_url(spot.ws_base_url(), &subs), "wss://stream.binance.com:9443/stream");
    /// assert_eq!(
    ///     spot.subscribe_frames(&subs, 1),
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
    /// [`ws_url`](Exchange::ws_url), which takes the route of the first subscription.
    ///
    /// ```
    /// use marketprism_exchanges::{binance::BinanceUsdm, Channel, Exchange, Subscription};
    /// let usdm = BinanceUsdm;
    /// let book = [Subscription::new(Channel::Book, "BTCUSDT")];
    /// assert_eq!(usdm.ws_url(usdm.ws_base_url(), &book), "wss://fstream.binance.com/public/stream");
    /// let marks = [Subscription::new(Channel::MarkPrice, "BTCUSDT")];
    /// assert_eq!(usdm.ws_url(usdm.ws_base_url(), &marks), "wss://fstream.binance.com/market/stream");
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
    /// use marketprism_exchanges::{binance::BinanceCoinm, Exchange};
    /// let req = BinanceCoinm.snapshot_request("BTCUSD_PERP").expect("REST snapshots");
    /// assert_eq!(req.path_and_query, "/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000");
    /// assert_eq!(req.weight, 20);
    /// ```
    BinanceCoinm, Venue::BinanceCoinm,
    ws: "wss://dstream.binance.com", rest: "https://dapi.binance.com",
    streams: 200, msgs: 10, weight: 2400
);
