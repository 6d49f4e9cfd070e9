//! Wire structs → normalized events. Timestamps are ms on the wire; sizes stay in Deribit's
//! amount unit (USD for inverse futures/perpetuals, coin for options and linear instruments).

use compact_str::CompactString;
use marketprism_core::{
    book::OrderBook,
    model::{
        Bbo, BookSnapshot, ExchangeId, FundingRate, Instrument, Kline, Liquidation, MarkPrice,
        MarketEvent, MarketType, OpenInterest, OptionSummary, Side, Status, StatusKind, Symbol,
        Ticker, TimestampNs, Trade, VolatilityIndex, ms_to_ns,
    },
};
use rust_decimal::Decimal;

use super::wire::{
    ChartData, GroupedBookData, PerpetualData, PriceIndexData, QuoteData, TickerData, TradeData,
    rest::BookSummary,
};
use crate::ExchangeError;

const EX: ExchangeId = ExchangeId::DERIBIT;

/// `buy`/`sell` → side.
pub(crate) fn side(direction: &str) -> Result<Side, ExchangeError> {
    match direction {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(ExchangeError::Invalid {
            exchange: EX,
            what: "trade",
            detail: format!("direction `{other}`"),
        }),
    }
}

fn opposite(side: Side) -> Side {
    match side {
        Side::Buy => Side::Sell,
        Side::Sell => Side::Buy,
    }
}

/// A trade (taker side = `direction`), plus a [`Liquidation`] per liquidated party:
/// `T` the taker's order was the liquidation (same side), `M` the maker's (opposite side).
pub(crate) fn trade(
    inst: &Instrument,
    t: &TradeData<'_>,
    local_ts: TimestampNs,
    out: &mut Vec<MarketEvent>,
) -> Result<(), ExchangeError> {
    let side = side(t.direction)?;
    let exchange_ts = ms_to_ns(t.timestamp);
    out.push(MarketEvent::Trade(Trade {
        exchange: EX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        trade_id: CompactString::from(t.trade_id),
        side,
        price: t.price,
        size: t.amount,
        exchange_ts,
        local_ts,
    }));
    if let Some(who) = t.liquidation {
        let liquidation = |side| {
            MarketEvent::Liquidation(Liquidation {
                exchange: EX,
                market: inst.market,
                symbol: inst.symbol.clone(),
                side,
                price: t.price,
                size: t.amount,
                exchange_ts,
                local_ts,
            })
        };
        if who.contains('T') {
            out.push(liquidation(side));
        }
        if who.contains('M') {
            out.push(liquidation(opposite(side)));
        }
    }
    Ok(())
}

/// Deribit quotes "no bid" as price `0.0` with amount `0.0`.
fn present(price: Option<Decimal>, amount: Option<Decimal>) -> Option<Decimal> {
    match (price, amount) {
        (Some(p), Some(a)) if !a.is_zero() => Some(p),
        _ => None,
    }
}

