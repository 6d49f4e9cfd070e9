//! The Binance [`Normalizer`]: one type for the three venues (spot, USDⓈ-M, COIN-M), which
//! share the wire protocol and differ in book-sequencing rules and COIN-M contract units.

use std::sync::Arc;

use crate::instruments::FastMap;
use marketprism_core::{
    book::OrderBook,
    model::{BookSnapshot, ExchangeId, Instrument, Level, MarketEvent, TimestampNs, ms_to_ns},
};
use serde::Deserialize;

use super::{
    book::{BookSync, DEFAULT_MAX_BUFFER, Diff, Rules},
    normalize,
    wire::{
        self, Probe,
        book::{DepthImage, DepthUpdate},
        fast,
        market::{
            AggTradeMsg, AvgPriceMsg, BookTickerMsg, ForceOrderMsg, KlineMsg, MarkPriceMsg,
            TickerMsg, TradeMsg,
        },
    },
};
use crate::{Action, ExchangeError, FrameKind, InstrumentMap, Normalizer, Output, RestKind, Venue};

pub(super) const EX: ExchangeId = ExchangeId::BINANCE;

/// What a payload is, from its `e` field (and, for depth, the stream name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind<'a> {
    Trade,
    AggTrade,
    DepthDiff,
    DepthImage,
    BookTicker,
    Ticker,
    Kline,
    MarkPrice,
    ForceOrder,
    AvgPrice,
    Shutdown,
    Other(&'a str),
}

impl<'a> Kind<'a> {
    fn of_event(e: &'a str, stream: Option<&str>) -> Self {
        match e {
            "trade" => Kind::Trade,
            "aggTrade" => Kind::AggTrade,
            "depthUpdate" if stream.is_some_and(wire::is_partial_depth_stream) => Kind::DepthImage,
            "depthUpdate" => Kind::DepthDiff,
            "bookTicker" => Kind::BookTicker,
            "24hrTicker" | "24hrMiniTicker" | "1hTicker" | "4hTicker" | "1dTicker" => Kind::Ticker,
            "kline" => Kind::Kline,
            "markPriceUpdate" => Kind::MarkPrice,
            "forceOrder" => Kind::ForceOrder,
            "avgPrice" => Kind::AvgPrice,
            "serverShutdown" => Kind::Shutdown,
            other => Kind::Other(other),
        }
    }
}

pub(super) fn parse<'a, T: Deserialize<'a>>(
    text: &'a str,
    what: &'static str,
) -> Result<T, ExchangeError> {
    serde_json::from_str(text).map_err(|source| ExchangeError::Malformed {
        exchange: EX,
        what,
        source,
    })
}

pub(super) fn unknown(native: &str) -> ExchangeError {
    ExchangeError::UnknownInstrument {
        exchange: EX,
        native_symbol: native.to_owned(),
    }
}

/// Normalizes Binance frames and REST bodies of one venue, keeping one synced book per
/// instrument. See the [module docs](super) for the channel table and the sync rules.
#[derive(Debug)]
pub struct BinanceNormalizer {
    pub(super) venue: Venue,
    pub(super) instruments: InstrumentMap,
    depth: Option<usize>,
    max_buffer: usize,
    books: FastMap<Box<str>, BookSync>,
}

impl BinanceNormalizer {
    /// A normalizer for `venue` over `instruments`, keeping `book_depth` levels per side
    /// (all levels of the 1000-level snapshot and later updates when `None`).
    pub fn new(venue: Venue, instruments: InstrumentMap, book_depth: Option<usize>) -> Self {
        BinanceNormalizer {
            venue,
            instruments,
            depth: book_depth,
            max_buffer: DEFAULT_MAX_BUFFER,
            books: FastMap::default(),
        }
    }

    /// Bounds the per-instrument buffer of diffs awaiting a snapshot (default 10 000); on
    /// overflow the buffer is dropped, a `BookResync` status emitted and a new snapshot asked.
    pub fn with_max_buffer(mut self, max: usize) -> Self {
        self.max_buffer = max.max(1);
        self
    }

