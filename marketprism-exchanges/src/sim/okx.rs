//! OKX v5 public WebSocket protocol and REST endpoints.
//!
//! WebSocket on any path (`/ws/v5/public`, `/ws/v5/business`): text `ping` → `pong`;
//! `{"op":"subscribe","args":[{"channel":..,"instId":..}]}` → one ack per arg
//! `{"event":"subscribe","arg":{..},"connId":".."}`; unknown channel or instrument → `60018`,
//! bad request → `60012`. Channels: `books` (snapshot with `prevSeqId` -1, then updates
//! chained by `seqId`/`prevSeqId`, CRC32 checksum of the top 25 or 0 when disabled),
//! `books5`, `bbo-tbt`, `trades`, `tickers`, `funding-rate`, `open-interest`, `mark-price`,
//! `liquidation-orders` (by `instType` or `instId`), `candle1m`. Shutdown → `notice` 64008.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::conn::{Ctx, Out, Protocol};
use super::instrument::{Kind, Params};
use super::market::{Market, SymbolMarket, Top, Update, UpdateKind};
use super::{Shared, lock, now_ms};

/// OKX number text: the decimal without trailing zeros (`"8477"`, `"0.1"`).
fn o(d: Decimal) -> String {
    d.normalize().to_string()
}

fn inst_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Spot => "SPOT",
        Kind::Perpetual => "SWAP",
        Kind::Future => "FUTURES",
        Kind::Option => "OPTION",
    }
}

fn levels(v: &[(Decimal, Decimal)]) -> Value {
    Value::Array(
        v.iter()
            .map(|(p, s)| json!([o(*p), o(*s), "0", if s.is_zero() { "0" } else { "1" }]))
            .collect(),
    )
}

const CHANNELS: [&str; 10] = [
    "books",
    "books5",
    "bbo-tbt",
    "trades",
    "tickers",
    "funding-rate",
    "open-interest",
    "mark-price",
    "liquidation-orders",
    "candle1m",
];

struct Sub {
    channel: String,
    inst_id: Option<String>,
    inst_type: Option<String>,
    arg: Value,
}

/// One OKX WebSocket connection.
pub(crate) struct OkxWs {
    subs: Vec<Sub>,
    /// `books`: last `seqId` sent per instrument.
    book_seq: HashMap<String, u64>,
    kinds: HashMap<String, Kind>,
    top: HashMap<String, Arc<Top>>,
    checksum: bool,
    limit: usize,
}

impl OkxWs {
    pub(crate) fn new(shared: &Shared) -> Self {
        let m = lock(&shared.market);
        OkxWs {
            subs: Vec::new(),
            book_seq: HashMap::new(),
            kinds: m
                .symbols
                .iter()
                .map(|s| (s.symbol.to_string(), s.params.kind))
                .collect(),
            top: HashMap::new(),
            checksum: shared.config.okx_checksum,
            limit: shared.config.stream_limit(),
        }
    }

    fn conn_id(ctx: &Ctx<'_>) -> String {
        format!("{:08x}", (ctx.id.wrapping_mul(0x9E37_79B9)) as u32)
    }

    fn error(code: &str, msg: &str, id: &Option<Value>, ctx: &Ctx<'_>) -> Out {
        let mut v =
            json!({"event": "error", "code": code, "msg": msg, "connId": Self::conn_id(ctx)});
        if let Some(id) = id {
            v["id"] = id.clone();
        }
        Out::Text(v.to_string())
    }

    fn valid(&self, channel: &str, inst_id: Option<&str>, inst_type: Option<&str>) -> bool {
        if !CHANNELS.contains(&channel) {
            return false;
        }
        if channel == "liquidation-orders" && inst_id.is_none() {
            return matches!(inst_type, Some("SWAP" | "FUTURES" | "OPTION" | "MARGIN"));
        }
        let Some(kind) = inst_id.and_then(|i| self.kinds.get(i)) else {
            return false;
        };
        match channel {
            "funding-rate" => *kind == Kind::Perpetual,
            "open-interest" | "liquidation-orders" => *kind != Kind::Spot,
            _ => true,
        }
    }