/// A ticker fans out into what it carries: [`Ticker`] (when the instrument has traded),
/// [`MarkPrice`], [`OpenInterest`], [`FundingRate`] (perpetuals) and [`OptionSummary`]
/// (options).
///
/// Funding: Deribit accrues funding continuously; `funding_8h` (the rate over the trailing
/// 8 hours) is the figure comparable to other venues' 8-hour rates, so it is the `rate`;
/// `current_funding` is used only when `funding_8h` is absent.
pub(crate) fn ticker(
    inst: &Instrument,
    t: &TickerData<'_>,
    local_ts: TimestampNs,
    out: &mut Vec<MarketEvent>,
) {
    let exchange_ts = ms_to_ns(t.timestamp);
    let stats = t.stats.as_ref();
    if let Some(last_price) = t.last_price {
        out.push(MarketEvent::Ticker(Ticker {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            last_price,
            open_24h: None,
            high_24h: stats.and_then(|s| s.high),
            low_24h: stats.and_then(|s| s.low),
            volume_24h: stats.and_then(|s| s.volume),
            quote_volume_24h: stats.and_then(|s| s.volume_notional.or(s.volume_usd)),
            best_bid: present(t.best_bid_price, t.best_bid_amount),
            best_ask: present(t.best_ask_price, t.best_ask_amount),
            exchange_ts,
            local_ts,
        }));
    }
    if t.mark_price.is_some() || t.index_price.is_some() {
        out.push(MarketEvent::MarkPrice(MarkPrice {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            mark_price: t.mark_price,
            index_price: t.index_price,
            exchange_ts,
            local_ts,
        }));
    }
    if inst.market == MarketType::Perpetual
        && let Some(rate) = t.funding_8h.or(t.current_funding)
    {
        out.push(MarketEvent::FundingRate(FundingRate {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            rate,
            next_rate: None,
            next_funding_ts: None,
            mark_price: t.mark_price,
            index_price: t.index_price,
            exchange_ts,
            local_ts,
        }));
    }
    if let Some(open_interest) = t.open_interest {
        out.push(MarketEvent::OpenInterest(OpenInterest {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            open_interest,
            open_interest_value: None,
            exchange_ts,
            local_ts,
        }));
    }
    if inst.market == MarketType::Option {
        let greeks = t.greeks.as_ref();
        out.push(MarketEvent::OptionSummary(OptionSummary {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            mark_price: t.mark_price,
            mark_iv: t.mark_iv,
            bid_iv: t.bid_iv,
            ask_iv: t.ask_iv,
            delta: greeks.and_then(|g| g.delta),
            gamma: greeks.and_then(|g| g.gamma),
            vega: greeks.and_then(|g| g.vega),
            theta: greeks.and_then(|g| g.theta),
            rho: greeks.and_then(|g| g.rho),
            underlying_price: t.underlying_price,
            underlying_index: t.underlying_index.map(CompactString::from),
            open_interest: t.open_interest,
            exchange_ts,
            local_ts,
        }));
    }
}

/// `quote.{instrument}` → [`Bbo`].
pub(crate) fn quote(inst: &Instrument, q: &QuoteData<'_>, local_ts: TimestampNs) -> MarketEvent {
    MarketEvent::Bbo(Bbo {
        exchange: EX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        bid_price: q.best_bid_price,
        bid_size: q.best_bid_amount,
        ask_price: q.best_ask_price,
        ask_size: q.best_ask_amount,
        sequence: None,
        exchange_ts: ms_to_ns(q.timestamp),
        local_ts,
    })
}

/// `chart.trades.{instrument}.{resolution}` → [`Kline`]. The interval is Deribit's resolution
/// text (`1`, `60` minutes, `1D`); candles are updated in place, so `closed` is false and,
/// the message carrying no timestamp of its own, `exchange_ts` is the receive time.
pub(crate) fn kline(
    inst: &Instrument,
    resolution: &str,
    c: &ChartData,
    local_ts: TimestampNs,
) -> MarketEvent {
    MarketEvent::Kline(Kline {
        exchange: EX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        interval: CompactString::from(resolution),
        open_ts: ms_to_ns(c.tick),
        open: c.open,
        high: c.high,
        low: c.low,
        close: c.close,
        volume: c.volume,
        quote_volume: c.cost,
        closed: false,
        exchange_ts: local_ts,
        local_ts,
    })
}

/// `deribit_price_index.{index}` → [`MarkPrice`] of market [`MarketType::Index`].
pub(crate) fn price_index(
    symbol: Symbol,
    p: &PriceIndexData<'_>,
    local_ts: TimestampNs,
) -> MarketEvent {
    MarketEvent::MarkPrice(MarkPrice {
        exchange: EX,
        market: MarketType::Index,
        symbol,
        mark_price: None,
        index_price: Some(p.price),
        exchange_ts: ms_to_ns(p.timestamp),
        local_ts,
    })
}

/// DVOL value → [`VolatilityIndex`].
pub(crate) fn volatility_index(
    symbol: Symbol,
    value: Decimal,
    timestamp_ms: i64,
    local_ts: TimestampNs,
) -> MarketEvent {
    MarketEvent::VolatilityIndex(VolatilityIndex {
        exchange: EX,
        market: MarketType::Index,
        symbol,
        value,
        exchange_ts: ms_to_ns(timestamp_ms),
        local_ts,
    })
}

/// `perpetual.{instrument}.{interval}` → [`FundingRate`] (`interest` is the current rate).
pub(crate) fn perpetual(
    inst: &Instrument,
    p: &PerpetualData,
    local_ts: TimestampNs,
) -> MarketEvent {
    MarketEvent::FundingRate(FundingRate {
        exchange: EX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        rate: p.interest,
        next_rate: None,
        next_funding_ts: None,
        mark_price: None,
        index_price: p.index_price,
        exchange_ts: ms_to_ns(p.timestamp),
        local_ts,
    })
}

