//! Simulated markets: a seeded random walk per symbol over a truth order book, with sequence
//! ids allocated by each exchange's rules, trades with contiguous ids, and the derived
//! channels (BBO, ticker, funding, open interest, liquidations, klines).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::{Rng, SeedableRng, rngs::StdRng};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::instrument::{Kind, Params};
pub(crate) use super::update::*;
use crate::{Channel, Venue};

/// Sequence-id rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqStyle {
    /// `U == prev u + 1`.
    BinanceSpot,
    /// `pu == prev u`; `U` jumps.
    BinanceFutures,
    /// One id per message, non-contiguous (OKX `seqId`, Deribit `change_id`).
    Single,
}

/// (side, price, size before) of each level a diff touched.
type UndoLevels = Vec<(Side, Decimal, Decimal)>;
type Undo = (u64, UndoLevels);
/// Net bid changes, ask changes and the undo record of one diff.
type Applied = (Vec<LevelChange>, Vec<LevelChange>, UndoLevels);

/// The truth of one symbol.
#[derive(Debug)]
pub(crate) struct SymbolMarket {
    pub(crate) symbol: Arc<str>,
    pub(crate) params: Params,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    style: SeqStyle,
    last_id: u64,
    /// Time (ms) of the diff that produced the book as it is: what a snapshot is stamped
    /// with, so that every connection's snapshot of one book state is the same frame.
    book_ts_ms: i64,
    next_first: u64,
    pending_gap: u64,
    next_trade_id: u64,
    pub(crate) trade_ids: Vec<u64>,
    pub(crate) trade_ids_truncated: bool,
    pub(crate) stats: Stats24,
    pub(crate) kline: Stats24,
    pub(crate) deriv: Deriv,
    pub(crate) events: BTreeMap<Channel, u64>,
    history: VecDeque<Undo>,
}

impl SymbolMarket {
    /// Best `n` bids (best first).
    pub(crate) fn bids(&self, n: usize) -> Vec<(Decimal, Decimal)> {
        self.bids
            .iter()
            .rev()
            .take(n)
            .map(|(p, s)| (*p, *s))
            .collect()
    }

    /// Best `n` asks (best first).
    pub(crate) fn asks(&self, n: usize) -> Vec<(Decimal, Decimal)> {
        self.asks.iter().take(n).map(|(p, s)| (*p, *s)).collect()
    }

    /// Id of the last diff (Binance `u`, OKX `seqId`, Deribit `change_id`).
    pub(crate) fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Time (ms) of the last diff: the time of the book as it is now.
    pub(crate) fn book_ts_ms(&self) -> i64 {
        self.book_ts_ms
    }

    /// `lastUpdateId` of a REST snapshot: spot `u` (next `U` = id + 1); futures: the next
    /// diff's `U`, so that it satisfies `U <= lastUpdateId <= u`.
    pub(crate) fn snapshot_id(&self) -> u64 {
        match self.style {
            SeqStyle::BinanceFutures => self.next_first,
            _ => self.last_id,
        }
    }

    /// Mid price on the tick grid.
    pub(crate) fn mid(&self) -> Decimal {
        match (self.bids.keys().next_back(), self.asks.keys().next()) {
            (Some(b), Some(a)) => {
                ((b + a) / Decimal::TWO / self.params.tick).floor() * self.params.tick
            }
            _ => self.params.start,
        }
    }

    /// The book as it was right after the diff whose last id is `seq` (within the history).
    pub(crate) fn book_at(&self, seq: u64) -> Option<Top> {
        let all = |m: &BTreeMap<Decimal, Decimal>, rev: bool| -> Vec<(Decimal, Decimal)> {
            let it = m.iter().map(|(p, s)| (*p, *s));
            if rev {
                it.rev().collect()
            } else {
                it.collect()
            }
        };
        if seq == self.last_id {
            return Some(Top {
                bids: all(&self.bids, true),
                asks: all(&self.asks, false),
            });
        }
        if !self.history.iter().any(|(id, _)| *id == seq) {
            return None;
        }
        let (mut bids, mut asks) = (self.bids.clone(), self.asks.clone());
        for (id, undo) in self.history.iter().rev() {
            if *id == seq {
                break;
            }
            for (side, price, old) in undo.iter().rev() {
                let m = if *side == Side::Bid {
                    &mut bids
                } else {
                    &mut asks
                };
                if old.is_zero() {
                    m.remove(price);
                } else {
                    m.insert(*price, *old);
                }
            }
        }
        Some(Top {
            bids: all(&bids, true),
            asks: all(&asks, false),
        })
    }

