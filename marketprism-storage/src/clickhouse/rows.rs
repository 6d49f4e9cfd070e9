//! One RowBinary row type per event kind, converting exactly to and from [`MarketEvent`].
//!
//! Column order and names match [`super::schema`]; decimals are `Decimal(38, 18)` carried as
//! `i128` (see [`super::decimal`]), sides are `Enum8('buy' = 1, 'sell' = 2)`.

use clickhouse::Row;
use marketprism_core::model::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::decimal::{from_i128 as dec, opt_from_i128 as odec, opt_to_i128 as oi, to_i128 as i};
use crate::{EventKind, Result, StorageError, identity::ratio_kind_str};

pub(crate) use super::rows_more::*;

/// The `exchange` and `market` columns: a name from a fixed set, borrowed when writing.
pub(crate) type Name = std::borrow::Cow<'static, str>;

// Writing a row allocates nothing for its text columns: `exchange` and `market` borrow the
// static names, `symbol` shares the event's `Arc<str>`, short ids stay inline.

/// A row type of one event kind.
pub(crate) trait EventRow:
    clickhouse::RowOwned + clickhouse::RowRead + clickhouse::RowWrite + Send + Sync + 'static
{
    /// The kind this row stores.
    const EVENT_KIND: EventKind;
    /// The row of `event`; `Ok(None)` when `event` is of another kind.
    fn from_event(event: &MarketEvent) -> Result<Option<Self>>;
    /// The event back.
    fn into_event(self) -> Result<MarketEvent>;
}

pub(crate) fn exchange(s: &str) -> Result<ExchangeId> {
    s.parse().map_err(|_| corrupt("exchange", s))
}
pub(crate) fn market(s: &str) -> Result<MarketType> {
    s.parse().map_err(|_| corrupt("market", s))
}
pub(crate) fn corrupt(what: &'static str, value: &str) -> StorageError {
    StorageError::Corrupt {
        what,
        message: format!("unexpected value `{value}`"),
    }
}
pub(crate) fn side_code(side: Side) -> i8 {
    match side {
        Side::Buy => 1,
        Side::Sell => 2,
    }
}
pub(crate) fn side(code: i8) -> Result<Side> {
    match code {
        1 => Ok(Side::Buy),
        2 => Ok(Side::Sell),
        other => Err(corrupt("side", &other.to_string())),
    }
}
pub(crate) fn levels_to(levels: &[Level]) -> Result<(Vec<i128>, Vec<i128>)> {
    let mut p = Vec::with_capacity(levels.len());
    let mut s = Vec::with_capacity(levels.len());
    for l in levels {
        p.push(i(&l.price)?);
        s.push(i(&l.size)?);
    }
    Ok((p, s))
}
pub(crate) fn levels_from(prices: Vec<i128>, sizes: Vec<i128>) -> Result<Vec<Level>> {
    if prices.len() != sizes.len() {
        return Err(corrupt(
            "book levels",
            "price and size arrays differ in length",
        ));
    }
    prices
        .into_iter()
        .zip(sizes)
        .map(|(p, s)| Ok(Level::new(dec(p)?, dec(s)?)))
        .collect()
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

fn text(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(Decimal::to_string)
}
fn untext(s: Option<String>) -> Result<Option<Decimal>> {
    s.map(|s| s.parse().map_err(|_| corrupt("decimal text", &s)))
        .transpose()
}

/// One column's conversion, event field → row value (`to`) and back (`from`).
macro_rules! codec {
    (to copy, $v:expr) => {
        *$v
    };
    (from copy, $v:expr) => {
        $v
    };
    (to string, $v:expr) => {
        $v.as_str().into()
    };
    (from string, $v:expr) => {
        $v.into()
    };
    (to ostring, $v:expr) => {
        $v.as_ref().map(|s| s.as_str().to_owned())
    };
    (from ostring, $v:expr) => {
        $v.map(Into::into)
    };
    (to dec, $v:expr) => {
        i($v)?
    };
    (from dec, $v:expr) => {
        dec($v)?
    };
    (to odec, $v:expr) => {
        oi($v)?
    };
    (from odec, $v:expr) => {
        odec($v)?
    };
    (to text, $v:expr) => {
        text($v)
    };
    (from text, $v:expr) => {
        untext($v)?
    };
    (to side, $v:expr) => {
        side_code(*$v)
    };
    (from side, $v:expr) => {
        side($v)?
    };
    (to flag, $v:expr) => {
        u8::from(*$v)
    };
    (from flag, $v:expr) => {
        $v != 0
    };
    (to ratio, $v:expr) => {
        ratio_kind_str(*$v).into()
    };
    (from ratio, $v:expr) => {
        ratio_kind(&$v)?
    };
}

/// Defines, from one table of columns, each row struct (columns `exchange`, `market`,
/// `symbol`, the listed ones, then `exchange_ts`, `local_ts`, as in [`super::schema`]) and
/// its [`EventRow`] mapping. A column is `name: RowType = event_field as codec`.
macro_rules! event_rows {
    ($(
        $(#[$doc:meta])*
        $row:ident for $variant:ident {
            $($col:ident : $ty:ty = $field:ident as $codec:ident),* $(,)?
        }
    )*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Row, Serialize, Deserialize)]
        pub(crate) struct $row {
            pub exchange: Name,
            pub market: Name,
            pub symbol: Symbol,
            $(pub $col: $ty,)*
            pub exchange_ts: i64,
            pub local_ts: i64,
        }

        impl EventRow for $row {
            const EVENT_KIND: EventKind = EventKind::$variant;
            fn from_event(event: &MarketEvent) -> Result<Option<Self>> {
                let MarketEvent::$variant(e) = event else {
                    return Ok(None);
                };
                Ok(Some($row {
                    exchange: Name::Borrowed(e.exchange.as_str()),
                    market: Name::Borrowed(e.market.as_str()),
                    symbol: e.symbol.clone(),
                    $($col: codec!(to $codec, &e.$field),)*
                    exchange_ts: e.exchange_ts,
                    local_ts: e.local_ts,
                }))
            }
            fn into_event(self) -> Result<MarketEvent> {
                Ok(MarketEvent::$variant($variant {
                    exchange: exchange(&self.exchange)?,
                    market: market(&self.market)?,
                    symbol: self.symbol,
                    $($field: codec!(from $codec, self.$col),)*
                    exchange_ts: self.exchange_ts,
                    local_ts: self.local_ts,
                }))
            }
        }
    )*};
}

