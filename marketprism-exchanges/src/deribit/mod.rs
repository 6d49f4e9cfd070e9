//! Deribit v2 connector: futures, perpetuals, options and spot over JSON-RPC 2.0 WebSocket.
//!
//! | model channel | Deribit channel / endpoint | events |
//! |---|---|---|
//! | trades, liquidations | `trades.{instrument}.100ms` | [`Trade`], [`Liquidation`] (from `liquidation`: `T`/`M`/`MT`) |
//! | book | `book.{instrument}.100ms` (snapshot + `prev_change_id` chain) | [`BookSnapshot`], [`BookDelta`], [`Status`] |
//! | book (grouped) | `book.{instrument}.{group}.{depth}.{interval}` | [`BookSnapshot`] every message |
//! | bbo | `quote.{instrument}` | [`Bbo`] |
//! | ticker, funding, mark price, open interest, option summary | `ticker.{instrument}.100ms` | [`Ticker`], [`FundingRate`] (perpetuals), [`MarkPrice`], [`OpenInterest`], [`OptionSummary`] (options) |
//! | funding | `perpetual.{instrument}.{interval}` | [`FundingRate`] |
//! | mark price (index) | `deribit_price_index.{index}` | [`MarkPrice`] with market `index`, symbol `BTC-USD` |
//! | volatility index | `deribit_volatility_index.{currency}_usd`, REST `public/get_volatility_index_data`; subscribe by currency (`BTC`), index name (`btc_usd`) or any instrument of the currency (`BTC-PERPETUAL`) | [`VolatilityIndex`] `BTC-DVOL` |
//! | kline | `chart.trades.{instrument}.1` | [`Kline`] |
//! | REST snapshot | `public/get_order_book` | [`BookSnapshot`] |
//! | REST open interest / funding | `public/get_book_summary_by_currency`, `_by_instrument` | [`OpenInterest`], [`OptionSummary`], [`FundingRate`] |
//! | control | `heartbeat` (`test_request` → `public/test`), `platform_state`, `announcements` | — |
//!
//! Docs: <https://docs.deribit.com/articles/notifications>,
//! <https://docs.deribit.com/subscriptions/orderbook/bookinstrument_nameinterval>,
//! <https://docs.deribit.com/api-reference/session-management/public-set_heartbeat>,
//! <https://docs.deribit.com/articles/rate-limits>.
//!
//! Limits chosen (see the [`Exchange`] implementation of [`Deribit`]): Deribit has no small
//! per-connection channel cap, so 500 channels per connection; `public/subscribe` costs
//! 3,000 credits from a 30,000 pool refilled at ~10,000/s (docs: "sustained rate ~3.3
//! requests/second", burst 10), so 3 subscribe messages per second of up to 100 channels;
//! non-matching-engine REST calls cost 500 credits (~20/s sustained), so a budget of 1,200
//! weight-1 requests per minute; connections have no maximum lifetime.
//!
//! [`Trade`]: marketprism_core::model::Trade
//! [`Liquidation`]: marketprism_core::model::Liquidation
//! [`BookSnapshot`]: marketprism_core::model::BookSnapshot
//! [`BookDelta`]: marketprism_core::model::BookDelta
//! [`Status`]: marketprism_core::model::Status
//! [`Bbo`]: marketprism_core::model::Bbo
//! [`Ticker`]: marketprism_core::model::Ticker
//! [`FundingRate`]: marketprism_core::model::FundingRate
//! [`MarkPrice`]: marketprism_core::model::MarkPrice
//! [`OpenInterest`]: marketprism_core::model::OpenInterest
//! [`OptionSummary`]: marketprism_core::model::OptionSummary
//! [`VolatilityIndex`]: marketprism_core::model::VolatilityIndex
//! [`Kline`]: marketprism_core::model::Kline

mod book;
mod instruments;
mod normalize;
mod normalizer;
mod subscription;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use marketprism_core::model::{Instrument, MarketType};

pub use instruments::{index_instrument, parse_instruments};
pub use normalizer::DeribitNormalizer;
pub use subscription::channel_name;

use crate::{
    Channel, Exchange, ExchangeError, InstrumentMap, Keepalive, Normalizer, RestKind, RestRequest,
    Source, Subscription, Venue,
};

/// Channels per `public/subscribe` message.
const MAX_SUBSCRIPTIONS_PER_MESSAGE: usize = 100;

/// Heartbeat interval requested with `public/set_heartbeat` (Deribit's minimum is 10 s).
const HEARTBEAT_SECS: u64 = 10;