    fn snapshot(&mut self, inst: &str, ctx: &Ctx<'_>, arg: &Value) -> Option<Out> {
        let m = lock(&ctx.shared.market);
        let s = m.get(inst)?;
        let (bids, asks) = (s.bids(400), s.asks(400));
        let top = Top {
            bids: bids.iter().take(25).copied().collect(),
            asks: asks.iter().take(25).copied().collect(),
        };
        let checksum = if self.checksum {
            Market::okx_checksum(&top)
        } else {
            0
        };
        self.book_seq.insert(inst.to_owned(), s.last_id());
        let data = json!([{"asks": levels(&asks), "bids": levels(&bids), "ts": s.book_ts_ms().to_string(), "checksum": checksum, "prevSeqId": -1, "seqId": s.last_id()}]);
        Some(Out::Text(
            json!({"arg": arg, "action": "snapshot", "data": data}).to_string(),
        ))
    }

    fn publish(&self, ctx: &Ctx<'_>) {
        let names = self.subs.iter().map(|s| s.arg.to_string()).collect();
        let symbols: BTreeSet<String> =
            self.subs.iter().filter_map(|s| s.inst_id.clone()).collect();
        ctx.set_subscriptions(names, symbols);
    }

    fn push(&self, sub: &Sub, u: &Update, out: &mut Vec<Out>) -> Option<()> {
        let ts = u.ts_ms.to_string();
        let inst = &*u.symbol;
        let itype = inst_type(*self.kinds.get(inst)?);
        let data = match (&u.kind, sub.channel.as_str()) {
            (UpdateKind::Diff(d), "books5") => {
                json!([{"asks": levels(&d.top.asks[..d.top.asks.len().min(5)]), "bids": levels(&d.top.bids[..d.top.bids.len().min(5)]), "instId": inst, "ts": ts, "seqId": d.last}])
            }
            (UpdateKind::Diff(d), "bbo-tbt") => {
                json!([{"asks": levels(&d.top.asks[..d.top.asks.len().min(1)]), "bids": levels(&d.top.bids[..d.top.bids.len().min(1)]), "ts": ts, "seqId": d.last}])
            }
            (UpdateKind::Trade(t), "trades") => {
                json!([{"instId": inst, "tradeId": t.id.to_string(), "px": o(t.price), "sz": o(t.qty), "side": if t.buyer_maker { "sell" } else { "buy" }, "ts": ts, "count": "1", "source": "0"}])
            }
            (UpdateKind::Ticker(t), "tickers") => {
                let top = self.top.get(inst);
                let b = top
                    .and_then(|t| t.bids.first())
                    .copied()
                    .unwrap_or_default();
                let a = top
                    .and_then(|t| t.asks.first())
                    .copied()
                    .unwrap_or_default();
                json!([{"instType": itype, "instId": inst, "last": o(t.last), "lastSz": o(t.last_qty), "askPx": o(a.0), "askSz": o(a.1), "bidPx": o(b.0), "bidSz": o(b.1),
                    "open24h": o(t.open), "high24h": o(t.high), "low24h": o(t.low), "volCcy24h": o(t.quote_volume), "vol24h": o(t.volume), "sodUtc0": o(t.open), "sodUtc8": o(t.open), "ts": ts}])
            }
            (UpdateKind::Funding(f), "funding-rate") => {
                json!([{"formulaType": "withRate", "fundingRate": o(f.funding_rate), "fundingTime": f.next_funding_ms.to_string(), "impactValue": "", "instId": inst, "instType": itype,
                    "interestRate": "0.0001", "method": "current_period", "maxFundingRate": "0.0075", "minFundingRate": "-0.0075", "nextFundingRate": "",
                    "nextFundingTime": (f.next_funding_ms + 8 * 3_600_000).to_string(), "premium": "0", "settFundingRate": o(f.funding_rate), "settState": "settled", "ts": ts}])
            }
            (UpdateKind::Funding(f), "mark-price") => {
                json!([{"instType": itype, "instId": inst, "markPx": o(f.mark), "ts": ts}])
            }
            (UpdateKind::OpenInterest(oi), "open-interest") => {
                json!([{"instId": inst, "instType": itype, "oi": o(*oi), "oiCcy": o(*oi), "oiUsd": o(*oi), "ts": ts}])
            }
            (UpdateKind::Liquidation { sell, price, qty }, "liquidation-orders") => {
                let family = inst.split('-').take(2).collect::<Vec<_>>().join("-");
                json!([{"instType": itype, "instId": inst, "instFamily": family, "uly": family, "details": [{"bkLoss": "0", "bkPx": o(*price), "ccy": "",
                    "posSide": if *sell { "long" } else { "short" }, "side": if *sell { "sell" } else { "buy" }, "sz": o(*qty), "ts": ts}]}])
            }
            (UpdateKind::Kline(k), "candle1m") => {
                json!([[
                    k.open_ms.to_string(),
                    o(k.open),
                    o(k.high),
                    o(k.low),
                    o(k.last),
                    o(k.volume),
                    o(k.volume),
                    o(k.quote_volume),
                    "0"
                ]])
            }
            _ => return None,
        };
        out.push(Out::Text(json!({"arg": sub.arg, "data": data}).to_string()));
        Some(())
    }
}