/// A full image (grouped book channel or `public/get_order_book`) → [`BookSnapshot`],
/// re-sorted through an [`OrderBook`] and cut to `depth`. A crossed image is not emitted:
/// a `BookResync` status says the image was dropped (the next image replaces it).
pub(crate) fn full_image(
    inst: &Instrument,
    b: &GroupedBookData<'_>,
    depth: Option<usize>,
    local_ts: TimestampNs,
) -> MarketEvent {
    let mut book = depth.map_or_else(OrderBook::new, OrderBook::with_depth);
    book.replace(b.change_id, &b.bids.0, &b.asks.0);
    if book.is_crossed() {
        return MarketEvent::Status(Status::new(
            EX,
            inst.market,
            Some(inst.symbol.clone()),
            local_ts,
            StatusKind::BookResync {
                reason: "crossed snapshot dropped".to_owned(),
            },
        ));
    }
    let (bids, asks) = book.top(depth.unwrap_or(usize::MAX));
    MarketEvent::BookSnapshot(BookSnapshot {
        exchange: EX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        sequence: b.change_id,
        bids,
        asks,
        exchange_ts: ms_to_ns(b.timestamp),
        local_ts,
        top_n: None,
    })
}

/// One book-summary entry → [`OpenInterest`], plus an [`OptionSummary`] for options (only
/// the fields the summary has: mark price/IV, underlying, open interest).
pub(crate) fn book_summary(
    inst: &Instrument,
    s: &BookSummary<'_>,
    local_ts: TimestampNs,
    out: &mut Vec<MarketEvent>,
) {
    let exchange_ts = ms_to_ns(s.creation_timestamp);
    if let Some(open_interest) = s.open_interest {
        out.push(MarketEvent::OpenInterest(OpenInterest {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            open_interest,
            open_interest_value: None,
            exchange_ts,
            local_ts,
        }));
    }
    if inst.market == MarketType::Option {
        out.push(MarketEvent::OptionSummary(OptionSummary {
            exchange: EX,
            market: inst.market,
            symbol: inst.symbol.clone(),
            mark_price: s.mark_price,
            mark_iv: s.mark_iv,
            bid_iv: None,
            ask_iv: None,
            delta: None,
            gamma: None,
            vega: None,
            theta: None,
            rho: None,
            underlying_price: s.underlying_price,
            underlying_index: s.underlying_index.map(CompactString::from),
            open_interest: s.open_interest,
            exchange_ts,
            local_ts,
        }));
    }
}

/// A perpetual's book-summary entry → [`FundingRate`] (same choice of rate as [`ticker`]).
pub(crate) fn summary_funding(
    inst: &Instrument,
    s: &BookSummary<'_>,
    local_ts: TimestampNs,
) -> Option<MarketEvent> {
    let rate = s.funding_8h.or(s.current_funding)?;
    Some(MarketEvent::FundingRate(FundingRate {
        exchange: EX,
        market: inst.market,
        symbol: inst.symbol.clone(),
        rate,
        next_rate: None,
        next_funding_ts: None,
        mark_price: s.mark_price,
        index_price: None,
        exchange_ts: ms_to_ns(s.creation_timestamp),
        local_ts,
    }))
}

/// `btc_usd` → `BTC-USD` (index symbols: upper case, `_` → `-`).
pub(crate) fn index_symbol_text(index_name: &str) -> String {
    index_name.to_ascii_uppercase().replace('_', "-")
}

/// `btc_usd` or `BTC` → `BTC-DVOL`.
pub(crate) fn dvol_symbol_text(index_or_currency: &str) -> String {
    let base = index_or_currency
        .split_once('_')
        .map_or(index_or_currency, |(b, _)| b);
    format!("{}-DVOL", base.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_texts() {
        assert_eq!(index_symbol_text("btc_usd"), "BTC-USD");
        assert_eq!(index_symbol_text("eth_usdc"), "ETH-USDC");
        assert_eq!(dvol_symbol_text("btc_usd"), "BTC-DVOL");
        assert_eq!(dvol_symbol_text("ETH"), "ETH-DVOL");
    }
}