    fn count(&mut self, channel: Channel) {
        *self.events.entry(channel).or_insert(0) += 1;
    }

    fn best(&self) -> ((Decimal, Decimal), (Decimal, Decimal)) {
        let b = self
            .bids
            .iter()
            .next_back()
            .map(|(p, s)| (*p, *s))
            .unwrap_or_default();
        let a = self
            .asks
            .iter()
            .next()
            .map(|(p, s)| (*p, *s))
            .unwrap_or_default();
        (b, a)
    }

    fn side(&mut self, side: Side) -> &mut BTreeMap<Decimal, Decimal> {
        match side {
            Side::Bid => &mut self.bids,
            Side::Ask => &mut self.asks,
        }
    }

    fn random_size(&self, rng: &mut StdRng) -> Decimal {
        self.params.lot * Decimal::from(rng.random_range(1..=500u32))
    }

    /// Allocates the ids of a diff covering `n` changes: (first, last, prev).
    fn alloc(&mut self, rng: &mut StdRng, n: u64) -> (u64, u64, u64) {
        let prev = self.last_id;
        let (first, last) = match self.style {
            SeqStyle::BinanceSpot => (prev + 1, prev + n.max(1)),
            SeqStyle::BinanceFutures => {
                let first = self.next_first;
                (first, first + n.max(1) - 1 + rng.random_range(0..3u64))
            }
            SeqStyle::Single => {
                let id = prev + rng.random_range(1..=4u64);
                (id, id)
            }
        };
        self.last_id = last;
        self.next_first = last
            + 1
            + if self.style == SeqStyle::BinanceFutures {
                rng.random_range(0..5u64)
            } else {
                0
            };
        (first, last, prev)
    }

    /// Consumes `skip` ids without emitting a diff (the diff stream shows a gap).
    fn phantom(&mut self, rng: &mut StdRng, skip: u64) {
        match self.style {
            SeqStyle::BinanceFutures => {
                self.alloc(rng, skip);
            }
            _ => {
                self.last_id += skip;
                self.next_first = self.last_id + 1;
            }
        }
    }

    /// Applies `changes` (side, price, new size), trims to `depth`, and returns the net
    /// level changes per side with the undo record.
    fn apply(&mut self, changes: &[(Side, Decimal, Decimal)], depth: usize) -> Applied {
        let mut touched: Vec<(Side, Decimal, Decimal)> = Vec::new();
        let touch = |touched: &mut Vec<(Side, Decimal, Decimal)>, side, price, old: Decimal| {
            if !touched.iter().any(|(s, p, _)| *s == side && *p == price) {
                touched.push((side, price, old));
            }
        };
        for (side, price, size) in changes {
            let m = self.side(*side);
            let old = m.get(price).copied().unwrap_or_default();
            touch(&mut touched, *side, *price, old);
            if size.is_zero() {
                m.remove(price);
            } else {
                m.insert(*price, *size);
            }
        }
        while self.bids.len() > depth {
            if let Some((p, s)) = self.bids.pop_first() {
                touch(&mut touched, Side::Bid, p, s);
            }
        }
        while self.asks.len() > depth {
            if let Some((p, s)) = self.asks.pop_last() {
                touch(&mut touched, Side::Ask, p, s);
            }
        }
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        touched.retain(|(side, price, old)| {
            let m = if *side == Side::Bid {
                &self.bids
            } else {
                &self.asks
            };
            let size = m.get(price).copied().unwrap_or_default();
            if size == *old {
                return false;
            }
            let action = if old.is_zero() {
                Action::New
            } else if size.is_zero() {
                Action::Delete
            } else {
                Action::Change
            };
            let lc = LevelChange {
                price: *price,
                size,
                action,
            };
            if *side == Side::Bid {
                bids.push(lc)
            } else {
                asks.push(lc)
            }
            true
        });
        (bids, asks, touched)
    }
}