/// Deribit v2 (`wss://www.deribit.com/ws/api/v2`, `https://www.deribit.com`).
///
/// ```
/// use marketprism_exchanges::{deribit::Deribit, Channel, Exchange, Subscription};
/// let frames = Deribit.subscribe_frames(&[Subscription::new(Channel::Trades, "BTC-PERPETUAL")], 1);
/// assert_eq!(frames, [r#"{"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":["trades.BTC-PERPETUAL.100ms"]}}"#]);
/// assert_eq!(Deribit.on_connect_frames(0).len(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deribit;

impl Exchange for Deribit {
    fn name(&self) -> &str {
        Venue::Deribit.as_str()
    }

    fn exchange_id(&self) -> marketprism_core::model::ExchangeId {
        Venue::Deribit.exchange()
    }

    fn ws_base_url(&self) -> &str {
        "wss://www.deribit.com/ws/api/v2"
    }

    fn rest_base_url(&self) -> &str {
        "https://www.deribit.com"
    }

    fn max_streams_per_connection(&self) -> usize {
        500
    }

    fn max_subscribe_messages_per_sec(&self) -> u32 {
        3
    }

    fn keepalive(&self) -> Keepalive {
        Keepalive::Heartbeat {
            interval: Duration::from_secs(HEARTBEAT_SECS),
        }
    }

    fn max_connection_lifetime(&self) -> Option<Duration> {
        None
    }

    fn rest_weight_per_minute(&self) -> u32 {
        1200
    }

    fn source(&self, channel: Channel, instrument: &Instrument) -> Source {
        let market = instrument.market;
        let supported = match channel {
            Channel::MarkPrice | Channel::VolatilityIndex => true,
            _ if market == MarketType::Index => false,
            Channel::Trades | Channel::Book | Channel::Bbo | Channel::Ticker | Channel::Kline => {
                true
            }
            Channel::OpenInterest | Channel::Liquidations => market != MarketType::Spot,
            Channel::Funding => market == MarketType::Perpetual,
            Channel::OptionSummary => market == MarketType::Option,
            Channel::LongShortRatio => false,
        };
        if supported {
            Source::WebSocket
        } else {
            Source::Unsupported
        }
    }

    fn ws_url(&self, base: &str, _subscriptions: &[Subscription]) -> String {
        base.trim_end_matches('/').to_owned()
    }

    fn subscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        subscription::channel_frames(
            "public/subscribe",
            subscriptions,
            request_id,
            MAX_SUBSCRIPTIONS_PER_MESSAGE,
        )
    }

    fn unsubscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        subscription::channel_frames(
            "public/unsubscribe",
            subscriptions,
            request_id,
            MAX_SUBSCRIPTIONS_PER_MESSAGE,
        )
    }

    fn on_connect_frames(&self, request_id: u64) -> Vec<String> {
        vec![subscription::set_heartbeat(request_id, HEARTBEAT_SECS)]
    }

    fn instruments_requests(&self) -> Vec<RestRequest> {
        subscription::instruments_requests()
    }

    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
        instruments::parse_instruments(body)
    }

    /// `None`: Deribit books resync by resubscribing (the first message of a subscription is
    /// a full snapshot), not from REST. `public/get_order_book` is still understood by
    /// [`DeribitNormalizer`] with [`RestKind::DepthSnapshot`].
    fn snapshot_request(&self, _native_symbol: &str) -> Option<RestRequest> {
        None
    }

    fn poll_requests(&self, subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
        subscription::poll_requests(subscription)
    }

    fn index_instrument(&self, instruments: &InstrumentMap, symbol: &str) -> Option<Instrument> {
        index_instrument(instruments, symbol)
    }

    fn normalizer(
        &self,
        instruments: InstrumentMap,
        book_depth: Option<usize>,
    ) -> Box<dyn Normalizer> {
        Box::new(DeribitNormalizer::new(instruments, book_depth))
    }
}

/// The `public/get_order_book` request for an explicit REST image of one instrument
/// (answer with [`RestKind::DepthSnapshot`]).
///
/// ```
/// let r = marketprism_exchanges::deribit::order_book_request("BTC-PERPETUAL");
/// assert!(r.path_and_query.starts_with("/api/v2/public/get_order_book?instrument_name=BTC-PERPETUAL"));
/// ```
pub fn order_book_request(native_symbol: &str) -> RestRequest {
    subscription::order_book_request(native_symbol)
}
