//! Conversion of parsed Binance payloads into the normalized model.
//!
//! Conventions: `exchange_ts` is the matching-engine time (`T`) where the payload has one,
//! else the event time (`E`), else — spot `bookTicker` and spot depth images carry no time at
//! all — the local receive time. Trade `side` is the taker side (`m` = buyer is maker → the
//! taker sold).

use compact_str::{CompactString, ToCompactString, format_compact};
use marketprism_core::model::{
    Bbo, FundingRate, Instrument, Kline, Liquidation, MarkPrice, MarketType, OpenInterest, Side,
    Ticker, TimestampNs, Trade, ms_to_ns,
};
use rust_decimal::Decimal;

use super::wire::{
    market::{
        AggTradeMsg, BookTickerMsg, ForceOrderMsg, KlineMsg, MarkPriceMsg, TickerMsg, TradeMsg,
    },
    rest::OpenInterestBody,
};

/// The taker side from Binance's "buyer is maker" flag.
#[inline]
pub(crate) fn taker_side(buyer_is_maker: bool) -> Side {
    if buyer_is_maker {
        Side::Sell
    } else {
        Side::Buy
    }
}

/// A `u64` id as inline text (`ToCompactString` specializes integers; ≤ 24 bytes stay
/// inline, so no heap allocation).
#[inline]
fn id_text(id: u64) -> CompactString {
    id.to_compact_string()
}

/// `trade` → [`Trade`]. Returns `None` for futures frames that are not trades: the live
/// USDⓈ-M stream sends `"X":"NA"` frames with price and quantity `"0"` (binance-usdm
/// `trade.jsonl` line 4).
pub(crate) fn trade(inst: &Instrument, m: &TradeMsg<'_>, local_ts: TimestampNs) -> Option<Trade> {
    if m.exec_type == Some("NA") || m.qty.is_zero() {
        return None;
    }
    Some(Trade {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        trade_id: id_text(m.trade_id),
        side: taker_side(m.buyer_is_maker),
        price: m.price,
        size: m.qty,
        exchange_ts: ms_to_ns(m.trade_time.unwrap_or(m.event_time)),
        local_ts,
    })
}

/// `aggTrade` → [`Trade`] with the aggregate id. A frame without `a` (one 2019 USDⓈ-M
/// capture) gets the id `"<first>-<last>"` from its trade-id range, which cannot collide with
/// aggregate ids.
pub(crate) fn agg_trade(inst: &Instrument, m: &AggTradeMsg<'_>, local_ts: TimestampNs) -> Trade {
    let trade_id = match m.agg_id {
        Some(a) => id_text(a),
        None => format_compact!("{}-{}", m.first_id, m.last_id),
    };
    Trade {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        trade_id,
        side: taker_side(m.buyer_is_maker),
        price: m.price,
        size: m.qty,
        exchange_ts: ms_to_ns(m.trade_time),
        local_ts,
    }
}

/// `bookTicker` → [`Bbo`] (sequence = `u`).
pub(crate) fn bbo(inst: &Instrument, m: &BookTickerMsg<'_>, local_ts: TimestampNs) -> Bbo {
    Bbo {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        bid_price: m.bid_price,
        bid_size: m.bid_qty,
        ask_price: m.ask_price,
        ask_size: m.ask_qty,
        sequence: Some(m.update_id),
        exchange_ts: m
            .transaction_time
            .or(m.event_time)
            .map_or(local_ts, ms_to_ns),
        local_ts,
    }
}

/// The quote value of a COIN-M quantity in contracts (`contracts × contractSize` USD); `None`
/// for other venues or when the contract size is unknown.
fn coinm_value(inst: &Instrument, contracts: Decimal) -> Option<Decimal> {
    inst.contract_size.and_then(|cs| contracts.checked_mul(cs))
}