/// All simulated symbols of one venue, with the random source.
#[derive(Debug)]
pub(crate) struct Market {
    pub(crate) venue: Venue,
    pub(crate) symbols: Vec<SymbolMarket>,
    rng: StdRng,
    depth: usize,
    history: usize,
    checksum: bool,
    max_trade_ids: usize,
}

/// Market construction options (from `SimConfig`).
#[derive(Debug, Clone)]
pub(crate) struct MarketOptions {
    pub(crate) seed: u64,
    pub(crate) depth: usize,
    pub(crate) history: usize,
    pub(crate) okx_checksum: bool,
    pub(crate) max_trade_ids: usize,
}

impl Market {
    pub(crate) fn new(venue: Venue, symbols: &[String], o: &MarketOptions, now_ms: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(o.seed);
        let style = match venue {
            Venue::BinanceSpot => SeqStyle::BinanceSpot,
            Venue::BinanceUsdm | Venue::BinanceCoinm => SeqStyle::BinanceFutures,
            Venue::Okx | Venue::Deribit => SeqStyle::Single,
        };
        let depth = o.depth.max(2);
        let symbols = symbols
            .iter()
            .map(|s| {
                let params = Params::derive(venue, s);
                let mid = params.start;
                let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
                for k in 1..=depth {
                    let off = params.tick * Decimal::from(k as u64);
                    let size =
                        |rng: &mut StdRng| params.lot * Decimal::from(rng.random_range(1..=500u32));
                    if mid - off > Decimal::ZERO {
                        bids.insert(mid - off, size(&mut rng));
                    }
                    asks.insert(mid + off, size(&mut rng));
                }
                let first = rng.random_range(1_000_000_000u64..9_000_000_000);
                SymbolMarket {
                    symbol: Arc::from(s.as_str()),
                    bids,
                    asks,
                    style,
                    last_id: first,
                    book_ts_ms: now_ms,
                    next_first: first + 1,
                    pending_gap: 0,
                    next_trade_id: rng.random_range(100_000u64..10_000_000),
                    trade_ids: Vec::new(),
                    trade_ids_truncated: false,
                    stats: Stats24::new(now_ms, mid),
                    kline: Stats24::new(now_ms - now_ms.rem_euclid(60_000), mid),
                    deriv: Deriv {
                        mark: mid,
                        index: mid,
                        funding_rate: Decimal::new(1, 4),
                        next_funding_ms: next_funding(now_ms),
                        open_interest: params.lot * Decimal::from(100_000u32),
                        long_short_ratio: Decimal::new(15, 1),
                        iv: Decimal::from(60u32),
                    },
                    events: BTreeMap::new(),
                    history: VecDeque::new(),
                    params,
                }
            })
            .collect();
        Market {
            venue,
            symbols,
            rng,
            depth,
            history: o.history,
            checksum: o.okx_checksum && venue == Venue::Okx,
            max_trade_ids: o.max_trade_ids,
        }
    }

    /// The market of `symbol`.
    pub(crate) fn get(&self, symbol: &str) -> Option<&SymbolMarket> {
        self.symbols.iter().find(|s| &*s.symbol == symbol)
    }

    /// Makes the next diff of `symbol` skip `skip` ids.
    pub(crate) fn inject_gap(&mut self, symbol: Option<&str>, skip: u64) {
        for s in self
            .symbols
            .iter_mut()
            .filter(|s| symbol.is_none_or(|x| x == &*s.symbol))
        {
            s.pending_gap += skip;
        }
    }

    /// OKX checksum of the given top levels.
    pub(crate) fn okx_checksum(top: &Top) -> i32 {
        let mut parts: Vec<String> = Vec::with_capacity(100);
        for i in 0..25 {
            for side in [&top.bids, &top.asks] {
                if let Some((p, s)) = side.get(i) {
                    parts.push(p.normalize().to_string());
                    parts.push(s.normalize().to_string());
                }
            }
        }
        crc32fast::hash(parts.join(":").as_bytes()) as i32
    }

    /// `n` events for each symbol.
    pub(crate) fn generate(&mut self, n: u64, ts: i64, out: &mut Vec<Update>) {
        for _ in 0..n {
            for i in 0..self.symbols.len() {
                self.step(i, ts, out);
            }
        }
    }

