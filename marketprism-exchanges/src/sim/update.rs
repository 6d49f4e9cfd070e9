//! What the simulated market emits: book diffs with sequence ids, trades, BBO, tickers,
//! funding, open interest, liquidations, klines, indexes, and replayed frames.

use std::sync::Arc;

use rust_decimal::Decimal;
/// A book side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Bid,
    Ask,
}

/// How a level changed (Deribit names the action; others only send the new size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    New,
    Change,
    Delete,
}

/// One level change of a diff: the new absolute size (zero = deleted).
#[derive(Debug, Clone)]
pub(crate) struct LevelChange {
    pub(crate) price: Decimal,
    pub(crate) size: Decimal,
    pub(crate) action: Action,
}

/// The best levels of a book (best first).
#[derive(Debug, Clone, Default)]
pub(crate) struct Top {
    pub(crate) bids: Vec<(Decimal, Decimal)>,
    pub(crate) asks: Vec<(Decimal, Decimal)>,
}

/// One book change with its sequence ids: `first..=last` are the ids it covers (Binance
/// `U`/`u`; OKX and Deribit use `last`), `prev` the `last` of the previous diff (`pu`,
/// `prevSeqId`, `prev_change_id`).
#[derive(Debug, Clone)]
pub(crate) struct Diff {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) prev: u64,
    pub(crate) bids: Vec<LevelChange>,
    pub(crate) asks: Vec<LevelChange>,
    /// Top 25 levels per side after this diff.
    pub(crate) top: Arc<Top>,
    /// OKX CRC32 of the top 25 after this diff (0 when disabled).
    pub(crate) checksum: i32,
}

/// A trade.
#[derive(Debug, Clone)]
pub(crate) struct TradeEv {
    pub(crate) id: u64,
    pub(crate) price: Decimal,
    pub(crate) qty: Decimal,
    /// The buyer was the maker (the taker sold).
    pub(crate) buyer_maker: bool,
}

/// Rolling statistics since start (the "24 h" window of tickers) and the current 1 m kline.
#[derive(Debug, Clone)]
pub(crate) struct Stats24 {
    pub(crate) open_ms: i64,
    pub(crate) open: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    pub(crate) last: Decimal,
    pub(crate) last_qty: Decimal,
    pub(crate) volume: Decimal,
    pub(crate) quote_volume: Decimal,
    pub(crate) count: u64,
    pub(crate) first_id: u64,
    pub(crate) last_id: u64,
}

impl Stats24 {
    pub(crate) fn new(ts: i64, price: Decimal) -> Self {
        Stats24 {
            open_ms: ts,
            open: price,
            high: price,
            low: price,
            last: price,
            last_qty: Decimal::ZERO,
            volume: Decimal::ZERO,
            quote_volume: Decimal::ZERO,
            count: 0,
            first_id: 0,
            last_id: 0,
        }
    }

    pub(crate) fn add(&mut self, t: &TradeEv) {
        if self.count == 0 {
            self.first_id = t.id;
        }
        self.count += 1;
        self.last_id = t.id;
        self.last = t.price;
        self.last_qty = t.qty;
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.volume += t.qty;
        self.quote_volume += t.qty * t.price;
    }
}

/// Derivative state: mark, index, funding, open interest, long/short ratio.
#[derive(Debug, Clone)]
pub(crate) struct Deriv {
    pub(crate) mark: Decimal,
    pub(crate) index: Decimal,
    pub(crate) funding_rate: Decimal,
    pub(crate) next_funding_ms: i64,
    pub(crate) open_interest: Decimal,
    pub(crate) long_short_ratio: Decimal,
    pub(crate) iv: Decimal,
}

/// What happened.
#[derive(Debug, Clone)]
pub(crate) enum UpdateKind {
    Diff(Diff),
    Trade(TradeEv),
    /// Best bid/ask after the diff with id `seq`.
    Bbo {
        seq: u64,
        bid: (Decimal, Decimal),
        ask: (Decimal, Decimal),
    },
    Ticker(Box<Stats24>),
    Funding(Box<Deriv>),
    OpenInterest(Decimal),
    Liquidation {
        sell: bool,
        price: Decimal,
        qty: Decimal,
    },
    Kline(Box<Stats24>),
    /// A price index (`symbol` is the index name, e.g. `btc_usd`), with its volatility index.
    Index {
        price: Decimal,
        volatility: Decimal,
    },
    /// A replayed frame, sent as is.
    Raw(Arc<str>),
}

/// One market event of one symbol.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    pub(crate) symbol: Arc<str>,
    pub(crate) ts_ms: i64,
    pub(crate) kind: UpdateKind,
}