    /// The venue.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// The maintained book of an instrument, once synced.
    pub fn book(&self, native_symbol: &str) -> Option<&OrderBook> {
        self.books
            .get(native_symbol)
            .filter(|b| b.is_synced())
            .map(BookSync::book)
    }

    /// Number of diffs of an instrument waiting for a snapshot.
    pub fn buffered(&self, native_symbol: &str) -> usize {
        self.books.get(native_symbol).map_or(0, BookSync::buffered)
    }

    fn rules(&self) -> Rules {
        if self.venue == Venue::BinanceSpot {
            Rules::Spot
        } else {
            Rules::Futures
        }
    }

    pub(super) fn coinm(&self) -> bool {
        self.venue == Venue::BinanceCoinm
    }

    /// Runs `f` on the instrument's book state, creating it on first use (the lookup by
    /// `&str` allocates nothing on the hot path).
    pub(super) fn with_book(&mut self, inst: &Arc<Instrument>, f: impl FnOnce(&mut BookSync)) {
        if let Some(book) = self.books.get_mut(inst.native_symbol.as_str()) {
            f(book);
            return;
        }
        let mut book = BookSync::new(self.rules(), Arc::clone(inst), self.depth, self.max_buffer);
        f(&mut book);
        self.books.insert(inst.native_symbol.as_str().into(), book);
    }

    /// A payload, with its stream name when it came wrapped.
    fn payload(
        &mut self,
        stream: Option<&str>,
        data: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        if let Some(e) = wire::sniff_event(data) {
            return self.dispatch(Kind::of_event(e, stream), stream, data, local_ts, out);
        }
        if let Some(stream) = stream {
            // Spot payloads without `e`: identified by their stream name.
            if stream.ends_with("@bookTicker") || stream == "!bookTicker" {
                return self.dispatch(Kind::BookTicker, Some(stream), data, local_ts, out);
            }
            if wire::is_partial_depth_stream(stream) {
                return self.dispatch(Kind::DepthImage, Some(stream), data, local_ts, out);
            }
        }
        if data.trim_start().starts_with('[') {
            let empty: Vec<serde::de::IgnoredAny> = parse(data, "array payload")?;
            return if empty.is_empty() {
                Ok(FrameKind::Data)
            } else {
                Err(ExchangeError::Unsupported {
                    exchange: EX,
                    detail: format!("array payload on stream {stream:?}"),
                })
            };
        }
        let probe: Probe<'_> = parse(data, "payload")?;
        let kind = match probe.e {
            Some(e) => Kind::of_event(e, stream),
            None if probe.last_update_id => Kind::DepthImage,
            None if probe.u && probe.s.is_some() => Kind::BookTicker,
            None => {
                return Err(ExchangeError::Unsupported {
                    exchange: EX,
                    detail: "payload without an event type".to_owned(),
                });
            }
        };
        self.dispatch(kind, stream, data, local_ts, out)
    }