impl Protocol for OkxWs {
    fn on_text(&mut self, text: &str, ctx: &Ctx<'_>) -> Vec<Out> {
        if text == "ping" {
            return vec![Out::Text("pong".into())];
        }
        let invalid =
            |id: &Option<Value>| Self::error("60012", &format!("Invalid request: {text}"), id, ctx);
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return vec![invalid(&None)];
        };
        let id = v.get("id").cloned();
        let (Some(op), Some(args)) = (
            v.get("op").and_then(Value::as_str),
            v.get("args").and_then(Value::as_array),
        ) else {
            return vec![invalid(&id)];
        };
        if op != "subscribe" && op != "unsubscribe" {
            return vec![invalid(&id)];
        }
        let mut out = Vec::new();
        for arg in args {
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst_id = arg.get("instId").and_then(Value::as_str);
            let inst_type = arg.get("instType").and_then(Value::as_str);
            if !self.valid(channel, inst_id, inst_type) {
                let msg = format!(
                    "Wrong URL or channel:{channel},instId:{} doesn't exist. Please use the correct URL, channel and parameters referring to API document.",
                    inst_id.or(inst_type).unwrap_or("")
                );
                out.push(Self::error("60018", &msg, &id, ctx));
                continue;
            }
            let mut ack = json!({"event": op, "arg": arg, "connId": Self::conn_id(ctx)});
            if let Some(id) = &id {
                ack["id"] = id.clone();
            }
            let same = |s: &Sub| {
                s.channel == channel
                    && s.inst_id.as_deref() == inst_id
                    && s.inst_type.as_deref() == inst_type
            };
            if op == "unsubscribe" {
                self.subs.retain(|s| !same(s));
                if channel == "books" {
                    inst_id.map(|i| self.book_seq.remove(i));
                }
                out.push(Out::Text(ack.to_string()));
                continue;
            }
            if !self.subs.iter().any(same) {
                if self.subs.len() >= self.limit {
                    out.push(Self::error(
                        "60012",
                        &format!(
                            "Invalid request: more than {} subscriptions on one connection",
                            self.limit
                        ),
                        &id,
                        ctx,
                    ));
                    continue;
                }
                self.subs.push(Sub {
                    channel: channel.to_owned(),
                    inst_id: inst_id.map(str::to_owned),
                    inst_type: inst_type.map(str::to_owned),
                    arg: arg.clone(),
                });
            }
            out.push(Out::Text(ack.to_string()));
            if channel == "books"
                && let Some(snap) = inst_id.and_then(|i| self.snapshot(i, ctx, arg))
            {
                out.push(snap);
            }
        }
        self.publish(ctx);
        out
    }

    fn on_update(&mut self, u: &Update, _ctx: &Ctx<'_>, out: &mut Vec<Out>) {
        let inst = &*u.symbol;
        match &u.kind {
            UpdateKind::Raw(line) => return out.push(Out::Text(line.to_string())),
            UpdateKind::Diff(d) => {
                self.top.insert(inst.to_owned(), d.top.clone());
                if let Some(seq) = self.book_seq.get_mut(inst)
                    && d.last > *seq
                {
                    *seq = d.last;
                    if let Some(sub) = self
                        .subs
                        .iter()
                        .find(|s| s.channel == "books" && s.inst_id.as_deref() == Some(inst))
                    {
                        let side = |v: &[super::market::LevelChange]| -> Value {
                            Value::Array(
                                v.iter()
                                    .map(|l| {
                                        json!([
                                            o(l.price),
                                            o(l.size),
                                            "0",
                                            if l.size.is_zero() { "0" } else { "1" }
                                        ])
                                    })
                                    .collect(),
                            )
                        };
                        let data = json!([{"asks": side(&d.asks), "bids": side(&d.bids), "ts": u.ts_ms.to_string(), "checksum": d.checksum, "prevSeqId": d.prev, "seqId": d.last}]);
                        out.push(Out::Text(
                            json!({"arg": sub.arg, "action": "update", "data": data}).to_string(),
                        ));
                    }
                }
            }
            _ => {}
        }
        let kind = self.kinds.get(inst).copied();
        for sub in &self.subs {
            let by_type = sub.inst_id.is_none() && sub.inst_type.as_deref() == kind.map(inst_type);
            if sub.inst_id.as_deref() == Some(inst) || by_type {
                self.push(sub, u, out);
            }
        }
    }

    fn shutdown_notice(&mut self, ctx: &Ctx<'_>) -> Vec<Out> {
        let msg = "The connection will soon be closed for a service upgrade. Please reconnect.";
        vec![Out::Text(
            json!({"event": "notice", "code": "64008", "msg": msg, "connId": Self::conn_id(ctx)})
                .to_string(),
        )]
    }
}