    fn step(&mut self, i: usize, ts: i64, out: &mut Vec<Update>) {
        let Market {
            symbols,
            rng,
            depth,
            history,
            checksum,
            max_trade_ids,
            ..
        } = self;
        let (depth, history, checksum, max_trade_ids) =
            (*depth, *history, *checksum, *max_trade_ids);
        let s = &mut symbols[i];
        let sym = s.symbol.clone();
        let derivative = s.params.kind != Kind::Spot;
        if derivative && rng.random_bool(0.01) {
            let sell = rng.random_bool(0.5);
            let (b, a) = s.best();
            let price = if sell { b.0 } else { a.0 };
            let qty = s.random_size(rng);
            s.count(Channel::Liquidations);
            out.push(Update {
                symbol: sym.clone(),
                ts_ms: ts,
                kind: UpdateKind::Liquidation { sell, price, qty },
            });
        }
        let mut changes = Vec::with_capacity(2);
        let mut trade = None;
        if rng.random_bool(0.25) {
            let taker_buy = rng.random_bool(0.5);
            let side = if taker_buy { Side::Ask } else { Side::Bid };
            let (b, a) = s.best();
            let (price, size) = if taker_buy { a } else { b };
            let len = if taker_buy {
                s.asks.len()
            } else {
                s.bids.len()
            };
            let units = (size / s.params.lot).to_u64().unwrap_or(1).max(1);
            let mut qty = s.params.lot * Decimal::from(rng.random_range(1..=units));
            if len <= 1 && qty >= size {
                qty = size - s.params.lot;
            }
            if qty > Decimal::ZERO {
                changes.push((side, price, size - qty));
                trade = Some(TradeEv {
                    id: 0,
                    price,
                    qty,
                    buyer_maker: !taker_buy,
                });
            }
        }
        if trade.is_none() {
            let side = if rng.random_bool(0.5) {
                Side::Bid
            } else {
                Side::Ask
            };
            let (b, a) = s.best();
            let len = if side == Side::Bid {
                s.bids.len()
            } else {
                s.asks.len()
            };
            let nth = |s: &SymbolMarket, k: usize| -> Option<Decimal> {
                if side == Side::Bid {
                    s.bids.keys().rev().nth(k).copied()
                } else {
                    s.asks.keys().nth(k).copied()
                }
            };
            let op: f64 = rng.random();
            if op < 0.4 && len > 0 {
                if let Some(p) = nth(s, rng.random_range(0..len.min(10))) {
                    changes.push((side, p, s.random_size(rng)));
                }
            } else if op < 0.75 || len <= 1 {
                let k = 1 + (rng.random::<f64>().powi(2) * depth as f64) as u64;
                let off = s.params.tick * Decimal::from(k);
                let p = if side == Side::Bid {
                    a.0 - off
                } else {
                    b.0 + off
                };
                if p > Decimal::ZERO {
                    changes.push((side, p, s.random_size(rng)));
                }
            } else if let Some(p) = nth(s, rng.random_range(0..len.min(10))) {
                changes.push((side, p, Decimal::ZERO));
            }
        }
        if changes.is_empty() {
            return;
        }
        let before = s.best();
        let (bids, asks, undo) = s.apply(&changes, depth);
        if bids.is_empty() && asks.is_empty() {
            return;
        }
        if s.pending_gap > 0 {
            let skip = std::mem::take(&mut s.pending_gap);
            s.phantom(rng, skip);
        }
        let (first, last, prev) = s.alloc(rng, (bids.len() + asks.len()) as u64);
        s.history.push_back((last, undo));
        while s.history.len() > history {
            s.history.pop_front();
        }
        let top = Top {
            bids: s.bids(25),
            asks: s.asks(25),
        };
        let checksum = if checksum {
            Self::okx_checksum(&top)
        } else {
            0
        };
        s.count(Channel::Book);
        s.book_ts_ms = ts;
        out.push(Update {
            symbol: sym.clone(),
            ts_ms: ts,
            kind: UpdateKind::Diff(Diff {
                first,
                last,
                prev,
                bids,
                asks,
                top: Arc::new(top),
                checksum,
            }),
        });
        if let Some(mut t) = trade {
            t.id = s.next_trade_id;
            s.next_trade_id += 1;
            if s.trade_ids.len() < max_trade_ids {
                s.trade_ids.push(t.id);
            } else {
                s.trade_ids_truncated = true;
            }
            s.stats.add(&t);
            roll_kline(&mut s.kline, ts);
            s.kline.add(&t);
            s.count(Channel::Trades);
            out.push(Update {
                symbol: sym.clone(),
                ts_ms: ts,
                kind: UpdateKind::Trade(t),
            });
        }
        let after = s.best();
        if after != before {
            s.count(Channel::Bbo);
            out.push(Update {
                symbol: sym,
                ts_ms: ts,
                kind: UpdateKind::Bbo {
                    seq: last,
                    bid: after.0,
                    ask: after.1,
                },
            });
        }
    }