    fn dispatch(
        &mut self,
        kind: Kind<'_>,
        stream: Option<&str>,
        data: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let ins = &self.instruments;
        let array = data.starts_with('[');
        match kind {
            Kind::Trade => {
                let m: TradeMsg<'_> = match fast::trade(data) {
                    Some(m) => m,
                    None => parse(data, "trade")?,
                };
                let inst = ins.by_native(m.symbol).ok_or_else(|| unknown(m.symbol))?;
                out.events
                    .extend(normalize::trade(inst, &m, local_ts).map(MarketEvent::Trade));
            }
            Kind::AggTrade => {
                let m: AggTradeMsg<'_> = match fast::agg_trade(data) {
                    Some(m) => m,
                    None => parse(data, "aggTrade")?,
                };
                let inst = ins.by_native(m.symbol).ok_or_else(|| unknown(m.symbol))?;
                out.events
                    .push(MarketEvent::Trade(normalize::agg_trade(inst, &m, local_ts)));
            }
            Kind::BookTicker => {
                let m: BookTickerMsg<'_> = match fast::book_ticker(data) {
                    Some(m) => m,
                    None => parse(data, "bookTicker")?,
                };
                let inst = ins.by_native(m.symbol).ok_or_else(|| unknown(m.symbol))?;
                out.events
                    .push(MarketEvent::Bbo(normalize::bbo(inst, &m, local_ts)));
            }
            Kind::Ticker => {
                let coinm = self.coinm();
                let list: Vec<TickerMsg<'_>> = if array {
                    parse(data, "ticker array")?
                } else {
                    vec![parse(data, "ticker")?]
                };
                for m in &list {
                    match ins.by_native(m.symbol) {
                        Some(inst) => out.events.push(MarketEvent::Ticker(normalize::ticker(
                            inst, m, coinm, local_ts,
                        ))),
                        None if array => {} // all-market arrays list instruments we do not track
                        None => return Err(unknown(m.symbol)),
                    }
                }
            }
            Kind::Kline => {
                let m: KlineMsg<'_> = parse(data, "kline")?;
                let inst = ins.by_native(m.symbol).ok_or_else(|| unknown(m.symbol))?;
                out.events.push(MarketEvent::Kline(normalize::kline(
                    inst,
                    &m,
                    self.coinm(),
                    local_ts,
                )));
            }
            Kind::MarkPrice => {
                let list: Vec<MarkPriceMsg<'_>> = if array {
                    parse(data, "markPriceUpdate array")?
                } else {
                    vec![parse(data, "markPriceUpdate")?]
                };
                for m in &list {
                    match ins.by_native(m.symbol) {
                        Some(inst) => {
                            out.events
                                .push(MarketEvent::MarkPrice(normalize::mark_price(
                                    inst, m, local_ts,
                                )));
                            out.events.extend(
                                normalize::funding(inst, m, local_ts).map(MarketEvent::FundingRate),
                            );
                        }
                        None if array => {}
                        None => return Err(unknown(m.symbol)),
                    }
                }
            }
            Kind::ForceOrder => {
                let m: ForceOrderMsg<'_> = parse(data, "forceOrder")?;
                let inst = ins
                    .by_native(m.order.symbol)
                    .ok_or_else(|| unknown(m.order.symbol))?;
                let liq = normalize::liquidation(inst, &m, local_ts).ok_or_else(|| {
                    ExchangeError::Invalid {
                        exchange: EX,
                        what: "forceOrder",
                        detail: format!("unknown side `{}`", m.order.side),
                    }
                })?;
                out.events.push(MarketEvent::Liquidation(liq));
            }
            Kind::AvgPrice => {
                // Validated, then deliberately mapped to no event (see `AvgPriceMsg`).
                let m: AvgPriceMsg<'_> = parse(data, "avgPrice")?;
                ins.by_native(m.symbol).ok_or_else(|| unknown(m.symbol))?;
            }
            Kind::Shutdown => {
                out.actions.push(Action::Rotate {
                    reason: "serverShutdown".to_owned(),
                });
                return Ok(FrameKind::Shutdown);
            }
            Kind::DepthDiff => self.depth_diff(data, local_ts, out)?,
            Kind::DepthImage => self.depth_image(stream, data, local_ts, out)?,
            Kind::Other(e) => {
                return Err(ExchangeError::Unsupported {
                    exchange: EX,
                    detail: format!("event `{e}`"),
                });
            }
        }
        Ok(FrameKind::Data)
    }

    fn depth_diff(
        &mut self,
        data: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let m: DepthUpdate<'_> = match fast::depth_update(data) {
            Some(m) => m,
            None => parse(data, "depthUpdate")?,
        };
        let inst = self
            .instruments
            .by_native(m.symbol)
            .ok_or_else(|| unknown(m.symbol))?
            .clone();
        let diff = Diff {
            first: m.first_id,
            last: m.last_id,
            prev: m.prev_last_id,
            exchange_ts: ms_to_ns(m.transaction_time.unwrap_or(m.event_time)),
            local_ts,
            bids: m.bids,
            asks: m.asks,
        };
        self.with_book(&inst, |b| b.on_diff(diff, out));
        Ok(())
    }

    /// A top-N image (`@depth5/10/20`) → [`BookSnapshot`]; independent of the synced book.
    fn depth_image(
        &mut self,
        stream: Option<&str>,
        data: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let (inst, sequence, exchange_ts, mut bids, mut asks) = if wire::sniff_event(data).is_some()
        {
            // Futures: a full depthUpdate event carrying the top N levels.
            let m: DepthUpdate<'_> = parse(data, "partial depthUpdate")?;
            let inst = self
                .instruments
                .by_native(m.symbol)
                .ok_or_else(|| unknown(m.symbol))?;
            let ts = ms_to_ns(m.transaction_time.unwrap_or(m.event_time));
            (inst, m.last_id, ts, m.bids, m.asks)
        } else {
            // Spot: no symbol in the payload, only in the combined stream name.
            let m: DepthImage = parse(data, "partial depth")?;
            let lower = stream
                .map(wire::stream_symbol)
                .ok_or_else(|| ExchangeError::Invalid {
                    exchange: EX,
                    what: "partial depth",
                    detail: "spot partial depth without a stream name names no symbol".to_owned(),
                })?;
            let native = lower.to_ascii_uppercase();
            let inst = self
                .instruments
                .by_native(&native)
                .ok_or_else(|| unknown(&native))?;
            let ts = m
                .transaction_time
                .or(m.event_time)
                .map_or(local_ts, ms_to_ns);
            (inst, m.last_update_id, ts, m.bids, m.asks)
        };
        // Exchanges send images best first; sorting (linear when already sorted) guarantees it.
        bids.sort_by_key(|l: &Level| std::cmp::Reverse(l.price));
        asks.sort_by_key(|l: &Level| l.price);
        out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
            exchange: inst.exchange,
            market: inst.market,
            symbol: inst.symbol.clone(),
            sequence,
            bids,
            asks,
            exchange_ts,
            local_ts,
            top_n: None,
        }));
        Ok(())
    }

    /// Frames the fast prefixes did not classify.
    fn slow(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let probe: Probe<'_> = parse(frame, "frame")?;
        if let Some(data) = probe.data {
            return self.payload(probe.stream, data.get(), local_ts, out);
        }
        if let Some(err) = probe.error {
            return Ok(FrameKind::ExchangeError {
                code: err.code.into_owned(),
                message: err.msg.into_owned(),
            });
        }
        if let Some(code) = probe.code {
            return Ok(FrameKind::ExchangeError {
                code: code.into_owned(),
                message: probe.msg.map(|m| m.into_owned()).unwrap_or_default(),
            });
        }
        if probe.method {
            return Err(ExchangeError::Unsupported {
                exchange: EX,
                detail: "client request frame (method/params), not a server message".to_owned(),
            });
        }
        if probe.result && probe.id {
            return Ok(FrameKind::SubscriptionAck);
        }
        self.payload(None, frame, local_ts, out)
    }
}

impl Normalizer for BinanceNormalizer {
    fn on_frame(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        if let Some((stream, data)) = wire::split_combined(frame) {
            match self.payload(Some(stream), data, local_ts, out) {
                // The prefix looked combined but the slice was not a payload (e.g. an extra
                // key after `data`): let the full parse decide.
                Err(ExchangeError::Malformed { .. }) => {}
                other => return other,
            }
        } else if let Some(e) = wire::sniff_event(frame) {
            return self.dispatch(Kind::of_event(e, None), None, frame, local_ts, out);
        }
        self.slow(frame, local_ts, out)
    }

    fn on_rest(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let result = self.rest_body(kind, body, local_ts, out);
        match result {
            // An error body (`{"code":..,"msg":..}`) says more than the shape mismatch.
            Err(e @ ExchangeError::Malformed { .. }) => {
                Err(super::rest::rest_error(body).unwrap_or(e))
            }
            other => other,
        }
    }

    fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output) {
        for book in self.books.values_mut() {
            book.on_disconnect(local_ts, out);
        }
    }

    fn emit_books(&mut self, local_ts: TimestampNs, out: &mut Output) {
        for book in self.books.values() {
            book.emit_snapshot(local_ts, out);
        }
    }
}