event_rows! {
    /// Trade row.
    TradeRow for Trade {
        trade_id: compact_str::CompactString = trade_id as string,
        side: i8 = side as side,
        price: i128 = price as dec,
        size: i128 = size as dec,
    }
    /// BBO row.
    BboRow for Bbo {
        bid_price: i128 = bid_price as dec,
        bid_size: i128 = bid_size as dec,
        ask_price: i128 = ask_price as dec,
        ask_size: i128 = ask_size as dec,
        sequence: Option<u64> = sequence as copy,
    }
    /// Ticker row.
    TickerRow for Ticker {
        last_price: i128 = last_price as dec,
        open_24h: Option<i128> = open_24h as odec,
        high_24h: Option<i128> = high_24h as odec,
        low_24h: Option<i128> = low_24h as odec,
        volume_24h: Option<i128> = volume_24h as odec,
        quote_volume_24h: Option<i128> = quote_volume_24h as odec,
        best_bid: Option<i128> = best_bid as odec,
        best_ask: Option<i128> = best_ask as odec,
    }
    /// Funding rate row.
    FundingRateRow for FundingRate {
        rate: i128 = rate as dec,
        next_rate: Option<i128> = next_rate as odec,
        next_funding_ts: Option<i64> = next_funding_ts as copy,
        mark_price: Option<i128> = mark_price as odec,
        index_price: Option<i128> = index_price as odec,
    }
    /// Mark/index price row.
    MarkPriceRow for MarkPrice {
        mark_price: Option<i128> = mark_price as odec,
        index_price: Option<i128> = index_price as odec,
    }
    /// Open interest row.
    OpenInterestRow for OpenInterest {
        open_interest: i128 = open_interest as dec,
        open_interest_value: Option<i128> = open_interest_value as odec,
    }
    /// Liquidation row.
    LiquidationRow for Liquidation {
        side: i8 = side as side,
        price: i128 = price as dec,
        size: i128 = size as dec,
    }
    /// Long/short ratio row.
    LongShortRatioRow for LongShortRatio {
        kind: String = kind as ratio,
        period: String = period as string,
        ratio: i128 = ratio as dec,
        long_share: Option<i128> = long_share as odec,
        short_share: Option<i128> = short_share as odec,
    }
    /// Option summary row. Greeks and IVs arrive from exchanges as binary floats with up to
    /// 17 significant digits at any scale, so they are kept as exact decimal text
    /// (`Nullable(String)`).
    OptionSummaryRow for OptionSummary {
        mark_price: Option<String> = mark_price as text,
        mark_iv: Option<String> = mark_iv as text,
        bid_iv: Option<String> = bid_iv as text,
        ask_iv: Option<String> = ask_iv as text,
        delta: Option<String> = delta as text,
        gamma: Option<String> = gamma as text,
        vega: Option<String> = vega as text,
        theta: Option<String> = theta as text,
        rho: Option<String> = rho as text,
        underlying_price: Option<String> = underlying_price as text,
        underlying_index: Option<String> = underlying_index as ostring,
        open_interest: Option<String> = open_interest as text,
    }
    /// Volatility index row.
    VolatilityIndexRow for VolatilityIndex {
        value: i128 = value as dec,
    }
    /// Kline row.
    KlineRow for Kline {
        kline_interval: String = interval as string,
        open_ts: i64 = open_ts as copy,
        open: i128 = open as dec,
        high: i128 = high as dec,
        low: i128 = low as dec,
        close: i128 = close as dec,
        volume: i128 = volume as dec,
        quote_volume: Option<i128> = quote_volume as odec,
        closed: u8 = closed as flag,
    }
}
