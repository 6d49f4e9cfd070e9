//! Deribit v2 JSON-RPC over WebSocket, and the public REST methods.
//!
//! WebSocket on any path (`/ws/api/v2`): `public/subscribe` (result = channels),
//! `public/unsubscribe`, `public/unsubscribe_all`, `public/set_heartbeat` (then
//! `test_request` every interval; the connection closes when no `public/test` came back
//! before the next one), `public/disable_heartbeat`, `public/test`, `public/get_time`,
//! `public/hello`. Channels: `book.{inst}.{raw|100ms|agg2}` (snapshot, then `change` chained
//! by `prev_change_id`; levels `[action, price, amount]` as JSON numbers), `trades.{inst}.{i}`,
//! `quote.{inst}`, `ticker.{inst}.{i}` (funding for perpetuals, greeks/IV for options),
//! `chart.trades.{inst}.{res}`, `perpetual.{inst}.{i}`, `deribit_price_index.{idx}`,
//! `deribit_volatility_index.{idx}`, `platform_state` (shutdown fault:
//! `{"maintenance":true}`, then close).
//!
//! Numbers are written from the decimal text through `f64`, so any price with at most 15
//! significant digits prints exactly (`0.1` → `0.1`, `2960` → `2960.0` like Deribit).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Number, Value, json};
use tokio::time::Instant;

use super::conn::{Ctx, Out, Protocol};
use super::instrument::Kind;
use super::market::{Action, Deriv, SymbolMarket, Top, Update, UpdateKind};
use super::{Shared, lock, now_ms};

pub(crate) use super::deribit_rest::rest_routes;

/// A JSON number from the decimal's text.
pub(crate) fn num(d: Decimal) -> Value {
    d.to_string()
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub(crate) fn envelope(id: &Value, result: Value) -> Value {
    let us = now_ms() * 1000;
    json!({"jsonrpc": "2.0", "id": id, "result": result, "usIn": us, "usOut": us, "usDiff": 0, "testnet": false})
}

pub(crate) fn rpc_error(
    id: &Value,
    code: i64,
    message: &str,
    reason: Option<(&str, &str)>,
) -> Value {
    let us = now_ms() * 1000;
    let mut e = json!({"code": code, "message": message});
    if let Some((reason, param)) = reason {
        e["data"] = json!({"reason": reason, "param": param});
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e, "usIn": us, "usOut": us, "usDiff": 0, "testnet": false})
}

fn note(channel: &str, data: Value) -> Out {
    Out::Text(json!({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}).to_string())
}

/// (channel kind, instrument or index name).
fn parse_channel(c: &str) -> Option<(&str, &str)> {
    if c == "platform_state" {
        return Some(("platform_state", ""));
    }
    for k in ["deribit_price_index", "deribit_volatility_index", "quote"] {
        if let Some(rest) = c.strip_prefix(k).and_then(|r| r.strip_prefix('.')) {
            return Some((k, rest));
        }
    }
    for k in ["book", "trades", "ticker", "chart.trades", "perpetual"] {
        if let Some(rest) = c.strip_prefix(k).and_then(|r| r.strip_prefix('.')) {
            let (inst, interval) = rest.rsplit_once('.')?;
            let ok = if k == "chart.trades" {
                interval.parse::<u32>().is_ok() || interval == "1D"
            } else {
                matches!(interval, "raw" | "100ms" | "agg2")
            };
            return ok.then_some((k, inst));
        }
    }
    None
}

