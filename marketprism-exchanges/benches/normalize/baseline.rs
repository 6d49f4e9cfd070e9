//! The same-run baseline: each case's lines parsed with `serde_json::from_str` into a
//! `#[derive(Deserialize)]` struct of borrowed fields mirroring the wire message: the fields
//! the normalizer reads, strings as `&str`, JSON numbers that are prices or sizes as
//! `&RawValue` (their exact text, no float), level arrays as arrays of those. Unknown fields
//! are skipped, as serde does by default. This is what a hand-written serde parser of the
//! same messages costs before it does anything with them.

#![allow(dead_code)] // fields exist to be parsed, not read

use std::hint::black_box;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON number kept as its text.
type Num<'a> = &'a RawValue;

/// Binance combined-stream wrapper `{"stream":…,"data":{…}}`.
#[derive(Deserialize)]
struct Combined<'a, T> {
    #[serde(borrow)]
    stream: &'a str,
    data: T,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BinanceTrade<'a> {
    e: &'a str,
    E: i64,
    s: &'a str,
    t: u64,
    p: &'a str,
    q: &'a str,
    T: i64,
    m: bool,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BinanceAggTrade<'a> {
    e: &'a str,
    E: i64,
    s: &'a str,
    a: u64,
    p: &'a str,
    q: &'a str,
    f: u64,
    l: u64,
    T: i64,
    m: bool,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BinanceBookTicker<'a> {
    u: u64,
    s: &'a str,
    b: &'a str,
    B: &'a str,
    a: &'a str,
    A: &'a str,
    /// USDⓈ-M only.
    T: Option<i64>,
    E: Option<i64>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BinanceDepth<'a> {
    e: &'a str,
    E: i64,
    s: &'a str,
    U: u64,
    u: u64,
    /// USDⓈ-M only.
    pu: Option<u64>,
    T: Option<i64>,
    #[serde(borrow)]
    b: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    a: Vec<[&'a str; 2]>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct OkxArg<'a> {
    channel: &'a str,
    instId: &'a str,
}

/// OKX push `{"arg":{…},"action":…,"data":[…]}`.
#[derive(Deserialize)]
struct OkxPush<'a, T> {
    #[serde(borrow)]
    arg: OkxArg<'a>,
    action: Option<&'a str>,
    data: Vec<T>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct OkxTrade<'a> {
    instId: &'a str,
    tradeId: &'a str,
    px: &'a str,
    sz: &'a str,
    side: &'a str,
    ts: &'a str,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct OkxBook<'a> {
    #[serde(borrow)]
    asks: Vec<[&'a str; 4]>,
    #[serde(borrow)]
    bids: Vec<[&'a str; 4]>,
    ts: &'a str,
    checksum: Option<i32>,
    seqId: Option<i64>,
    prevSeqId: Option<i64>,
}

/// Deribit notification `{"jsonrpc":…,"method":…,"params":{"channel":…,"data":…}}`.
#[derive(Deserialize)]
struct DeribitMsg<'a, T> {
    #[serde(borrow)]
    method: &'a str,
    params: DeribitParams<'a, T>,
}

#[derive(Deserialize)]
struct DeribitParams<'a, T> {
    #[serde(borrow)]
    channel: &'a str,
    data: T,
}

#[derive(Deserialize)]
struct DeribitBook<'a> {
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    timestamp: i64,
    instrument_name: &'a str,
    change_id: u64,
    prev_change_id: Option<u64>,
    #[serde(borrow)]
    bids: Vec<(&'a str, Num<'a>, Num<'a>)>,
    #[serde(borrow)]
    asks: Vec<(&'a str, Num<'a>, Num<'a>)>,
}

#[derive(Deserialize)]
struct DeribitTrade<'a> {
    trade_id: &'a str,
    timestamp: i64,
    #[serde(borrow)]
    price: Num<'a>,
    #[serde(borrow)]
    amount: Num<'a>,
    direction: &'a str,
    instrument_name: &'a str,
    liquidation: Option<&'a str>,
}

#[derive(Deserialize)]
struct DeribitStats<'a> {
    #[serde(borrow)]
    volume: Option<Num<'a>>,
    #[serde(borrow)]
    volume_usd: Option<Num<'a>>,
    #[serde(borrow)]
    low: Option<Num<'a>>,
    #[serde(borrow)]
    high: Option<Num<'a>>,
}