/// `24hrTicker`, `24hrMiniTicker`, `1hTicker`/`4hTicker`/`1dTicker` → [`Ticker`].
/// On COIN-M, `v` is in contracts and `q` in the base asset, so the quote volume is
/// computed as `v × contractSize`.
pub(crate) fn ticker(
    inst: &Instrument,
    m: &TickerMsg<'_>,
    coinm: bool,
    local_ts: TimestampNs,
) -> Ticker {
    let quote_volume_24h = if coinm {
        m.volume.and_then(|v| coinm_value(inst, v))
    } else {
        m.quote_volume
    };
    Ticker {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        last_price: m.last,
        open_24h: m.open,
        high_24h: m.high,
        low_24h: m.low,
        volume_24h: m.volume,
        quote_volume_24h,
        best_bid: m.best_bid,
        best_ask: m.best_ask,
        exchange_ts: ms_to_ns(m.event_time),
        local_ts,
    }
}

/// `kline` → [`Kline`] (COIN-M quote volume as for tickers).
pub(crate) fn kline(
    inst: &Instrument,
    m: &KlineMsg<'_>,
    coinm: bool,
    local_ts: TimestampNs,
) -> Kline {
    let k = &m.k;
    Kline {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        interval: CompactString::new(k.interval),
        open_ts: ms_to_ns(k.open_time),
        open: k.open,
        high: k.high,
        low: k.low,
        close: k.close,
        volume: k.volume,
        quote_volume: if coinm {
            coinm_value(inst, k.volume)
        } else {
            k.quote_volume
        },
        closed: k.closed,
        exchange_ts: ms_to_ns(m.event_time),
        local_ts,
    }
}

/// `markPriceUpdate` → [`MarkPrice`] (every futures instrument).
pub(crate) fn mark_price(
    inst: &Instrument,
    m: &MarkPriceMsg<'_>,
    local_ts: TimestampNs,
) -> MarkPrice {
    MarkPrice {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        mark_price: Some(m.mark),
        index_price: m.index,
        exchange_ts: ms_to_ns(m.event_time),
        local_ts,
    }
}

/// `markPriceUpdate` → [`FundingRate`], for perpetuals only (delivery contracts carry
/// `"r":""` or a meaningless zero with `"T":0`).
pub(crate) fn funding(
    inst: &Instrument,
    m: &MarkPriceMsg<'_>,
    local_ts: TimestampNs,
) -> Option<FundingRate> {
    if inst.market != MarketType::Perpetual {
        return None;
    }
    Some(FundingRate {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        rate: m.funding_rate?,
        next_rate: None,
        next_funding_ts: m.next_funding_time.filter(|t| *t > 0).map(ms_to_ns),
        mark_price: Some(m.mark),
        index_price: m.index,
        exchange_ts: ms_to_ns(m.event_time),
        local_ts,
    })
}

/// `forceOrder` → [`Liquidation`]. Price is the average fill price `ap` (where the position
/// was actually closed) when non-zero, else the order price `p`; size is the filled quantity
/// `z` when non-zero, else the order quantity `q`. `None` for an unknown side string.
pub(crate) fn liquidation(
    inst: &Instrument,
    m: &ForceOrderMsg<'_>,
    local_ts: TimestampNs,
) -> Option<Liquidation> {
    let o = &m.order;
    let side = match o.side {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return None,
    };
    Some(Liquidation {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        side,
        price: o.avg_price.filter(|p| !p.is_zero()).unwrap_or(o.price),
        size: o.filled.filter(|z| !z.is_zero()).unwrap_or(o.qty),
        exchange_ts: ms_to_ns(o.trade_time),
        local_ts,
    })
}

/// Open-interest body → [`OpenInterest`]; COIN-M values it as `contracts × contractSize` USD.
pub(crate) fn open_interest(
    inst: &Instrument,
    b: &OpenInterestBody<'_>,
    coinm: bool,
    local_ts: TimestampNs,
) -> OpenInterest {
    OpenInterest {
        exchange: inst.exchange,
        market: inst.market,
        symbol: inst.symbol.clone(),
        open_interest: b.open_interest,
        open_interest_value: if coinm {
            coinm_value(inst, b.open_interest)
        } else {
            None
        },
        exchange_ts: ms_to_ns(b.time),
        local_ts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_sides() {
        assert_eq!(id_text(0).as_str(), "0");
        assert_eq!(id_text(7979344737).as_str(), "7979344737");
        assert_eq!(id_text(u64::MAX).as_str(), "18446744073709551615");
        assert_eq!(taker_side(true), Side::Sell);
        assert_eq!(taker_side(false), Side::Buy);
    }
}
