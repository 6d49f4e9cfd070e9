//! The OKX [`Normalizer`]: dispatches frames by channel/event and keeps the book state.

use std::{collections::HashMap, sync::Arc};

use marketprism_core::model::{
    ExchangeId, Instrument, MarketEvent, MarketType, Symbol, TimestampNs,
};
use serde::Deserialize;

use super::{
    book::Books,
    normalize,
    subscription::ratio_endpoint,
    wire::{
        Envelope, Push,
        book::BookData,
        fast,
        market::{
            CandleRow, FundingData, IndexTickerData, LiquidationData, MarkPriceData,
            OpenInterestData, TickerData, TradeData,
        },
        rest::{RatioRow, RestResponse},
    },
};
use crate::{ExchangeError, FrameKind, InstrumentMap, Normalizer, Output, RestKind};

/// Normalizes OKX v5 public frames and REST bodies (see the [module docs](super)).
#[derive(Debug)]
pub struct OkxNormalizer {
    instruments: InstrumentMap,
    books: Books,
    depth: Option<usize>,
    /// Index ids (`BTC-USD`) seen on `index-tickers`, so each event clones an `Arc`.
    index_symbols: HashMap<Box<str>, Symbol>,
}

fn parse<'a, T: Deserialize<'a>>(s: &'a str, what: &'static str) -> Result<T, ExchangeError> {
    serde_json::from_str(s).map_err(|source| ExchangeError::Malformed {
        exchange: ExchangeId::OKX,
        what,
        source,
    })
}

fn unsupported(detail: impl Into<String>) -> ExchangeError {
    ExchangeError::Unsupported {
        exchange: ExchangeId::OKX,
        detail: detail.into(),
    }
}