    /// The periodic channels of every symbol: ticker, funding/mark, open interest, kline, index.
    pub(crate) fn periodic(&mut self, ts: i64, out: &mut Vec<Update>) {
        let Market {
            symbols,
            rng,
            venue,
            ..
        } = self;
        let mut indexes: Vec<(String, Decimal)> = Vec::new();
        for s in symbols.iter_mut() {
            let sym = s.symbol.clone();
            let mid = s.mid();
            let tick = s.params.tick;
            s.count(Channel::Ticker);
            out.push(Update {
                symbol: sym.clone(),
                ts_ms: ts,
                kind: UpdateKind::Ticker(Box::new(s.stats.clone())),
            });
            roll_kline(&mut s.kline, ts);
            s.count(Channel::Kline);
            out.push(Update {
                symbol: sym.clone(),
                ts_ms: ts,
                kind: UpdateKind::Kline(Box::new(s.kline.clone())),
            });
            if s.params.kind == Kind::Spot {
                continue;
            }
            let d = &mut s.deriv;
            d.mark = mid;
            d.index = mid - tick * Decimal::from(rng.random_range(0..5u32));
            d.funding_rate = (d.funding_rate + Decimal::new(rng.random_range(-3..=3i64), 6))
                .clamp(Decimal::new(-75, 4), Decimal::new(75, 4));
            if ts >= d.next_funding_ms {
                d.next_funding_ms = next_funding(ts);
            }
            let step = s.params.lot * Decimal::from(rng.random_range(0..1000u32));
            d.open_interest = if rng.random_bool(0.5) {
                d.open_interest + step
            } else {
                (d.open_interest - step).max(s.params.lot)
            };
            d.long_short_ratio = (d.long_short_ratio
                + Decimal::new(rng.random_range(-5..=5i64), 2))
            .clamp(Decimal::new(5, 1), Decimal::from(3u32));
            d.iv = (d.iv + Decimal::new(rng.random_range(-10..=10i64), 2))
                .clamp(Decimal::from(20u32), Decimal::from(150u32));
            let d = d.clone();
            let oi = d.open_interest;
            s.count(Channel::Funding);
            out.push(Update {
                symbol: sym.clone(),
                ts_ms: ts,
                kind: UpdateKind::Funding(Box::new(d)),
            });
            s.count(Channel::OpenInterest);
            out.push(Update {
                symbol: sym,
                ts_ms: ts,
                kind: UpdateKind::OpenInterest(oi),
            });
            if *venue == Venue::Deribit && s.params.kind != Kind::Option {
                let name = format!("{}_usd", s.params.base.to_lowercase());
                if !indexes.iter().any(|(n, _)| *n == name) {
                    indexes.push((name, s.deriv.index));
                }
            }
        }
        for (name, price) in indexes {
            let volatility = Decimal::new(rng.random_range(4000..6000i64), 2);
            out.push(Update {
                symbol: Arc::from(name.as_str()),
                ts_ms: ts,
                kind: UpdateKind::Index { price, volatility },
            });
        }
    }
}

fn roll_kline(k: &mut Stats24, ts: i64) {
    let start = ts - ts.rem_euclid(60_000);
    if start != k.open_ms {
        *k = Stats24::new(start, k.last);
    }
}

/// Next 8-hour funding boundary after `ts`.
fn next_funding(ts: i64) -> i64 {
    const H8: i64 = 8 * 3_600_000;
    ts - ts.rem_euclid(H8) + H8
}
