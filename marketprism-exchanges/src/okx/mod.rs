//! OKX v5 public market data: spot, perpetual swaps, dated futures and options on one API
//! (<https://www.okx.com/docs-v5/en/>).
//!
//! | channel | OKX source | event |
//! |---|---|---|
//! | [`Trades`](Channel::Trades) | ws `trades` (also parses `trades-all`) | [`Trade`](marketprism_core::model::Trade) |
//! | [`Book`](Channel::Book) | ws `books` (also `books-l2-tbt`, `books50-l2-tbt`), `action` snapshot/update, `seqId`/`prevSeqId`, CRC32 `checksum` | `BookSnapshot`, then `BookDelta`s |
//! | — | ws `books5` (parsed when received) | `BookSnapshot` (top 5 each push) |
//! | [`Bbo`](Channel::Bbo) | ws `bbo-tbt` | `Bbo` |
//! | [`Ticker`](Channel::Ticker) | ws `tickers` | `Ticker` (with best bid/ask) |
//! | [`Funding`](Channel::Funding) | ws `funding-rate` (REST `/api/v5/public/funding-rate`) | `FundingRate` |
//! | [`OpenInterest`](Channel::OpenInterest) | ws `open-interest` (REST `/api/v5/public/open-interest`) | `OpenInterest` |
//! | [`MarkPrice`](Channel::MarkPrice) | ws `mark-price`; ws `index-tickers` for `BASE-QUOTE` ids | `MarkPrice` (index: market `index`) |
//! | [`Liquidations`](Channel::Liquidations) | ws `liquidation-orders` (by `instType`) | one `Liquidation` per `details` element |
//! | [`Kline`](Channel::Kline) | ws `candle1m` on `/ws/v5/business` | `Kline` |
//! | [`LongShortRatio`](Channel::LongShortRatio) | REST `/api/v5/rubik/stat/contracts/long-short-*` (5 min polls) | `LongShortRatio` |
//! | depth (REST) | REST `/api/v5/market/books` via [`RestKind::DepthSnapshot`](crate::RestKind) | `BookSnapshot` |
//!
//! Control frames: subscribe/unsubscribe acks (one per arg) → `SubscriptionAck`;
//! `event:error` → `ExchangeError`; `event:notice` (64008, sent 60 s before a server-side
//! disconnect) → `Shutdown` + [`Action::Rotate`](crate::Action::Rotate); text `pong` →
//! `Heartbeat`; `channel-conn-count` → `Control`.
//!
//! Book integrity rules are in the `book` module's docs (sequence chain, keep-alive, exchange reset,
//! checksum, resubscribe per instrument). Docs pages: WebSocket overview
//! <https://www.okx.com/docs-v5/en/#overview-websocket>, market data
//! <https://www.okx.com/docs-v5/en/#order-book-trading-market-data>, public data
//! <https://www.okx.com/docs-v5/en/#public-data-websocket>, trading statistics
//! <https://www.okx.com/docs-v5/en/#trading-statistics-rest-api>.

mod book;
mod checksum;
mod instruments;
mod normalize;
mod normalizer;
mod subscription;
mod wire;

#[cfg(test)]
mod tests;

use std::time::Duration;

use marketprism_core::model::{Instrument, MarketType};

pub use normalizer::OkxNormalizer;
pub use subscription::books_request;

use crate::{
    Channel, Exchange, ExchangeError, InstrumentMap, Keepalive, Normalizer, RestKind, RestRequest,
    Source, Subscription, Venue,
};

/// Subscriptions per subscribe message: 256 args (~15 KB) stay well under OKX's 64 KB args
/// limit, which the frame builder also enforces.
const MAX_SUBSCRIPTIONS_PER_MESSAGE: usize = 256;

/// OKX v5 (spot, swap, futures, options): one instrument table across all types, since
/// `instId` is unique.
///
/// ```
/// use marketprism_exchanges::{okx::Okx, Channel, Exchange, Subscription};
/// let subs = [Subscription::new(Channel::Trades, "BTC-USDT")];
/// assert_eq!(Okx.ws_url(Okx.ws_base_url(), &subs), "wss://ws.okx.com:8443/ws/v5/public");
/// assert_eq!(
///     Okx.subscribe_frames(&subs, 1),
///     [r#"{"id":"1","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}"#]
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Okx;