/// The channel of a push that starts the usual way (`{"arg":{"channel":"…"`), without parsing.
#[inline]
fn fast_channel(frame: &str) -> Option<&str> {
    frame
        .strip_prefix(r#"{"arg":{"channel":""#)?
        .split_once('"')
        .map(|(c, _)| c)
}

impl OkxNormalizer {
    /// A normalizer over `instruments`, emitting book snapshots of at most `book_depth` levels
    /// per side.
    pub fn new(instruments: InstrumentMap, book_depth: Option<usize>) -> Self {
        OkxNormalizer {
            instruments,
            books: Books::new(book_depth),
            depth: book_depth,
            index_symbols: HashMap::new(),
        }
    }

    /// The instrument table.
    pub fn instruments(&self) -> &InstrumentMap {
        &self.instruments
    }

    /// The synced book of `inst_id` (tests compare it with an independent rebuild).
    #[cfg(test)]
    pub(crate) fn synced_book(&self, inst_id: &str) -> Option<&marketprism_core::book::OrderBook> {
        self.books.synced_book(inst_id)
    }

    fn lookup(&self, inst_id: &str) -> Result<&Arc<Instrument>, ExchangeError> {
        self.instruments
            .by_native(inst_id)
            .ok_or_else(|| ExchangeError::UnknownInstrument {
                exchange: ExchangeId::OKX,
                native_symbol: inst_id.to_owned(),
            })
    }

    fn index_symbol(&mut self, id: &str) -> Symbol {
        if let Some(s) = self.index_symbols.get(id) {
            return s.clone();
        }
        let s = Symbol::new(id);
        self.index_symbols.insert(id.into(), s.clone());
        s
    }

    fn on_control(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let env: Envelope<'_> = parse(frame, "frame")?;
        let code = || env.code.as_deref().unwrap_or_default().to_owned();
        let msg = || env.msg.as_deref().unwrap_or_default().to_owned();
        match env.event {
            Some("subscribe" | "unsubscribe") => Ok(FrameKind::SubscriptionAck),
            Some("error") => Ok(FrameKind::ExchangeError {
                code: code(),
                message: msg(),
            }),
            Some("notice") => {
                out.actions.push(crate::Action::Rotate {
                    reason: format!("okx notice {}: {}", code(), msg()),
                });
                Ok(FrameKind::Shutdown)
            }
            Some("channel-conn-count" | "login") => Ok(FrameKind::Control),
            Some("channel-conn-count-error") => Ok(FrameKind::ExchangeError {
                code: "channel-conn-count-error".into(),
                message: format!(
                    "too many connections on channel {}: {}",
                    env.channel.unwrap_or_default(),
                    env.conn_count.unwrap_or_default()
                ),
            }),
            Some(other) => Err(unsupported(format!("event `{other}`"))),
            None => match (env.arg, env.op) {
                (Some(arg), _) => self.on_push(arg.channel, frame, local_ts, out),
                (None, Some(op)) => Err(unsupported(format!("client request `op:{op}`"))),
                (None, None) => Err(unsupported("frame without event, arg or op")),
            },
        }
    }

    fn on_push(
        &mut self,
        channel: &str,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        match channel {
            "trades" | "trades-all" => {
                let p: Push<'_, TradeData<'_>> = match fast::trades(frame) {
                    Some(p) => p,
                    None => parse(frame, "trades")?,
                };
                for t in p.data.iter() {
                    let e = normalize::trade(self.lookup(t.inst_id)?, t, local_ts);
                    out.events.push(MarketEvent::Trade(e));
                }
            }
            "books" | "books-l2-tbt" | "books50-l2-tbt" | "books-elp" => {
                let p: Push<'_, BookData> = match fast::books(frame) {
                    Some(p) => p,
                    None => parse(frame, "books")?,
                };
                let inst = Arc::clone(self.lookup(p.arg.inst_id.unwrap_or_default())?);
                match p.action {
                    Some("snapshot") => {
                        for d in p.data {
                            self.books.on_snapshot(&inst, d, local_ts, out);
                        }
                    }
                    Some("update") => {
                        for d in p.data {
                            self.books.on_update(&inst.native_symbol, d, local_ts, out);
                        }
                    }
                    other => {
                        return Err(ExchangeError::Invalid {
                            exchange: ExchangeId::OKX,
                            what: "books",
                            detail: format!("action {other:?}"),
                        });
                    }
                }
            }
            "books5" => {
                let p: Push<'_, BookData> = match fast::books(frame) {
                    Some(p) => p,
                    None => parse(frame, "books5")?,
                };
                let inst = self.lookup(p.arg.inst_id.unwrap_or_default())?;
                for d in p.data {
                    // books5 has no chain: seqId when sent, else the exchange time.
                    let seq = d.seq_id.unwrap_or(d.ts).max(0).unsigned_abs();
                    let e = normalize::book_image(inst, d, seq, self.depth, local_ts);
                    out.events.push(MarketEvent::BookSnapshot(e));
                }
            }
            "bbo-tbt" => {
                let p: Push<'_, BookData> = match fast::books(frame) {
                    Some(p) => p,
                    None => parse(frame, "bbo-tbt")?,
                };
                let inst = self.lookup(p.arg.inst_id.unwrap_or_default())?;
                for d in p.data.iter() {
                    out.events
                        .push(MarketEvent::Bbo(normalize::bbo(inst, d, local_ts)));
                }
            }
            "tickers" => {
                let p: Push<'_, TickerData<'_>> = parse(frame, "tickers")?;
                for t in p.data.iter() {
                    let e = normalize::ticker(self.lookup(t.inst_id)?, t, local_ts)?;
                    out.events.push(MarketEvent::Ticker(e));
                }
            }
            "funding-rate" => {
                let p: Push<'_, FundingData<'_>> = parse(frame, "funding-rate")?;
                for f in p.data.iter() {
                    let e = normalize::funding(self.lookup(f.inst_id)?, f, local_ts)?;
                    out.events.push(MarketEvent::FundingRate(e));
                }
            }
            "open-interest" => {
                let p: Push<'_, OpenInterestData<'_>> = parse(frame, "open-interest")?;
                for o in p.data.iter() {
                    let e = normalize::open_interest(self.lookup(o.inst_id)?, o, local_ts);
                    out.events.push(MarketEvent::OpenInterest(e));
                }
            }
            "mark-price" => {
                let p: Push<'_, MarkPriceData<'_>> = parse(frame, "mark-price")?;
                for m in p.data.iter() {
                    let e = normalize::mark_price(self.lookup(m.inst_id)?, m, local_ts);
                    out.events.push(MarketEvent::MarkPrice(e));
                }
            }
            "index-tickers" => {
                let p: Push<'_, IndexTickerData<'_>> = parse(frame, "index-tickers")?;
                for i in p.data.iter() {
                    let symbol = self.index_symbol(i.inst_id);
                    let e = normalize::index_price(symbol, i, local_ts);
                    out.events.push(MarketEvent::MarkPrice(e));
                }
            }
            "liquidation-orders" => {
                let p: Push<'_, LiquidationData<'_>> = parse(frame, "liquidation-orders")?;
                for l in p.data.iter() {
                    let inst = self.lookup(l.inst_id)?;
                    for d in &l.details {
                        let e = normalize::liquidation(inst, d, local_ts);
                        out.events.push(MarketEvent::Liquidation(e));
                    }
                }
            }
            c if c.starts_with("candle") => {
                let p: Push<'_, CandleRow> = parse(frame, "candle")?;
                let inst = self.lookup(p.arg.inst_id.unwrap_or_default())?;
                let interval = &c["candle".len()..];
                for r in p.data.iter() {
                    out.events.push(MarketEvent::Kline(normalize::kline(
                        inst, interval, r, local_ts,
                    )));
                }
            }
            other => return Err(unsupported(format!("channel `{other}`"))),
        }
        Ok(FrameKind::Data)
    }

    fn rest_body<'a, D: Deserialize<'a>>(
        body: &'a str,
        what: &'static str,
    ) -> Result<Vec<D>, ExchangeError> {
        let r: RestResponse<'_, D> = parse(body, what)?;
        if r.code != "0" {
            return Err(ExchangeError::Invalid {
                exchange: ExchangeId::OKX,
                what,
                detail: format!("code {}: {}", r.code, r.msg),
            });
        }
        Ok(r.data)
    }

    /// Runs `f` on every element whose instrument is known; unknown ones are skipped (a
    /// per-type listing names instruments we may not track), but a body naming only unknown
    /// instruments is an error.
    fn each_known<'a, D, F>(
        &self,
        data: &'a [D],
        inst_id: impl Fn(&'a D) -> &'a str,
        mut f: F,
    ) -> Result<(), ExchangeError>
    where
        F: FnMut(&Instrument, &'a D) -> Result<(), ExchangeError>,
    {
        let mut first_unknown = None;
        let mut known = 0;
        for d in data {
            match self.lookup(inst_id(d)) {
                Ok(inst) => {
                    known += 1;
                    f(inst, d)?;
                }
                Err(e) => {
                    first_unknown.get_or_insert(e);
                }
            }
        }
        match first_unknown {
            Some(e) if known == 0 => Err(e),
            _ => Ok(()),
        }
    }
}

