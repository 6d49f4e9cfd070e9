//! # Bybit v5 spot for MarketPrism, from outside its crates
//!
//! An example of the extension point: [`Bybit`] implements
//! [`marketprism_exchanges::Exchange`] with the public API of
//! `marketprism-exchanges` and `marketprism-core` only, and gets what the built-in venues get:
//! connections within the venue's limits, keep-alive, per-instrument book resync, the REST
//! weight budget, capture/replay, and a place in the reference collector
//! ([`Collector::exchange`](marketprism_bins::collector::Collector::exchange); see
//! `src/bin/bybit-collector.rs`).
//!
//! | channel | Bybit source | event |
//! |---|---|---|
//! | [`Trades`](Channel::Trades) | ws `publicTrade.{symbol}` | `Trade` |
//! | [`Book`](Channel::Book) | ws `orderbook.50.{symbol}`: `snapshot`, then `delta`s with `u` + 1 | `BookSnapshot`, then `BookDelta`s |
//!
//! Docs: <https://bybit-exchange.github.io/docs/v5/websocket/public/trade>,
//! <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>,
//! <https://bybit-exchange.github.io/docs/v5/ws/connect> (subscribe, ping).
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use marketprism_exchanges::{Channel, Exchange, MarketStream};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bybit: Arc<dyn Exchange> = Arc::new(marketprism_example_bybit::Bybit::new()?);
//! let mut stream = MarketStream::builder()
//!     .subscribe(bybit, [Channel::Trades, Channel::Book], ["BTC-USDT"])
//!     .start()
//!     .await?;
//! while let Some(event) = stream.next().await {
//!     # let _ = event;
//! }
//! # Ok(()) }
//! ```

pub mod normalizer;
pub mod wire;

use std::time::Duration;

use marketprism_core::model::{ExchangeId, Instrument, MarketType};
use marketprism_exchanges::{
    Channel, Exchange, ExchangeError, InstrumentMap, Keepalive, Normalizer, RestRequest, Source,
    Subscription,
};

pub use normalizer::BybitNormalizer;

/// Topics per subscribe request (Bybit spot accepts at most 10 args per request).
const ARGS_PER_REQUEST: usize = 10;

/// The keep-alive frame, sent every 20 s as the docs recommend.
pub const PING: &str = r#"{"op":"ping"}"#;

/// Bybit v5 spot public market data: trades and the 50-level order book.
///
/// ```
/// use marketprism_exchanges::{Channel, Exchange, Subscription};
/// let bybit = marketprism_example_bybit::Bybit::new().expect("valid name");
/// let subs = [
///     Subscription::new(Channel::Trades, "BTCUSDT"),
///     Subscription::new(Channel::Book, "BTCUSDT"),
/// ];
/// assert_eq!(
///     bybit.subscribe_frames(&subs, 7),
///     [r#"{"op":"subscribe","req_id":"7","args":["publicTrade.BTCUSDT","orderbook.50.BTCUSDT"]}"#]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Bybit {
    id: ExchangeId,
    ws: String,
    rest: String,
    ping_every: Duration,
}

impl Bybit {
    /// Bybit's production endpoints.
    pub fn new() -> Result<Self, ExchangeError> {
        Self::with_urls(
            "wss://stream.bybit.com/v5/public/spot",
            "https://api.bybit.com",
        )
    }

    /// Other endpoints as the defaults (testnet, a proxy, a local server).
    pub fn with_urls(
        ws: impl Into<String>,
        rest: impl Into<String>,
    ) -> Result<Self, ExchangeError> {
        Ok(Bybit {
            id: ExchangeId::new("bybit")?,
            ws: ws.into(),
            rest: rest.into(),
            ping_every: Duration::from_secs(20),
        })
    }

    /// Sends `{"op":"ping"}` at this interval instead of every 20 s.
    #[must_use]
    pub fn ping_interval(mut self, every: Duration) -> Self {
        self.ping_every = every;
        self
    }
}

/// The Bybit topic of a subscription (`None` for channels not offered here).
pub fn topic(subscription: &Subscription) -> Option<String> {
    match subscription.channel {
        Channel::Trades => Some(format!("publicTrade.{}", subscription.native_symbol)),
        Channel::Book => Some(format!("orderbook.50.{}", subscription.native_symbol)),
        _ => None,
    }
}