type Q = Query<HashMap<String, String>>;
type S = State<Arc<Shared>>;

fn ok(data: Value) -> Response {
    Json(json!({"code": "0", "msg": "", "data": data})).into_response()
}

fn fail(code: &str, msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": code, "msg": msg, "data": []})),
    )
        .into_response()
}

pub(crate) fn rest_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v5/public/instruments", get(instruments))
        .route("/api/v5/market/books", get(books))
        .route("/api/v5/public/open-interest", get(open_interest))
        .route("/api/v5/public/funding-rate", get(funding_rate))
        .route(
            "/api/v5/rubik/stat/contracts/long-short-account-ratio",
            get(ratio),
        )
        .route(
            "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
            get(ratio),
        )
        .route(
            "/api/v5/public/time",
            get(|| async { ok(json!([{"ts": now_ms().to_string()}])) }),
        )
}

fn instrument(s: &SymbolMarket) -> Value {
    let p: &Params = &s.params;
    let deriv = p.kind != Kind::Spot;
    let family = format!("{}-{}", p.base, p.quote);
    let settle = if !deriv {
        ""
    } else if p.quote == "USD" {
        p.base.as_str()
    } else {
        p.quote.as_str()
    };
    json!({"instType": inst_type(p.kind), "instId": &*s.symbol, "uly": if deriv { family.as_str() } else { "" }, "instFamily": if deriv { family.as_str() } else { "" },
        "baseCcy": if deriv { "" } else { p.base.as_str() }, "quoteCcy": if deriv { "" } else { p.quote.as_str() }, "settleCcy": settle,
        "ctVal": if deriv { o(p.contract_size) } else { String::new() }, "ctMult": if deriv { "1" } else { "" },
        "ctValCcy": if !deriv { "" } else if p.quote == "USD" { "USD" } else { p.base.as_str() },
        "ctType": match (p.kind, p.quote.as_str()) { (Kind::Perpetual | Kind::Future, "USD") => "inverse", (Kind::Perpetual | Kind::Future, _) => "linear", _ => "" },
        "optType": if p.kind == Kind::Option { if p.call { "C" } else { "P" } } else { "" }, "stk": p.strike.map(o).unwrap_or_default(),
        "listTime": "1606468572000", "expTime": p.expiry_ms.map(|e| e.to_string()).unwrap_or_default(), "lever": if p.kind == Kind::Option { "" } else { "10" },
        "tickSz": o(p.tick), "lotSz": o(p.lot), "minSz": o(p.lot), "state": "live", "alias": "", "category": "1"})
}

