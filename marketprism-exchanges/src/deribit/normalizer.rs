//! The Deribit [`Normalizer`]: dispatches a frame by its JSON-RPC shape and channel.

use std::{collections::HashMap, sync::Arc};

use marketprism_core::{
    book::OrderBook,
    model::{ExchangeId, Instrument, MarketType, Symbol, TimestampNs},
};

use super::{
    book::{Books, SyncState},
    normalize,
    subscription::test_request,
    wire::{
        ChannelKind, Data, Frame, GroupedBookData, ResultShape, RpcError, fast,
        rest::{BookSummary, Response, VolIndexCandles},
    },
};
use crate::{ExchangeError, FrameKind, InstrumentMap, Normalizer, Output, RestKind};

const EX: ExchangeId = ExchangeId::DERIBIT;

/// The fast path handles book, trades and ticker data, whose handling needs no channel name.
const FAST_PATH_CHANNEL: &str = "";

/// Request ids of our `public/test` answers start here, away from subscription ids.
const FIRST_TEST_REQUEST_ID: u64 = 1 << 40;

/// Normalizes Deribit v2 frames and REST bodies; keeps the per-instrument book chains.
///
/// ```
/// use marketprism_core::model::{ExchangeId, Instrument, MarketEvent, MarketType};
/// use marketprism_exchanges::{deribit::DeribitNormalizer, InstrumentMap, Normalizer, Output, FrameKind};
/// let map = InstrumentMap::from_iter([
///     Instrument::new(ExchangeId::DERIBIT, MarketType::Perpetual, "BTC-PERPETUAL", "BTC", "USD"),
/// ]);
/// let mut n = DeribitNormalizer::new(map, None);
/// let mut out = Output::new();
/// let frame = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"quote.BTC-PERPETUAL",
///   "data":{"timestamp":1654012882984,"instrument_name":"BTC-PERPETUAL","best_bid_price":32143.0,
///   "best_bid_amount":179960.0,"best_ask_price":32143.5,"best_ask_amount":20.0}}}"#;
/// assert_eq!(n.on_frame(frame, 1, &mut out)?, FrameKind::Data);
/// assert!(matches!(&out.events[0], MarketEvent::Bbo(b) if b.symbol.as_str() == "BTC-USD-PERP"));
/// # Ok::<_, marketprism_exchanges::ExchangeError>(())
/// ```
#[derive(Debug)]
pub struct DeribitNormalizer {
    instruments: InstrumentMap,
    books: Books,
    depth: Option<usize>,
    index_symbols: HashMap<Box<str>, Symbol>,
    dvol_symbols: HashMap<Box<str>, Symbol>,
    next_request_id: u64,
}

impl DeribitNormalizer {
    /// A normalizer over `instruments`, keeping books to `book_depth` levels per side.
    pub fn new(instruments: InstrumentMap, book_depth: Option<usize>) -> Self {
        DeribitNormalizer {
            instruments,
            books: Books::new(book_depth),
            depth: book_depth,
            index_symbols: HashMap::new(),
            dvol_symbols: HashMap::new(),
            next_request_id: FIRST_TEST_REQUEST_ID,
        }
    }

    /// The maintained book of an instrument, when it is live (synced and chained).
    pub fn book(&self, native_symbol: &str) -> Option<&OrderBook> {
        match self.books.book(native_symbol) {
            Some((book, SyncState::Live)) => Some(book),
            _ => None,
        }
    }

    /// The book of an instrument in any state, with whether it is live (for tests).
    #[cfg(test)]
    pub(crate) fn book_state(&self, native_symbol: &str) -> Option<(&OrderBook, bool)> {
        self.books
            .book(native_symbol)
            .map(|(b, s)| (b, s == SyncState::Live))
    }

    /// Handles a notification; a rejected one leaves no partial output behind.
    fn notification(
        &mut self,
        channel: &str,
        data: Data<'_>,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let (events, actions) = (out.events.len(), out.actions.len());
        let result = self.on_notification(channel, data, local_ts, out);
        if result.is_err() {
            out.events.truncate(events);
            out.actions.truncate(actions);
        }
        result
    }