impl Exchange for Okx {
    fn name(&self) -> &str {
        Venue::Okx.as_str()
    }

    fn exchange_id(&self) -> marketprism_core::model::ExchangeId {
        Venue::Okx.exchange()
    }

    fn ws_base_url(&self) -> &str {
        "wss://ws.okx.com:8443/ws/v5/public"
    }

    fn rest_base_url(&self) -> &str {
        "https://www.okx.com"
    }

    /// OKX documents no per-connection cap for public channels; 256 is our choice so one slow
    /// connection does not carry too many books.
    fn max_streams_per_connection(&self) -> usize {
        256
    }

    /// OKX allows 480 subscribe/unsubscribe requests per hour per connection (3 new
    /// connections per second per IP). One request carries up to
    /// 256 args, so a
    /// connection subscribes in one message; 1/s is the finest this limit can express, and
    /// the hourly budget is the connection layer's to keep (see the crate notes).
    fn max_subscribe_messages_per_sec(&self) -> u32 {
        1
    }

    /// Text `ping` after 25 s without data (OKX drops a connection silent for 30 s).
    fn keepalive(&self) -> Keepalive {
        Keepalive::TextPing {
            idle: Duration::from_secs(25),
        }
    }

    /// No fixed lifetime: OKX announces disconnects with `notice` 64008 instead.
    fn max_connection_lifetime(&self) -> Option<Duration> {
        None
    }

    /// OKX limits REST per endpoint (20 req/2 s for instruments, 5 req/2 s per instrument for
    /// Rubik statistics); one request weighs 1 and this per-minute budget stays below them.
    fn rest_weight_per_minute(&self) -> u32 {
        600
    }

    fn source(&self, channel: Channel, instrument: &Instrument) -> Source {
        let derivative = matches!(
            instrument.market,
            MarketType::Perpetual | MarketType::Future | MarketType::Option
        );
        match channel {
            Channel::Trades | Channel::Book | Channel::Bbo | Channel::Ticker | Channel::Kline => {
                if instrument.market == MarketType::Index {
                    Source::Unsupported
                } else {
                    Source::WebSocket
                }
            }
            Channel::MarkPrice => Source::WebSocket,
            Channel::Funding if instrument.market == MarketType::Perpetual => Source::WebSocket,
            Channel::OpenInterest | Channel::Liquidations if derivative => Source::WebSocket,
            Channel::LongShortRatio
                if matches!(
                    instrument.market,
                    MarketType::Perpetual | MarketType::Future
                ) =>
            {
                Source::Poll(Duration::from_secs(300))
            }
            _ => Source::Unsupported,
        }
    }

    fn ws_url(&self, base: &str, subscriptions: &[Subscription]) -> String {
        subscription::ws_url(base, subscriptions)
    }

    fn subscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        subscription::op_frames(
            "subscribe",
            subscriptions,
            request_id,
            MAX_SUBSCRIPTIONS_PER_MESSAGE,
        )
    }

    fn unsubscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        subscription::op_frames(
            "unsubscribe",
            subscriptions,
            request_id,
            MAX_SUBSCRIPTIONS_PER_MESSAGE,
        )
    }

    fn instruments_requests(&self) -> Vec<RestRequest> {
        subscription::instruments_requests()
    }

    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
        instruments::parse_instruments(body)
    }

    /// `None`: books sync from the WebSocket snapshot and resync by resubscribing.
    fn snapshot_request(&self, _native_symbol: &str) -> Option<RestRequest> {
        None
    }

    fn poll_requests(&self, subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
        subscription::poll_requests(subscription)
    }

    fn normalizer(
        &self,
        instruments: InstrumentMap,
        book_depth: Option<usize>,
    ) -> Box<dyn Normalizer> {
        Box::new(OkxNormalizer::new(instruments, book_depth))
    }
}