async fn instruments(State(shared): S, Query(q): Q) -> Response {
    let Some(t) = q.get("instType") else {
        return fail("50014", "Parameter instType can not be empty.");
    };
    let m = lock(&shared.market);
    let data: Vec<Value> = m
        .symbols
        .iter()
        .filter(|s| {
            inst_type(s.params.kind) == t && q.get("instId").is_none_or(|i| i == &*s.symbol)
        })
        .map(instrument)
        .collect();
    ok(Value::Array(data))
}

async fn books(State(shared): S, Query(q): Q) -> Response {
    let Some(inst) = q.get("instId") else {
        return fail("50014", "Parameter instId can not be empty.");
    };
    let sz = q
        .get("sz")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, 400);
    let m = lock(&shared.market);
    let Some(s) = m.get(inst) else {
        return fail("51001", "Instrument ID does not exist.");
    };
    ok(
        json!([{"asks": levels(&s.asks(sz)), "bids": levels(&s.bids(sz)), "ts": now_ms().to_string()}]),
    )
}

async fn open_interest(State(shared): S, Query(q): Q) -> Response {
    let m = lock(&shared.market);
    let data: Vec<Value> = m
        .symbols
        .iter()
        .filter(|s| s.params.kind != Kind::Spot)
        .filter(|s| q.get("instType").is_none_or(|t| t == inst_type(s.params.kind)) && q.get("instId").is_none_or(|i| i == &*s.symbol))
        .map(|s| {
            let oi = s.deriv.open_interest;
            json!({"instId": &*s.symbol, "instType": inst_type(s.params.kind), "oi": o(oi), "oiCcy": o(oi * s.params.contract_size), "oiUsd": o(oi * s.mid()), "ts": now_ms().to_string()})
        })
        .collect();
    ok(Value::Array(data))
}

async fn funding_rate(State(shared): S, Query(q): Q) -> Response {
    let m = lock(&shared.market);
    let Some(s) = q
        .get("instId")
        .and_then(|i| m.get(i))
        .filter(|s| s.params.kind == Kind::Perpetual)
    else {
        return fail("51001", "Instrument ID does not exist.");
    };
    let d = &s.deriv;
    ok(
        json!([{"instId": &*s.symbol, "instType": "SWAP", "fundingRate": o(d.funding_rate), "fundingTime": d.next_funding_ms.to_string(),
        "nextFundingTime": (d.next_funding_ms + 8 * 3_600_000).to_string(), "method": "current_period", "ts": now_ms().to_string()}]),
    )
}

async fn ratio(State(shared): S, Query(q): Q) -> Response {
    let m = lock(&shared.market);
    let found = m.symbols.iter().find(|s| {
        q.get("instId").is_some_and(|i| i == &*s.symbol)
            || q.get("ccy").is_some_and(|c| *c == s.params.base)
    });
    let Some(s) = found else {
        return fail("51001", "Instrument ID does not exist.");
    };
    let period: i64 = match q.get("period").map(String::as_str) {
        Some("15m") => 900_000,
        Some("1H") => 3_600_000,
        Some("4H") => 14_400_000,
        Some("1D") => 86_400_000,
        _ => 300_000,
    };
    let now = now_ms();
    let last = now - now.rem_euclid(period);
    let rows: Vec<Value> = (0..24)
        .map(|i| {
            json!([
                (last - i * period).to_string(),
                o((s.deriv.long_short_ratio + Decimal::new(i % 5, 2)).round_dp(4))
            ])
        })
        .collect();
    ok(Value::Array(rows))
}