    fn on_notification(
        &mut self,
        channel: &str,
        data: Data<'_>,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let instruments = &self.instruments;
        match data {
            Data::Book(b) => {
                self.books.on_message(
                    b,
                    |name| lookup(instruments, name).cloned(),
                    local_ts,
                    out,
                )?;
            }
            Data::GroupedBook(b) => {
                let inst = lookup(instruments, b.instrument_name)?;
                out.events
                    .push(normalize::full_image(inst, &b, self.depth, local_ts));
            }
            Data::Trades(trades) => {
                for t in &trades {
                    let inst = lookup(instruments, t.instrument_name)?;
                    normalize::trade(inst, t, local_ts, &mut out.events)?;
                }
            }
            Data::Ticker(t) => {
                let inst = lookup(instruments, t.instrument_name)?;
                normalize::ticker(inst, &t, local_ts, &mut out.events);
            }
            Data::Quote(q) => {
                let inst = lookup(instruments, q.instrument_name)?;
                out.events.push(normalize::quote(inst, &q, local_ts));
            }
            Data::Chart(c) => {
                let (name, resolution) = channel
                    .strip_prefix("chart.trades.")
                    .and_then(|rest| rest.rsplit_once('.'))
                    .ok_or_else(|| invalid("chart", format!("channel `{channel}`")))?;
                let inst = lookup(instruments, name)?;
                out.events
                    .push(normalize::kline(inst, resolution, &c, local_ts));
            }
            Data::PriceIndex(p) => {
                let symbol = cached(&mut self.index_symbols, p.index_name, || {
                    normalize::index_symbol_text(p.index_name)
                });
                out.events
                    .push(normalize::price_index(symbol, &p, local_ts));
            }
            Data::VolatilityIndex(v) => {
                let symbol = cached(&mut self.dvol_symbols, v.index_name, || {
                    normalize::dvol_symbol_text(v.index_name)
                });
                out.events.push(normalize::volatility_index(
                    symbol,
                    v.volatility,
                    v.timestamp,
                    local_ts,
                ));
            }
            Data::Perpetual(p) => {
                let name = channel
                    .strip_prefix("perpetual.")
                    .and_then(|rest| rest.rsplit_once('.'))
                    .map(|(name, _)| name)
                    .ok_or_else(|| invalid("perpetual", format!("channel `{channel}`")))?;
                let inst = lookup(instruments, name)?;
                out.events.push(normalize::perpetual(inst, &p, local_ts));
            }
            Data::Ignored => {
                return match ChannelKind::of(channel) {
                    ChannelKind::PlatformState | ChannelKind::Announcements => {
                        Ok(FrameKind::Control)
                    }
                    _ => Err(ExchangeError::Unsupported {
                        exchange: EX,
                        detail: format!("channel `{channel}`"),
                    }),
                };
            }
        }
        Ok(FrameKind::Data)
    }