pub(crate) fn summary(s: &SymbolMarket, top: Option<&Top>) -> Value {
    let st = &s.stats;
    let b = top
        .and_then(|t| t.bids.first())
        .copied()
        .unwrap_or_default();
    let a = top
        .and_then(|t| t.asks.first())
        .copied()
        .unwrap_or_default();
    let d: &Deriv = &s.deriv;
    let change = if st.open.is_zero() {
        Decimal::ZERO
    } else {
        ((st.last - st.open) * Decimal::ONE_HUNDRED / st.open).round_dp(4)
    };
    let mut v = json!({"timestamp": now_ms(), "stats": {"volume": num(st.volume), "price_change": num(change), "low": num(st.low), "high": num(st.high)},
        "state": "open", "settlement_price": num(d.mark), "open_interest": num(d.open_interest), "min_price": num(d.mark * Decimal::new(97, 2)),
        "max_price": num(d.mark * Decimal::new(103, 2)), "mark_price": num(d.mark), "last_price": num(st.last), "instrument_name": &*s.symbol,
        "index_price": num(d.index), "estimated_delivery_price": num(d.index), "best_bid_price": num(b.0), "best_bid_amount": num(b.1),
        "best_ask_price": num(a.0), "best_ask_amount": num(a.1)});
    match s.params.kind {
        Kind::Perpetual => {
            v["current_funding"] = num(d.funding_rate);
            v["funding_8h"] = num(d.funding_rate);
            v["interest_value"] = num(d.funding_rate);
        }
        Kind::Option => {
            v["underlying_price"] = num(d.index);
            v["underlying_index"] = json!(format!("{}-USD", s.params.base));
            v["mark_iv"] = num(d.iv);
            v["bid_iv"] = num(d.iv - Decimal::ONE);
            v["ask_iv"] = num(d.iv + Decimal::ONE);
            v["interest_rate"] = json!(0.0);
            let delta = if s.params.call {
                Decimal::new(55, 2)
            } else {
                Decimal::new(-45, 2)
            };
            v["greeks"] = json!({"delta": num(delta), "gamma": 0.00002, "vega": 50.1, "theta": -30.2, "rho": 10.5});
        }
        _ => {}
    }
    v
}

/// One Deribit WebSocket connection.
pub(crate) struct DeribitWs {
    channels: BTreeSet<String>,
    book_seq: HashMap<String, u64>,
    top: HashMap<String, Arc<Top>>,
    /// (interval, next test_request, a test_request is unanswered).
    heartbeat: Option<(Duration, Instant, bool)>,
    min_heartbeat: Duration,
    limit: usize,
}

impl DeribitWs {
    pub(crate) fn new(shared: &Shared) -> Self {
        DeribitWs {
            channels: BTreeSet::new(),
            book_seq: HashMap::new(),
            top: HashMap::new(),
            heartbeat: None,
            min_heartbeat: shared.config.min_heartbeat,
            limit: shared.config.stream_limit(),
        }
    }

    fn valid(&self, shared: &Shared, c: &str) -> bool {
        let Some((kind, name)) = parse_channel(c) else {
            return false;
        };
        match kind {
            "platform_state" => true,
            "deribit_price_index" | "deribit_volatility_index" => shared.symbols.iter().any(|s| {
                name == format!(
                    "{}_usd",
                    s.split(['-', '_']).next().unwrap_or("").to_lowercase()
                )
            }),
            "perpetual" => name.ends_with("PERPETUAL") && shared.symbols.iter().any(|s| s == name),
            _ => shared.symbols.iter().any(|s| s == name),
        }
    }

    fn snapshot(&mut self, channel: &str, inst: &str, shared: &Shared) -> Option<Out> {
        let m = lock(&shared.market);
        let s = m.get(inst)?;
        let side = |v: Vec<(Decimal, Decimal)>| {
            Value::Array(
                v.into_iter()
                    .map(|(p, a)| json!(["new", num(p), num(a)]))
                    .collect(),
            )
        };
        self.book_seq.insert(inst.to_owned(), s.last_id());
        let data = json!({"type": "snapshot", "timestamp": s.book_ts_ms(), "instrument_name": inst, "change_id": s.last_id(), "bids": side(s.bids(10_000)), "asks": side(s.asks(10_000))});
        Some(note(channel, data))
    }

