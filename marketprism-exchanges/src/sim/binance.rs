//! Binance (spot, USDⓈ-M, COIN-M) WebSocket protocol and payloads. REST lives in
//! `binance_rest.rs`.
//!
//! Paths: `/ws`, `/ws/<stream>[/<stream>…]` (raw payloads), `/stream?streams=a/b` (combined
//! `{"stream":..,"data":..}`), optionally under `/public` or `/market` (USDⓈ-M routed URLs).
//! Control: `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`/`GET_PROPERTY`
//! `combined`; errors nested like the live servers: `{"error":{"code":2,"msg":..},"id":N}`.
//! Streams: `<s>@depth[@100ms]`, `<s>@depth5|10|20[@100ms]`, `@trade`, `@aggTrade`,
//! `@bookTicker`, `@ticker`, `@kline_1m`; futures also `@markPrice[@1s]`, `@forceOrder`,
//! `!markPrice@arr[@1s]`, `!forceOrder@arr`. Unknown symbols are rejected as invalid streams.

use std::collections::{BTreeSet, HashMap};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::conn::{Ctx, Out, Protocol};
use super::market::{Diff, Update, UpdateKind};
use super::{Shared, lock, now_ms};
use crate::Venue;

pub(crate) use super::binance_rest::rest_routes;

/// A price/size with a fixed number of decimals (`"0.35280000"`).
pub(crate) fn fixed(d: Decimal, dp: u32) -> String {
    let mut x = d;
    x.rescale(dp);
    x.to_string()
}

/// Decimals used for (price, qty) of `symbol`: spot always 8, futures the tick/lot scale.
pub(crate) fn decimals(shared: &Shared, symbol: &str) -> (u32, u32) {
    if shared.config.venue == Venue::BinanceSpot {
        return (8, 8);
    }
    lock(&shared.market)
        .get(symbol)
        .map(|s| (s.params.tick.scale(), s.params.lot.scale()))
        .unwrap_or((8, 8))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Depth,
    Partial(usize),
    Trade,
    AggTrade,
    BookTicker,
    Ticker,
    MarkPrice,
    ForceOrder,
    Kline,
}

#[derive(Debug, Clone)]
struct Stream {
    name: String,
    /// Upper-case symbol; `None` for all-market (`!…`) streams.
    symbol: Option<String>,
    kind: Kind,
}