    fn on_rest_inner(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        match kind {
            RestKind::DepthSnapshot { .. } => {
                let b = rest_result::<GroupedBookData<'_>>(body, "get_order_book")?;
                let inst = lookup(&self.instruments, b.instrument_name)?;
                out.events
                    .push(normalize::full_image(inst, &b, self.depth, local_ts));
            }
            RestKind::OpenInterest { .. } => {
                let list = rest_result::<Vec<BookSummary<'_>>>(body, "get_book_summary")?;
                // A per-currency summary lists every instrument, including ones not
                // loaded (combos): those are skipped rather than failing the whole body.
                for s in &list {
                    if let Some(inst) = self.instruments.by_native(s.instrument_name) {
                        normalize::book_summary(inst, s, local_ts, &mut out.events);
                    }
                }
            }
            RestKind::FundingRate { .. } => {
                let list = rest_result::<Vec<BookSummary<'_>>>(body, "get_book_summary")?;
                for s in &list {
                    match self.instruments.by_native(s.instrument_name) {
                        Some(inst) if inst.market == MarketType::Perpetual => {
                            out.events
                                .extend(normalize::summary_funding(inst, s, local_ts));
                        }
                        _ => {}
                    }
                }
            }
            RestKind::VolatilityIndex { currency } => {
                let candles = rest_result::<VolIndexCandles>(body, "get_volatility_index_data")?;
                // Polling returns a window of candles; the newest close is the current value.
                if let Some((ts, _, _, _, close)) = candles.data.iter().max_by_key(|c| c.0) {
                    let symbol = cached(&mut self.dvol_symbols, currency, || {
                        normalize::dvol_symbol_text(currency)
                    });
                    out.events
                        .push(normalize::volatility_index(symbol, close.0, *ts, local_ts));
                }
            }
            RestKind::LongShortRatio { .. } => {
                return Err(ExchangeError::Unsupported {
                    exchange: EX,
                    detail: "long/short ratio".to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl Normalizer for DeribitNormalizer {
    fn on_frame(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        // Hot path: book changes, trades and tickers in their usual shape, scanned in one pass.
        if let Some(data) = fast::scan(frame) {
            return self.notification(FAST_PATH_CHANNEL, data, local_ts, out);
        }
        let frame: Frame<'_> =
            serde_json::from_str(frame).map_err(|source| ExchangeError::Malformed {
                exchange: EX,
                what: "frame",
                source,
            })?;
        if let Some(error) = frame.error {
            return Ok(exchange_error(&error));
        }
        match frame.method {
            Some("subscription") => {
                let params = frame.params.unwrap_or_default();
                let (Some(channel), Some(data)) = (params.channel, params.data) else {
                    return Err(invalid("subscription", "no channel or data".to_owned()));
                };
                self.notification(channel, data, local_ts, out)
            }
            Some("heartbeat") => match frame.params.and_then(|p| p.kind) {
                Some("test_request") => {
                    let id = self.next_request_id;
                    self.next_request_id += 1;
                    out.actions.push(crate::Action::Send(test_request(id)));
                    Ok(FrameKind::Control)
                }
                _ => Ok(FrameKind::Heartbeat),
            },
            // Requests are what a client sends; a server never does.
            Some(method) => Err(ExchangeError::Unsupported {
                exchange: EX,
                detail: format!("request frame `{method}`"),
            }),
            None => match frame.result.map(ResultShape::of) {
                Some(ResultShape::List | ResultShape::Text) => Ok(FrameKind::SubscriptionAck),
                // `public/test` answers `{"version":..}`: the reply to our heartbeat answer.
                Some(ResultShape::Object) => Ok(FrameKind::Heartbeat),
                Some(ResultShape::Other) => Ok(FrameKind::Control),
                None => Err(invalid("frame", "no method, result or error".to_owned())),
            },
        }
    }

    fn on_rest(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let (events, actions) = (out.events.len(), out.actions.len());
        let result = self.on_rest_inner(kind, body, local_ts, out);
        if result.is_err() {
            out.events.truncate(events);
            out.actions.truncate(actions);
        }
        result
    }

    fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output) {
        self.books.on_disconnect(local_ts, out);
    }

    fn emit_books(&mut self, local_ts: TimestampNs, out: &mut Output) {
        self.books.emit_snapshots(local_ts, out);
    }
}

fn lookup<'m>(map: &'m InstrumentMap, native: &str) -> Result<&'m Arc<Instrument>, ExchangeError> {
    map.by_native(native)
        .ok_or_else(|| ExchangeError::UnknownInstrument {
            exchange: EX,
            native_symbol: native.to_owned(),
        })
}

fn cached(
    cache: &mut HashMap<Box<str>, Symbol>,
    key: &str,
    make: impl FnOnce() -> String,
) -> Symbol {
    if let Some(s) = cache.get(key) {
        return s.clone();
    }
    let symbol = Symbol::from(make());
    cache.insert(key.into(), symbol.clone());
    symbol
}

fn invalid(what: &'static str, detail: String) -> ExchangeError {
    ExchangeError::Invalid {
        exchange: EX,
        what,
        detail,
    }
}

fn exchange_error(e: &RpcError<'_>) -> FrameKind {
    let mut message = e.message.clone().into_owned();
    if let Some(data) = &e.data {
        if let Some(reason) = &data.reason {
            message.push_str(": ");
            message.push_str(reason);
        }
        if let Some(param) = &data.param {
            message.push_str(" (");
            message.push_str(param);
            message.push(')');
        }
    }
    FrameKind::ExchangeError {
        code: e.code.to_string(),
        message,
    }
}

/// The `result` of a REST body, or the exchange's error as [`ExchangeError::Invalid`].
fn rest_result<'a, T: serde::Deserialize<'a>>(
    body: &'a str,
    what: &'static str,
) -> Result<T, ExchangeError> {
    let response: Response<'a, T> =
        serde_json::from_str(body).map_err(|source| ExchangeError::Malformed {
            exchange: EX,
            what,
            source,
        })?;
    match (response.result, response.error) {
        (_, Some(e)) => Err(invalid(what, format!("error {}: {}", e.code, e.message))),
        (Some(r), None) => Ok(r),
        (None, None) => Err(invalid(what, "no result".to_owned())),
    }
}
