//! Row types of the less frequent event kinds (see [`super::rows`]).

use clickhouse::Row;
use marketprism_core::model::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::decimal::{from_i128 as dec, opt_from_i128 as odec, opt_to_i128 as oi, to_i128 as i};
use super::rows::{EventRow, corrupt, exchange, market, side, side_code};
use crate::{EventKind, Result, identity::ratio_kind_str};

/// Liquidation row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct LiquidationRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub side: i8,
    pub price: i128,
    pub size: i128,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for LiquidationRow {
    const EVENT_KIND: EventKind = EventKind::Liquidation;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Liquidation(l) = event else {
            return Ok(None);
        };
        Ok(Some(LiquidationRow {
            exchange: l.exchange.as_str().into(),
            market: l.market.as_str().into(),
            symbol: l.symbol.as_str().into(),
            side: side_code(l.side),
            price: i(&l.price)?,
            size: i(&l.size)?,
            exchange_ts: l.exchange_ts,
            local_ts: l.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Liquidation(Liquidation {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            side: side(self.side)?,
            price: dec(self.price)?,
            size: dec(self.size)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Long/short ratio row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct LongShortRatioRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub kind: String,
    pub period: String,
    pub ratio: i128,
    pub long_share: Option<i128>,
    pub short_share: Option<i128>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

fn ratio_kind(s: &str) -> Result<RatioKind> {
    [
        RatioKind::TopTraderPositions,
        RatioKind::TopTraderAccounts,
        RatioKind::AllAccounts,
    ]
    .into_iter()
    .find(|k| ratio_kind_str(*k) == s)
    .ok_or_else(|| corrupt("ratio kind", s))
}

impl EventRow for LongShortRatioRow {
    const EVENT_KIND: EventKind = EventKind::LongShortRatio;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::LongShortRatio(r) = event else {
            return Ok(None);
        };
        Ok(Some(LongShortRatioRow {
            exchange: r.exchange.as_str().into(),
            market: r.market.as_str().into(),
            symbol: r.symbol.as_str().into(),
            kind: ratio_kind_str(r.kind).into(),
            period: r.period.as_str().into(),
            ratio: i(&r.ratio)?,
            long_share: oi(&r.long_share)?,
            short_share: oi(&r.short_share)?,
            exchange_ts: r.exchange_ts,
            local_ts: r.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::LongShortRatio(LongShortRatio {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            kind: ratio_kind(&self.kind)?,
            period: self.period.into(),
            ratio: dec(self.ratio)?,
            long_share: odec(self.long_share)?,
            short_share: odec(self.short_share)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Option summary row. Greeks and IVs arrive from exchanges as binary floats with up to 17
/// significant digits at any scale, so they are kept as exact decimal text (`Nullable(String)`).
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct OptionSummaryRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub mark_price: Option<String>,
    pub mark_iv: Option<String>,
    pub bid_iv: Option<String>,
    pub ask_iv: Option<String>,
    pub delta: Option<String>,
    pub gamma: Option<String>,
    pub vega: Option<String>,
    pub theta: Option<String>,
    pub rho: Option<String>,
    pub underlying_price: Option<String>,
    pub underlying_index: Option<String>,
    pub open_interest: Option<String>,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

fn text(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(Decimal::to_string)
}
fn untext(s: Option<String>) -> Result<Option<Decimal>> {
    s.map(|s| s.parse().map_err(|_| corrupt("decimal text", &s)))
        .transpose()
}

impl EventRow for OptionSummaryRow {
    const EVENT_KIND: EventKind = EventKind::OptionSummary;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::OptionSummary(o) = event else {
            return Ok(None);
        };
        Ok(Some(OptionSummaryRow {
            exchange: o.exchange.as_str().into(),
            market: o.market.as_str().into(),
            symbol: o.symbol.as_str().into(),
            mark_price: text(&o.mark_price),
            mark_iv: text(&o.mark_iv),
            bid_iv: text(&o.bid_iv),
            ask_iv: text(&o.ask_iv),
            delta: text(&o.delta),
            gamma: text(&o.gamma),
            vega: text(&o.vega),
            theta: text(&o.theta),
            rho: text(&o.rho),
            underlying_price: text(&o.underlying_price),
            underlying_index: o.underlying_index.as_ref().map(|s| s.as_str().to_owned()),
            open_interest: text(&o.open_interest),
            exchange_ts: o.exchange_ts,
            local_ts: o.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::OptionSummary(OptionSummary {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            mark_price: untext(self.mark_price)?,
            mark_iv: untext(self.mark_iv)?,
            bid_iv: untext(self.bid_iv)?,
            ask_iv: untext(self.ask_iv)?,
            delta: untext(self.delta)?,
            gamma: untext(self.gamma)?,
            vega: untext(self.vega)?,
            theta: untext(self.theta)?,
            rho: untext(self.rho)?,
            underlying_price: untext(self.underlying_price)?,
            underlying_index: self.underlying_index.map(Into::into),
            open_interest: untext(self.open_interest)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Volatility index row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct VolatilityIndexRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub value: i128,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for VolatilityIndexRow {
    const EVENT_KIND: EventKind = EventKind::VolatilityIndex;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::VolatilityIndex(v) = event else {
            return Ok(None);
        };
        Ok(Some(VolatilityIndexRow {
            exchange: v.exchange.as_str().into(),
            market: v.market.as_str().into(),
            symbol: v.symbol.as_str().into(),
            value: i(&v.value)?,
            exchange_ts: v.exchange_ts,
            local_ts: v.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::VolatilityIndex(VolatilityIndex {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            value: dec(self.value)?,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Kline row.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct KlineRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub kline_interval: String,
    pub open_ts: i64,
    pub open: i128,
    pub high: i128,
    pub low: i128,
    pub close: i128,
    pub volume: i128,
    pub quote_volume: Option<i128>,
    pub closed: u8,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for KlineRow {
    const EVENT_KIND: EventKind = EventKind::Kline;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Kline(k) = event else {
            return Ok(None);
        };
        Ok(Some(KlineRow {
            exchange: k.exchange.as_str().into(),
            market: k.market.as_str().into(),
            symbol: k.symbol.as_str().into(),
            kline_interval: k.interval.as_str().into(),
            open_ts: k.open_ts,
            open: i(&k.open)?,
            high: i(&k.high)?,
            low: i(&k.low)?,
            close: i(&k.close)?,
            volume: i(&k.volume)?,
            quote_volume: oi(&k.quote_volume)?,
            closed: u8::from(k.closed),
            exchange_ts: k.exchange_ts,
            local_ts: k.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Kline(Kline {
            exchange: exchange(&self.exchange)?,
            market: market(&self.market)?,
            symbol: Symbol::from(self.symbol),
            interval: self.kline_interval.into(),
            open_ts: self.open_ts,
            open: dec(self.open)?,
            high: dec(self.high)?,
            low: dec(self.low)?,
            close: dec(self.close)?,
            volume: dec(self.volume)?,
            quote_volume: odec(self.quote_volume)?,
            closed: self.closed != 0,
            exchange_ts: self.exchange_ts,
            local_ts: self.local_ts,
        }))
    }
}

/// Status row: `symbol` is empty for connection-wide events; `detail` is the status kind's
/// JSON (`{"status":"gap","expected":..,"received":..}`), `status` its name.
#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct StatusRow {
    pub exchange: String,
    pub market: String,
    pub symbol: String,
    pub status: String,
    pub detail: String,
    pub exchange_ts: i64,
    pub local_ts: i64,
}

impl EventRow for StatusRow {
    const EVENT_KIND: EventKind = EventKind::Status;
    fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
        let MarketEvent::Status(s) = event else {
            return Ok(None);
        };
        Ok(Some(StatusRow {
            exchange: s.exchange.as_str().into(),
            market: s.market.as_str().into(),
            symbol: s
                .symbol
                .as_ref()
                .map_or_else(String::new, |s| s.as_str().into()),
            status: s.kind.as_str().into(),
            detail: serde_json::to_string(&s.kind)?,
            exchange_ts: s.exchange_ts,
            local_ts: s.local_ts,
        }))
    }
    fn into_event(self) -> Result<MarketEvent> {
        Ok(MarketEvent::Status(
            Status::new(
                exchange(&self.exchange)?,
                market(&self.market)?,
                (!self.symbol.is_empty()).then(|| Symbol::from(self.symbol)),
                self.exchange_ts,
                serde_json::from_str(&self.detail)?,
            )
            .with_local_ts(self.local_ts),
        ))
    }
}