fn parse_stream(venue: Venue, symbols: &[String], name: &str) -> Option<Stream> {
    let futures = venue != Venue::BinanceSpot;
    if let Some(rest) = name.strip_prefix('!') {
        let kind = match rest {
            "forceOrder@arr" if futures => Kind::ForceOrder,
            "markPrice@arr" | "markPrice@arr@1s" if futures => Kind::MarkPrice,
            "bookTicker" => Kind::BookTicker,
            "ticker@arr" => Kind::Ticker,
            _ => return None,
        };
        return Some(Stream {
            name: name.to_owned(),
            symbol: None,
            kind,
        });
    }
    let (sym, rest) = name.split_once('@')?;
    let symbol = sym.to_uppercase();
    if sym != sym.to_lowercase() || !symbols.contains(&symbol) {
        return None;
    }
    let speed = |s: &str| matches!(s, "" | "@100ms" | "@250ms" | "@500ms" | "@1000ms" | "@0ms");
    let kind = match rest {
        "trade" => Kind::Trade,
        "aggTrade" => Kind::AggTrade,
        "bookTicker" => Kind::BookTicker,
        "ticker" => Kind::Ticker,
        "kline_1m" => Kind::Kline,
        "markPrice" | "markPrice@1s" if futures => Kind::MarkPrice,
        "forceOrder" if futures => Kind::ForceOrder,
        r if r.starts_with("depth") => {
            let r = &r[5..];
            let digits: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !speed(&r[digits.len()..]) {
                return None;
            }
            match digits.as_str() {
                "" => Kind::Depth,
                "5" | "10" | "20" => Kind::Partial(digits.parse().ok()?),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Stream {
        name: name.to_owned(),
        symbol: Some(symbol),
        kind,
    })
}

/// One Binance WebSocket connection.
pub(crate) struct BinanceWs {
    venue: Venue,
    combined: bool,
    initial: Vec<String>,
    streams: Vec<Stream>,
    dps: HashMap<String, (u32, u32)>,
    next_ping: Instant,
    ping_interval: std::time::Duration,
    pong_timeout: std::time::Duration,
    last_pong: Instant,
    limit: usize,
}

impl BinanceWs {
    pub(crate) fn new(shared: &Shared, path: &str, query: &str) -> Self {
        let path = path
            .strip_prefix("/public")
            .or_else(|| path.strip_prefix("/market"))
            .unwrap_or(path);
        let combined = path.starts_with("/stream");
        let mut initial: Vec<String> = Vec::new();
        if let Some(rest) = path.strip_prefix("/ws/") {
            initial.extend(rest.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
        }
        for kv in query.split('&') {
            if let Some(v) = kv.strip_prefix("streams=") {
                initial.extend(v.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
            }
        }
        let dps = shared
            .symbols
            .iter()
            .map(|s| (s.clone(), decimals(shared, s)))
            .collect();
        let now = Instant::now();
        BinanceWs {
            venue: shared.config.venue,
            combined,
            initial,
            streams: Vec::new(),
            dps,
            next_ping: now + shared.config.ping_interval,
            ping_interval: shared.config.ping_interval,
            pong_timeout: shared.config.pong_timeout,
            last_pong: now,
            limit: shared.config.stream_limit(),
        }
    }

    fn error(code: i64, msg: &str, id: &Value) -> Out {
        Out::Text(json!({"error": {"code": code, "msg": msg}, "id": id}).to_string())
    }

    /// Adds streams; `Err(message)` when one is invalid or the limit would be exceeded.
    fn subscribe(&mut self, names: &[String], ctx: &Ctx<'_>) -> Result<(), String> {
        let mut add = Vec::new();
        for n in names {
            let s = parse_stream(self.venue, &ctx.shared.symbols, n)
                .ok_or_else(|| "Invalid request: invalid stream".to_owned())?;
            if !self.streams.iter().any(|x| x.name == s.name)
                && !add.iter().any(|x: &Stream| x.name == s.name)
            {
                add.push(s);
            }
        }
        if self.streams.len() + add.len() > self.limit {
            return Err(format!(
                "Invalid request: too many streams (max {} per connection)",
                self.limit
            ));
        }
        self.streams.extend(add);
        self.publish(ctx);
        Ok(())
    }

    fn publish(&self, ctx: &Ctx<'_>) {
        let names = self.streams.iter().map(|s| s.name.clone()).collect();
        let symbols: BTreeSet<String> = match self.streams.iter().any(|s| s.symbol.is_none()) {
            true => ctx.shared.symbols.iter().cloned().collect(),
            false => self
                .streams
                .iter()
                .filter_map(|s| s.symbol.clone())
                .collect(),
        };
        ctx.set_subscriptions(names, symbols);
    }

    fn wrap(&self, stream: &str, data: Value) -> Out {
        if self.combined {
            Out::Text(json!({"stream": stream, "data": data}).to_string())
        } else {
            Out::Text(data.to_string())
        }
    }

    fn levels(&self, v: &[(Decimal, Decimal)], dp: (u32, u32)) -> Value {
        Value::Array(
            v.iter()
                .map(|(p, q)| json!([fixed(*p, dp.0), fixed(*q, dp.1)]))
                .collect(),
        )
    }

    fn diff(&self, u: &Update, d: &Diff, dp: (u32, u32)) -> Value {
        let side = |v: &[super::market::LevelChange]| -> Value {
            Value::Array(
                v.iter()
                    .map(|l| json!([fixed(l.price, dp.0), fixed(l.size, dp.1)]))
                    .collect(),
            )
        };
        if self.venue == Venue::BinanceSpot {
            json!({"e": "depthUpdate", "E": u.ts_ms, "s": &*u.symbol, "U": d.first, "u": d.last, "b": side(&d.bids), "a": side(&d.asks)})
        } else {
            json!({"e": "depthUpdate", "E": u.ts_ms, "T": u.ts_ms, "s": &*u.symbol, "U": d.first, "u": d.last, "pu": d.prev, "b": side(&d.bids), "a": side(&d.asks)})
        }
    }

    /// The payload of `update` for a stream of `kind`, if that stream carries it.
    fn payload(&self, u: &Update, kind: Kind) -> Option<Value> {
        let dp = self.dps.get(&*u.symbol).copied().unwrap_or((8, 8));
        let spot = self.venue == Venue::BinanceSpot;
        let s = &*u.symbol;
        let ts = u.ts_ms;
        Some(match (&u.kind, kind) {
            (UpdateKind::Diff(d), Kind::Depth) => self.diff(u, d, dp),
            (UpdateKind::Diff(d), Kind::Partial(n)) => {
                let (b, a) = (
                    &d.top.bids[..n.min(d.top.bids.len())],
                    &d.top.asks[..n.min(d.top.asks.len())],
                );
                if spot {
                    json!({"lastUpdateId": d.last, "bids": self.levels(b, dp), "asks": self.levels(a, dp)})
                } else {
                    json!({"e": "depthUpdate", "E": ts, "T": ts, "s": s, "U": d.first, "u": d.last, "pu": d.prev, "b": self.levels(b, dp), "a": self.levels(a, dp)})
                }
            }
            (UpdateKind::Trade(t), Kind::Trade) if spot => {
                json!({"e": "trade", "E": ts, "s": s, "t": t.id, "p": fixed(t.price, dp.0), "q": fixed(t.qty, dp.1), "T": ts, "m": t.buyer_maker, "M": true})
            }
            (UpdateKind::Trade(t), Kind::Trade) => {
                json!({"e": "trade", "E": ts, "T": ts, "s": s, "t": t.id, "p": fixed(t.price, dp.0), "q": fixed(t.qty, dp.1), "X": "MARKET", "m": t.buyer_maker})
            }
            (UpdateKind::Trade(t), Kind::AggTrade) => {
                let mut v = json!({"e": "aggTrade", "E": ts, "s": s, "a": t.id, "p": fixed(t.price, dp.0), "q": fixed(t.qty, dp.1), "f": t.id, "l": t.id, "T": ts, "m": t.buyer_maker});
                if spot {
                    v["M"] = Value::Bool(true);
                }
                v
            }
            (UpdateKind::Bbo { seq, bid, ask }, Kind::BookTicker) => {
                let mut v = json!({"u": seq, "s": s, "b": fixed(bid.0, dp.0), "B": fixed(bid.1, dp.1), "a": fixed(ask.0, dp.0), "A": fixed(ask.1, dp.1)});
                if !spot {
                    v["e"] = json!("bookTicker");
                    v["T"] = json!(ts);
                    v["E"] = json!(ts);
                }
                v
            }
            (UpdateKind::Ticker(t), Kind::Ticker) => {
                let change = t.last - t.open;
                let pct = if t.open.is_zero() {
                    Decimal::ZERO
                } else {
                    (change * Decimal::ONE_HUNDRED / t.open).round_dp(3)
                };
                let w = if t.volume.is_zero() {
                    t.last
                } else {
                    (t.quote_volume / t.volume).round_dp(dp.0)
                };
                let mut v = json!({"e": "24hrTicker", "E": ts, "s": s, "p": fixed(change, dp.0), "P": fixed(pct, 3), "w": fixed(w, dp.0),
                    "c": fixed(t.last, dp.0), "Q": fixed(t.last_qty, dp.1), "o": fixed(t.open, dp.0), "h": fixed(t.high, dp.0), "l": fixed(t.low, dp.0),
                    "v": fixed(t.volume, dp.1), "q": fixed(t.quote_volume, dp.0), "O": t.open_ms, "C": ts, "F": t.first_id, "L": t.last_id, "n": t.count});
                if spot {
                    v["x"] = json!(fixed(t.open, dp.0));
                }
                v
            }
            (UpdateKind::Funding(f), Kind::MarkPrice) if !spot => {
                json!({"e": "markPriceUpdate", "E": ts, "s": s, "p": fixed(f.mark, 8), "i": fixed(f.index, 8), "P": fixed(f.index, 8), "r": fixed(f.funding_rate, 8), "T": f.next_funding_ms})
            }
            (UpdateKind::Liquidation { sell, price, qty }, Kind::ForceOrder) if !spot => {
                json!({"e": "forceOrder", "E": ts, "o": {"s": s, "S": if *sell { "SELL" } else { "BUY" }, "o": "LIMIT", "f": "IOC",
                    "q": fixed(*qty, dp.1), "p": fixed(*price, dp.0), "ap": fixed(*price, dp.0), "X": "FILLED", "l": fixed(*qty, dp.1), "z": fixed(*qty, dp.1), "T": ts}})
            }
            (UpdateKind::Kline(k), Kind::Kline) => {
                json!({"e": "kline", "E": ts, "s": s, "k": {"t": k.open_ms, "T": k.open_ms + 59_999, "s": s, "i": "1m", "f": if k.count > 0 { k.first_id as i64 } else { -1 },
                    "L": if k.count > 0 { k.last_id as i64 } else { -1 }, "o": fixed(k.open, dp.0), "c": fixed(k.last, dp.0), "h": fixed(k.high, dp.0), "l": fixed(k.low, dp.0),
                    "v": fixed(k.volume, dp.1), "n": k.count, "x": false, "q": fixed(k.quote_volume, dp.0), "V": "0", "Q": "0", "B": "0"}})
            }
            _ => return None,
        })
    }
}

impl Protocol for BinanceWs {
    fn on_open(&mut self, ctx: &Ctx<'_>) -> Vec<Out> {
        let initial = std::mem::take(&mut self.initial);
        if initial.is_empty() {
            return Vec::new();
        }
        match self.subscribe(&initial, ctx) {
            Ok(()) => Vec::new(),
            Err(msg) => vec![Self::error(2, &msg, &Value::Null), Out::Close(1008, msg)],
        }
    }

    fn on_text(&mut self, text: &str, ctx: &Ctx<'_>) -> Vec<Out> {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return vec![Self::error(3, &format!("Invalid JSON: {e}"), &Value::Null)],
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let params: Vec<Value> = v
            .get("params")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let strings = || -> Option<Vec<String>> {
            params
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect()
        };
        let reply = |result: Value| Out::Text(json!({"result": result, "id": id}).to_string());
        let out = match v.get("method").and_then(Value::as_str) {
            None => Self::error(2, "Invalid request: missing field `method`", &id),
            Some("SUBSCRIBE") => match strings() {
                None => Self::error(2, "Invalid request: stream name must be a string", &id),
                Some(names) => match self.subscribe(&names, ctx) {
                    Ok(()) => reply(Value::Null),
                    Err(msg) => Self::error(2, &msg, &id),
                },
            },
            Some("UNSUBSCRIBE") => match strings() {
                None => Self::error(2, "Invalid request: stream name must be a string", &id),
                Some(names) => {
                    self.streams.retain(|s| !names.contains(&s.name));
                    self.publish(ctx);
                    reply(Value::Null)
                }
            },
            Some("LIST_SUBSCRIPTIONS") => reply(json!(
                self.streams
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>()
            )),
            Some("SET_PROPERTY") => match (
                params.first().and_then(Value::as_str),
                params.get(1).and_then(Value::as_bool),
            ) {
                (Some("combined"), Some(b)) => {
                    self.combined = b;
                    reply(Value::Null)
                }
                (Some("combined"), None) => {
                    Self::error(1, "Invalid value type: expected Boolean", &id)
                }
                _ => Self::error(2, "Invalid request: unknown property", &id),
            },
            Some("GET_PROPERTY") => match params.first().and_then(Value::as_str) {
                Some("combined") => reply(Value::Bool(self.combined)),
                _ => Self::error(2, "Invalid request: unknown property", &id),
            },
            Some(m) => Self::error(
                2,
                &format!(
                    "Invalid request: unknown variant `{m}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
                ),
                &id,
            ),
        };
        vec![out]
    }

    fn on_update(&mut self, u: &Update, _ctx: &Ctx<'_>, out: &mut Vec<Out>) {
        if let UpdateKind::Raw(line) = &u.kind {
            out.push(Out::Text(line.to_string()));
            return;
        }
        for st in &self.streams {
            if st.symbol.as_deref().is_some_and(|s| s != &*u.symbol) {
                continue;
            }
            if let Some(p) = self.payload(u, st.kind) {
                out.push(self.wrap(&st.name, p));
            }
        }
    }

    fn shutdown_notice(&mut self, _ctx: &Ctx<'_>) -> Vec<Out> {
        vec![self.wrap(
            "!serverShutdown",
            json!({"e": "serverShutdown", "E": now_ms()}),
        )]
    }

    fn timer(&self) -> Option<Instant> {
        Some(self.next_ping)
    }

    fn on_timer(&mut self, now: Instant, _ctx: &Ctx<'_>) -> Vec<Out> {
        if now.duration_since(self.last_pong) > self.pong_timeout {
            return vec![Out::Close(1008, "pong timeout".into())];
        }
        self.next_ping = now + self.ping_interval;
        vec![Out::Ping]
    }

    fn on_pong(&mut self) {
        self.last_pong = Instant::now();
    }
}
