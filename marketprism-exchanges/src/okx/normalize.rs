//! Wire elements → normalized events. Timestamps: OKX milliseconds × 10⁶; symbols and market
//! types come from the instrument table (the caller looked the instrument up).

use compact_str::CompactString;
use marketprism_core::model::{
    Bbo, BookSnapshot, ExchangeId, FundingRate, Instrument, Kline, Level, Liquidation,
    LongShortRatio, MarkPrice, MarketType, OpenInterest, RatioKind, Symbol, Ticker, TimestampNs,
    Trade, ms_to_ns,
};
use rust_decimal::Decimal;

use super::wire::{
    book::BookData,
    market::{
        CandleRow, FundingData, IndexTickerData, LiquidationDetail, MarkPriceData,
        OpenInterestData, TickerData, TradeData,
    },
    rest::RatioRow,
};
use crate::ExchangeError;

fn invalid(what: &'static str, inst_id: &str, detail: &str) -> ExchangeError {
    ExchangeError::Invalid {
        exchange: ExchangeId::OKX,
        what,
        detail: format!("{inst_id}: {detail}"),
    }
}

/// A `trades` element; `side` is the taker side as OKX reports it.
pub(crate) fn trade(inst: &Instrument, t: &TradeData<'_>, local_ts: TimestampNs) -> Trade {
    Trade {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        trade_id: CompactString::new(t.trade_id),
        side: t.side.into(),
        price: t.px,
        size: t.sz,
        exchange_ts: ms_to_ns(t.ts),
        local_ts,
    }
}

/// A `tickers` element. Volume is `vol24h` (base for spot, contracts for derivatives); quote
/// volume is `volCcy24h` for spot only, because for derivatives OKX reports it in the base
/// currency, not the quote. A ticker without `last` is rejected.
pub(crate) fn ticker(
    inst: &Instrument,
    t: &TickerData<'_>,
    local_ts: TimestampNs,
) -> Result<Ticker, ExchangeError> {
    let last_price = t
        .last
        .ok_or_else(|| invalid("ticker", t.inst_id, "no last price"))?;
    Ok(Ticker {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        last_price,
        open_24h: t.open_24h,
        high_24h: t.high_24h,
        low_24h: t.low_24h,
        volume_24h: t.vol_24h,
        quote_volume_24h: if inst.market == MarketType::Spot {
            t.vol_ccy_24h
        } else {
            None
        },
        best_bid: t.bid_px,
        best_ask: t.ask_px,
        exchange_ts: ms_to_ns(t.ts),
        local_ts,
    })
}

/// A `funding-rate` element (WebSocket or REST). `rate` is `fundingRate`, the rate of the
/// current period, and `next_funding_ts` its settlement time `fundingTime`; `next_rate` is the
/// forecast `nextFundingRate` when OKX still publishes one. Frames before 2023 carry no `ts`:
/// the local time stands in. A frame **without `fundingRate`** (seen in 2021, e.g.
/// `SOS-USDT-SWAP` with only `nextFundingRate`) is rejected: the current rate is the
/// event's one required value, and a forecast is not a substitute for it.
pub(crate) fn funding(
    inst: &Instrument,
    f: &FundingData<'_>,
    local_ts: TimestampNs,
) -> Result<FundingRate, ExchangeError> {
    let rate = f.funding_rate.ok_or_else(|| {
        invalid(
            "funding-rate",
            f.inst_id,
            "no fundingRate (only nextFundingRate)",
        )
    })?;
    Ok(FundingRate {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        rate,
        next_rate: f.next_funding_rate,
        next_funding_ts: f.funding_time.map(ms_to_ns),
        mark_price: None,
        index_price: None,
        exchange_ts: f.ts.map_or(local_ts, ms_to_ns),
        local_ts,
    })
}

/// An `open-interest` element (WebSocket or REST): `oi` in contracts; the value is `oiUsd`
/// when present (`oiCcy`, in the base currency, is not a value).
pub(crate) fn open_interest(
    inst: &Instrument,
    o: &OpenInterestData<'_>,
    local_ts: TimestampNs,
) -> OpenInterest {
    OpenInterest {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        open_interest: o.oi,
        open_interest_value: o.oi_usd,
        exchange_ts: ms_to_ns(o.ts),
        local_ts,
    }
}