    fn publish(&self, ctx: &Ctx<'_>) {
        let symbols = self
            .channels
            .iter()
            .filter_map(|c| parse_channel(c))
            .map(|(_, n)| n.to_owned())
            .filter(|n| ctx.shared.symbols.contains(n))
            .collect();
        ctx.set_subscriptions(self.channels.iter().cloned().collect(), symbols);
    }
}

impl Protocol for DeribitWs {
    fn on_text(&mut self, text: &str, ctx: &Ctx<'_>) -> Vec<Out> {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return vec![Out::Text(
                rpc_error(&Value::Null, -32700, "Parse error", None).to_string(),
            )];
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let params = v.get("params").cloned().unwrap_or(json!({}));
        let reply = |r: Value| Out::Text(envelope(&id, r).to_string());
        let method = v.get("method").and_then(Value::as_str).unwrap_or("");
        match method {
            "public/subscribe" | "public/unsubscribe" => {
                let Some(chans) = params.get("channels").and_then(Value::as_array) else {
                    return vec![Out::Text(
                        rpc_error(
                            &id,
                            -32602,
                            "Invalid params",
                            Some(("must be an array", "channels")),
                        )
                        .to_string(),
                    )];
                };
                let chans: Vec<String> = chans
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                if method == "public/unsubscribe" {
                    for c in &chans {
                        self.channels.remove(c);
                    }
                    self.book_seq.retain(|inst, _| {
                        self.channels
                            .iter()
                            .any(|c| parse_channel(c) == Some(("book", inst.as_str())))
                    });
                    self.publish(ctx);
                    return vec![reply(json!(chans))];
                }
                if let Some(bad) = chans.iter().find(|c| !self.valid(ctx.shared, c)) {
                    let reason = format!("invalid channel {bad}");
                    return vec![Out::Text(
                        rpc_error(&id, -32602, "Invalid params", Some((&reason, "channels")))
                            .to_string(),
                    )];
                }
                let new: Vec<&String> = chans
                    .iter()
                    .filter(|c| !self.channels.contains(*c))
                    .collect();
                if self.channels.len() + new.len() > self.limit {
                    return vec![Out::Text(
                        rpc_error(&id, 10028, "too_many_requests", None).to_string(),
                    )];
                }
                let mut out = vec![reply(json!(chans))];
                for c in new {
                    self.channels.insert(c.clone());
                    if let Some(("book", inst)) = parse_channel(c) {
                        out.extend(self.snapshot(c, inst, ctx.shared));
                    }
                }
                self.publish(ctx);
                out
            }
            "public/unsubscribe_all" => {
                self.channels.clear();
                self.book_seq.clear();
                self.publish(ctx);
                vec![reply(json!("ok"))]
            }
            "public/set_heartbeat" => {
                let secs = params
                    .get("interval")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                let interval = Duration::from_secs_f64(secs.max(0.0));
                if interval < self.min_heartbeat {
                    let reason = format!("must be >= {}", self.min_heartbeat.as_secs_f64());
                    return vec![Out::Text(
                        rpc_error(&id, -32602, "Invalid params", Some((&reason, "interval")))
                            .to_string(),
                    )];
                }
                self.heartbeat = Some((interval, Instant::now() + interval, false));
                vec![reply(json!("ok"))]
            }
            "public/disable_heartbeat" => {
                self.heartbeat = None;
                vec![reply(json!("ok"))]
            }
            "public/test" => {
                if let Some(hb) = self.heartbeat.as_mut() {
                    hb.2 = false;
                }
                vec![reply(json!({"version": "1.2.26"}))]
            }
            "public/hello" => vec![reply(json!({"version": "1.2.26"}))],
            "public/get_time" => vec![reply(json!(now_ms()))],
            _ => vec![Out::Text(
                rpc_error(&id, -32601, "Method not found", None).to_string(),
            )],
        }
    }

    fn on_update(&mut self, u: &Update, ctx: &Ctx<'_>, out: &mut Vec<Out>) {
        let inst = &*u.symbol;
        let ts = u.ts_ms;
        match &u.kind {
            UpdateKind::Raw(line) => return out.push(Out::Text(line.to_string())),
            UpdateKind::Diff(d) => {
                self.top.insert(inst.to_owned(), d.top.clone());
                let Some(seq) = self.book_seq.get_mut(inst) else {
                    return;
                };
                if d.last <= *seq {
                    return;
                }
                *seq = d.last;
                let side = |v: &[super::market::LevelChange]| -> Value {
                    let act = |a: Action| match a {
                        Action::New => "new",
                        Action::Change => "change",
                        Action::Delete => "delete",
                    };
                    Value::Array(
                        v.iter()
                            .map(|l| json!([act(l.action), num(l.price), num(l.size)]))
                            .collect(),
                    )
                };
                let data = json!({"type": "change", "timestamp": ts, "instrument_name": inst, "prev_change_id": d.prev, "change_id": d.last, "bids": side(&d.bids), "asks": side(&d.asks)});
                for c in self
                    .channels
                    .iter()
                    .filter(|c| parse_channel(c) == Some(("book", inst)))
                {
                    out.push(note(c, data.clone()));
                }
                return;
            }
            _ => {}
        }
        for c in &self.channels {
            let Some((kind, name)) = parse_channel(c) else {
                continue;
            };
            if name != inst {
                continue;
            }
            let data = match (&u.kind, kind) {
                (UpdateKind::Trade(t), "trades") => {
                    json!([{"trade_seq": t.id, "trade_id": t.id.to_string(), "timestamp": ts, "tick_direction": 0, "price": num(t.price),
                    "mark_price": num(t.price), "index_price": num(t.price), "instrument_name": inst, "direction": if t.buyer_maker { "sell" } else { "buy" }, "amount": num(t.qty)}])
                }
                (UpdateKind::Bbo { bid, ask, .. }, "quote") => {
                    json!({"timestamp": ts, "instrument_name": inst, "best_bid_price": num(bid.0), "best_bid_amount": num(bid.1),
                    "best_ask_price": num(ask.0), "best_ask_amount": num(ask.1)})
                }
                (UpdateKind::Ticker(_), "ticker") => {
                    let m = lock(&ctx.shared.market);
                    let Some(s) = m.get(inst) else { continue };
                    let mut v = summary(s, self.top.get(inst).map(|t| &**t));
                    v["timestamp"] = json!(ts);
                    v
                }
                (UpdateKind::Kline(k), "chart.trades") => {
                    json!({"volume": num(k.volume), "tick": k.open_ms, "open": num(k.open), "low": num(k.low), "high": num(k.high),
                    "cost": num(k.quote_volume), "close": num(k.last)})
                }
                (UpdateKind::Funding(f), "perpetual") => {
                    json!({"interest": num(f.funding_rate), "timestamp": ts, "index_price": num(f.index)})
                }
                (UpdateKind::Index { price, .. }, "deribit_price_index") => {
                    json!({"timestamp": ts, "price": num(*price), "index_name": inst})
                }
                (UpdateKind::Index { volatility, .. }, "deribit_volatility_index") => {
                    json!({"volatility": num(*volatility), "timestamp": ts, "index_name": inst})
                }
                _ => continue,
            };
            out.push(note(c, data));
        }
    }

    fn shutdown_notice(&mut self, _ctx: &Ctx<'_>) -> Vec<Out> {
        vec![note("platform_state", json!({"maintenance": true}))]
    }

    fn timer(&self) -> Option<Instant> {
        self.heartbeat.map(|h| h.1)
    }

    fn on_timer(&mut self, now: Instant, _ctx: &Ctx<'_>) -> Vec<Out> {
        let Some((interval, _, waiting)) = self.heartbeat else {
            return Vec::new();
        };
        if waiting {
            return vec![Out::Close(
                1000,
                "heartbeat: no public/test answer to test_request".into(),
            )];
        }
        self.heartbeat = Some((interval, now + interval, true));
        vec![Out::Text(
            json!({"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}})
                .to_string(),
        )]
    }
}