fn op_frames(op: &str, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
    let topics: Vec<String> = subscriptions.iter().filter_map(topic).collect();
    topics
        .chunks(ARGS_PER_REQUEST)
        .zip(request_id..)
        .map(|(args, id)| {
            // In the documentation's field order; topics are plain ASCII names.
            let args = serde_json::to_string(args).unwrap_or_default();
            format!(r#"{{"op":"{op}","req_id":"{id}","args":{args}}}"#)
        })
        .collect()
}

impl Exchange for Bybit {
    fn name(&self) -> &str {
        "bybit"
    }

    fn exchange_id(&self) -> ExchangeId {
        self.id
    }

    fn ws_base_url(&self) -> &str {
        &self.ws
    }

    fn rest_base_url(&self) -> &str {
        &self.rest
    }

    /// Our choice: Bybit caps args per request (10 on spot), not topics per connection.
    fn max_streams_per_connection(&self) -> usize {
        100
    }

    /// Bybit limits new connections (500 per 5 minutes per IP), not requests per connection;
    /// ten requests a second subscribe 100 topics in one second.
    fn max_subscribe_messages_per_sec(&self) -> u32 {
        10
    }

    fn subscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        op_frames("subscribe", subscriptions, request_id)
    }

    /// Sent before a resubscribe: the subscribe that follows brings a fresh snapshot.
    fn unsubscribe_frames(&self, subscriptions: &[Subscription], request_id: u64) -> Vec<String> {
        op_frames("unsubscribe", subscriptions, request_id)
    }

    /// `{"op":"ping"}` every 20 s, whatever the traffic (the docs' recommendation).
    fn keepalive(&self) -> Keepalive {
        Keepalive::Periodic {
            interval: self.ping_every,
            frame: PING,
        }
    }

    /// Bybit's public REST limit is 600 requests per 5 s per IP; instrument loading is the
    /// only REST use here, so a small budget is plenty.
    fn rest_weight_per_minute(&self) -> u32 {
        120
    }

    fn source(&self, channel: Channel, instrument: &Instrument) -> Source {
        match channel {
            Channel::Trades | Channel::Book if instrument.market == MarketType::Spot => {
                Source::WebSocket
            }
            _ => Source::Unsupported,
        }
    }

    fn instruments_requests(&self) -> Vec<RestRequest> {
        vec![RestRequest::new(
            "/v5/market/instruments-info?category=spot",
            1,
        )]
    }

    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
        parse_instruments(self.id, body)
    }

    fn normalizer(
        &self,
        instruments: InstrumentMap,
        book_depth: Option<usize>,
    ) -> Box<dyn Normalizer> {
        Box::new(BybitNormalizer::new(self.id, instruments, book_depth))
    }
}

/// Parses `GET /v5/market/instruments-info?category=spot` into instruments (those with
/// status `Trading`).
pub fn parse_instruments(id: ExchangeId, body: &str) -> Result<Vec<Instrument>, ExchangeError> {
    let response: wire::InstrumentsResponse =
        serde_json::from_str(body).map_err(|source| ExchangeError::Malformed {
            exchange: id,
            what: "instruments-info",
            source,
        })?;
    if response.ret_code != 0 {
        return Err(ExchangeError::Invalid {
            exchange: id,
            what: "instruments-info",
            detail: format!("retCode {}: {}", response.ret_code, response.ret_msg),
        });
    }
    let list = response.result.map(|r| r.list).unwrap_or_default();
    Ok(list
        .into_iter()
        .filter(|i| i.status == "Trading")
        .map(|i| {
            let mut inst =
                Instrument::new(id, MarketType::Spot, i.symbol, i.base_coin, i.quote_coin);
            if let Some(tick) = i.price_filter.and_then(|p| p.tick_size) {
                inst = inst.with_tick_size(tick);
            }
            if let Some(lot) = i.lot_size_filter.and_then(|l| l.base_precision) {
                inst = inst.with_lot_size(lot);
            }
            inst
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruments_keep_trading_symbols_with_their_increments() {
        let body = r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[
            {"symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","status":"Trading",
             "lotSizeFilter":{"basePrecision":"0.000001"},"priceFilter":{"tickSize":"0.01"}},
            {"symbol":"OLDUSDT","baseCoin":"OLD","quoteCoin":"USDT","status":"Closed"}]}}"#;
        let bybit = Bybit::new().expect("bybit");
        let list = bybit.parse_instruments(body).expect("parsed");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].symbol.as_str(), "BTC-USDT");
        assert_eq!(
            list[0].tick_size.map(|d| d.to_string()).as_deref(),
            Some("0.01")
        );
        assert_eq!(
            list[0].lot_size.map(|d| d.to_string()).as_deref(),
            Some("0.000001")
        );
        let err = bybit.parse_instruments(r#"{"retCode":10001,"retMsg":"bad","result":null}"#);
        assert!(err.is_err());
    }

    #[test]
    fn subscribe_frames_hold_ten_topics_each() {
        let subs: Vec<Subscription> = (0..12)
            .map(|i| Subscription::new(Channel::Trades, format!("S{i}USDT")))
            .collect();
        let bybit = Bybit::new().expect("bybit");
        let frames = bybit.subscribe_frames(&subs, 1);
        assert_eq!(frames.len(), 2);
        assert!(frames[1].contains(r#""req_id":"2""#), "{}", frames[1]);
        assert!(frames[1].contains("publicTrade.S11USDT"));
    }
}