/// A `mark-price` element.
pub(crate) fn mark_price(
    inst: &Instrument,
    m: &MarkPriceData<'_>,
    local_ts: TimestampNs,
) -> MarkPrice {
    MarkPrice {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        mark_price: Some(m.mark_px),
        index_price: None,
        exchange_ts: ms_to_ns(m.ts),
        local_ts,
    }
}

/// An `index-tickers` element: an index, so [`MarketType::Index`] and the index id
/// (`BTC-USD`, already `BASE-QUOTE`) as the symbol.
pub(crate) fn index_price(
    symbol: Symbol,
    i: &IndexTickerData<'_>,
    local_ts: TimestampNs,
) -> MarkPrice {
    MarkPrice {
        exchange: ExchangeId::OKX,
        market: MarketType::Index,
        symbol,
        mark_price: None,
        index_price: Some(i.idx_px),
        exchange_ts: ms_to_ns(i.ts),
        local_ts,
    }
}

/// One `details` element of a `liquidation-orders` push: the liquidation order's side, its
/// bankruptcy price and size.
pub(crate) fn liquidation(
    inst: &Instrument,
    d: &LiquidationDetail,
    local_ts: TimestampNs,
) -> Liquidation {
    Liquidation {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        side: d.side.into(),
        price: d.bk_px,
        size: d.sz,
        exchange_ts: ms_to_ns(d.ts),
        local_ts,
    }
}

/// A `candle<bar>` row. Quote volume: `volCcyQuote` (9-element rows), else `volCcy` for spot
/// (quote currency there). 7-element rows (2022) have no `confirm` and are reported not closed.
/// The exchange time is the candle's open time (OKX stamps nothing else).
pub(crate) fn kline(
    inst: &Instrument,
    interval: &str,
    c: &CandleRow,
    local_ts: TimestampNs,
) -> Kline {
    let quote_volume = c.vol_ccy_quote.or(if inst.market == MarketType::Spot {
        c.vol_ccy
    } else {
        None
    });
    Kline {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        interval: CompactString::new(interval),
        open_ts: ms_to_ns(c.ts),
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        volume: c.vol,
        quote_volume,
        closed: c.confirm.unwrap_or(false),
        exchange_ts: ms_to_ns(c.ts),
        local_ts,
    }
}

/// A full-image book element (`books5`, REST `/api/v5/market/books`) as a snapshot with
/// the given sequence, truncated to `depth`.
pub(crate) fn book_image(
    inst: &Instrument,
    mut b: BookData,
    sequence: u64,
    depth: Option<usize>,
    local_ts: TimestampNs,
) -> BookSnapshot {
    if let Some(d) = depth {
        b.bids.truncate(d);
        b.asks.truncate(d);
    }
    BookSnapshot {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        sequence,
        bids: b.bids,
        asks: b.asks,
        exchange_ts: ms_to_ns(b.ts),
        local_ts,
        top_n: None,
    }
}

/// A `bbo-tbt` element. An empty side (a one-sided option market) is reported as price 0,
/// size 0, since the model's BBO sides are not optional.
pub(crate) fn bbo(inst: &Instrument, b: &BookData, local_ts: TimestampNs) -> Bbo {
    let empty = Level::new(Decimal::ZERO, Decimal::ZERO);
    let bid = b.bids.first().copied().unwrap_or(empty);
    let ask = b.asks.first().copied().unwrap_or(empty);
    Bbo {
        exchange: ExchangeId::OKX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        bid_price: bid.price,
        bid_size: bid.size,
        ask_price: ask.price,
        ask_size: ask.size,
        sequence: b.seq_id.and_then(|s| u64::try_from(s).ok()),
        exchange_ts: ms_to_ns(b.ts),
        local_ts,
    }
}

/// One Rubik `[ts, ratio]` row.
pub(crate) fn ratio(
    symbol: Symbol,
    market: MarketType,
    kind: RatioKind,
    period: &str,
    r: &RatioRow,
    local_ts: TimestampNs,
) -> LongShortRatio {
    LongShortRatio {
        exchange: ExchangeId::OKX,
        market,
        symbol,
        kind,
        period: CompactString::new(period),
        ratio: r.1.0,
        long_share: None,
        short_share: None,
        exchange_ts: ms_to_ns(r.0.0),
        local_ts,
    }
}