impl Normalizer for OkxNormalizer {
    fn on_frame(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let marks = (out.events.len(), out.actions.len());
        let result = match frame {
            "pong" | "ping" => return Ok(FrameKind::Heartbeat),
            _ => match fast_channel(frame) {
                // Control frames may also start with `arg` (key order is not fixed, e.g.
                // `{"arg":{..},"connId":..,"event":"subscribe"}`): a push that fails to parse
                // gets a second chance as a control frame, so the hot path never scans for it.
                Some(channel) => match self.on_push(channel, frame, local_ts, out) {
                    Err(ExchangeError::Malformed { .. }) if frame.contains(r#""event":"#) => {
                        self.on_control(frame, local_ts, out)
                    }
                    other => other,
                },
                None => self.on_control(frame, local_ts, out),
            },
        };
        if result.is_err() {
            // Nothing of a rejected frame leaks out (element N failing after element 1).
            out.events.truncate(marks.0);
            out.actions.truncate(marks.1);
        }
        result
    }

    fn on_rest(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let marks = (out.events.len(), out.actions.len());
        let result = self.rest(kind, body, local_ts, out);
        if result.is_err() {
            out.events.truncate(marks.0);
            out.actions.truncate(marks.1);
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

impl OkxNormalizer {
    fn rest(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        match kind {
            RestKind::DepthSnapshot { native_symbol } => {
                let data: Vec<BookData> = Self::rest_body(body, "books")?;
                let inst = self.lookup(native_symbol)?;
                for d in data {
                    // No chain to continue: REST books carry no seqId, so the exchange time
                    // (ms) is the sequence. Book sync uses the WebSocket snapshot instead.
                    let seq = d.seq_id.unwrap_or(d.ts).max(0).unsigned_abs();
                    let e = normalize::book_image(inst, d, seq, self.depth, local_ts);
                    out.events.push(MarketEvent::BookSnapshot(e));
                }
            }
            RestKind::OpenInterest { .. } => {
                let data: Vec<OpenInterestData<'_>> = Self::rest_body(body, "open-interest")?;
                self.each_known(
                    &data,
                    |o| o.inst_id,
                    |inst, o| {
                        let e = normalize::open_interest(inst, o, local_ts);
                        out.events.push(MarketEvent::OpenInterest(e));
                        Ok(())
                    },
                )?;
            }
            RestKind::FundingRate { .. } => {
                let data: Vec<FundingData<'_>> = Self::rest_body(body, "funding-rate")?;
                self.each_known(
                    &data,
                    |f| f.inst_id,
                    |inst, f| {
                        let e = normalize::funding(inst, f, local_ts)?;
                        out.events.push(MarketEvent::FundingRate(e));
                        Ok(())
                    },
                )?;
            }
            RestKind::LongShortRatio {
                native_symbol,
                endpoint,
            } => {
                let (ratio_kind, per_ccy, period) = ratio_endpoint(endpoint)
                    .ok_or_else(|| unsupported(format!("long/short endpoint `{endpoint}`")))?;
                let rows: Vec<RatioRow> = Self::rest_body(body, "long-short-ratio")?;
                let (symbol, market) = if per_ccy {
                    // Per-currency aggregate over all contracts: reported as an index.
                    (self.index_symbol(native_symbol), MarketType::Index)
                } else {
                    let inst = self.lookup(native_symbol)?;
                    (inst.symbol.clone(), inst.market)
                };
                // The newest row only: polls want the latest value (rows come newest first,
                // but do not rely on it).
                if let Some(r) = rows.iter().max_by_key(|r| r.0.0) {
                    let e = normalize::ratio(symbol, market, ratio_kind, period, r, local_ts);
                    out.events.push(MarketEvent::LongShortRatio(e));
                }
            }
            RestKind::VolatilityIndex { .. } => {
                return Err(unsupported("volatility index (not offered by OKX)"));
            }
        }
        Ok(())
    }
}
