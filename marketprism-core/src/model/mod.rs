//! The normalized data model: one exact, typed shape for every exchange.
//!
//! Prices and sizes are [`Decimal`](rust_decimal::Decimal) parsed straight from the exchange's
//! text, never binary floats. Every event carries two timestamps in nanoseconds since the Unix
//! epoch: `exchange_ts` (what the exchange stamped) and `local_ts` (when we received it).

mod event;
mod event_de;
mod exchange;
mod instrument;
mod kind;
mod status;
mod symbol;

pub use event::{
    Bbo, BookDelta, BookSnapshot, FundingRate, Kline, Level, Liquidation, LongShortRatio,
    MarkPrice, MarketEvent, OpenInterest, OptionSummary, RatioKind, Ticker, Trade, VolatilityIndex,
};
pub use exchange::ExchangeId;
pub use instrument::{Instrument, OptionType};
pub use kind::EventKind;
pub use status::{Status, StatusKind};
pub use symbol::{Symbol, normalized_symbol, utc_date};

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch (UTC).
pub type TimestampNs = i64;

/// Current wall-clock time in nanoseconds since the Unix epoch.
///
/// ```
/// let t = marketprism_core::model::now_ns();
/// assert!(t > 1_700_000_000_000_000_000);
/// ```
pub fn now_ns() -> TimestampNs {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Converts exchange milliseconds to nanoseconds, saturating instead of overflowing.
#[inline]
pub const fn ms_to_ns(ms: i64) -> TimestampNs {
    ms.saturating_mul(1_000_000)
}

/// Converts exchange microseconds to nanoseconds, saturating instead of overflowing.
#[inline]
pub const fn us_to_ns(us: i64) -> TimestampNs {
    us.saturating_mul(1_000)
}

/// The kind of market an instrument trades in; the `{market}` token of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MarketType {
    /// Spot pair.
    Spot,
    /// Perpetual swap (no expiry).
    Perpetual,
    /// Dated future.
    Future,
    /// Option.
    Option,
    /// An index rather than a tradable instrument (index prices, DVOL).
    Index,
}

impl MarketType {
    /// All market types, in a stable order.
    pub const ALL: [MarketType; 5] = [
        MarketType::Spot,
        MarketType::Perpetual,
        MarketType::Future,
        MarketType::Option,
        MarketType::Index,
    ];

    /// The lowercase name used in subjects, config and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            MarketType::Spot => "spot",
            MarketType::Perpetual => "perpetual",
            MarketType::Future => "future",
            MarketType::Option => "option",
            MarketType::Index => "index",
        }
    }
}

impl std::fmt::Display for MarketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MarketType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MarketType::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::Error::UnknownName {
                what: "market type",
                name: s.to_owned(),
            })
    }
}

/// The aggressor (taker) side of a trade, or the side of a liquidated order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}