#[derive(Deserialize)]
struct DeribitGreeks<'a> {
    #[serde(borrow)]
    delta: Option<Num<'a>>,
    #[serde(borrow)]
    gamma: Option<Num<'a>>,
    #[serde(borrow)]
    vega: Option<Num<'a>>,
    #[serde(borrow)]
    theta: Option<Num<'a>>,
    #[serde(borrow)]
    rho: Option<Num<'a>>,
}

#[derive(Deserialize)]
struct DeribitTicker<'a> {
    timestamp: i64,
    instrument_name: &'a str,
    #[serde(borrow)]
    last_price: Option<Num<'a>>,
    #[serde(borrow)]
    best_bid_price: Option<Num<'a>>,
    #[serde(borrow)]
    best_bid_amount: Option<Num<'a>>,
    #[serde(borrow)]
    best_ask_price: Option<Num<'a>>,
    #[serde(borrow)]
    best_ask_amount: Option<Num<'a>>,
    #[serde(borrow)]
    mark_price: Option<Num<'a>>,
    #[serde(borrow)]
    index_price: Option<Num<'a>>,
    #[serde(borrow)]
    open_interest: Option<Num<'a>>,
    #[serde(borrow)]
    stats: Option<DeribitStats<'a>>,
    #[serde(borrow)]
    current_funding: Option<Num<'a>>,
    #[serde(borrow)]
    underlying_price: Option<Num<'a>>,
    underlying_index: Option<&'a str>,
    #[serde(borrow)]
    mark_iv: Option<Num<'a>>,
    #[serde(borrow)]
    bid_iv: Option<Num<'a>>,
    #[serde(borrow)]
    ask_iv: Option<Num<'a>>,
    #[serde(borrow)]
    greeks: Option<DeribitGreeks<'a>>,
}

/// Parses every line as `T`; the count of lines that parsed (all of them, on the corpus).
fn parse_all<'a, T: Deserialize<'a>>(frames: &'a [String]) -> usize {
    frames
        .iter()
        .map(|f| match serde_json::from_str::<T>(black_box(f)) {
            Ok(v) => {
                black_box(&v);
                1
            }
            Err(_) => 0,
        })
        .sum()
}

/// The baseline parse of one case's lines.
pub(crate) type Baseline = fn(&[String]) -> usize;

pub(crate) fn binance_trade(f: &[String]) -> usize {
    parse_all::<Combined<'_, BinanceTrade<'_>>>(f)
}
pub(crate) fn binance_agg_trade(f: &[String]) -> usize {
    parse_all::<Combined<'_, BinanceAggTrade<'_>>>(f)
}
pub(crate) fn binance_book_ticker(f: &[String]) -> usize {
    parse_all::<Combined<'_, BinanceBookTicker<'_>>>(f)
}
pub(crate) fn binance_depth(f: &[String]) -> usize {
    parse_all::<Combined<'_, BinanceDepth<'_>>>(f)
}
pub(crate) fn okx_trades(f: &[String]) -> usize {
    parse_all::<OkxPush<'_, OkxTrade<'_>>>(f)
}
pub(crate) fn okx_books(f: &[String]) -> usize {
    parse_all::<OkxPush<'_, OkxBook<'_>>>(f)
}
pub(crate) fn deribit_book(f: &[String]) -> usize {
    parse_all::<DeribitMsg<'_, DeribitBook<'_>>>(f)
}
pub(crate) fn deribit_trades(f: &[String]) -> usize {
    parse_all::<DeribitMsg<'_, Vec<DeribitTrade<'_>>>>(f)
}
pub(crate) fn deribit_ticker(f: &[String]) -> usize {
    parse_all::<DeribitMsg<'_, DeribitTicker<'_>>>(f)
}
