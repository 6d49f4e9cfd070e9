use std::{fmt, sync::Arc};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{MarketType, OptionType, TimestampNs};

/// A normalized symbol such as `BTC-USDT`, `BTC-USDT-PERP`, `BTC-USD-20261225` or
/// `BTC-USD-20261225-60000-C`.
///
/// Cloning is a reference-count increment: connectors hand out the instrument table's copy,
/// so emitting an event does not allocate a string.
///
/// ```
/// use marketprism_core::model::Symbol;
/// let s = Symbol::new("BTC-USDT");
/// assert_eq!(s.as_str(), "BTC-USDT");
/// assert_eq!(s, Symbol::from("BTC-USDT"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Symbol(Arc<str>);

impl Symbol {
    /// Wraps a symbol string.
    pub fn new(s: impl AsRef<str>) -> Self {
        Symbol(Arc::from(s.as_ref()))
    }

    /// The symbol text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Symbol {
    fn from(s: &str) -> Self {
        Symbol::new(s)
    }
}

impl From<String> for Symbol {
    fn from(s: String) -> Self {
        Symbol(Arc::from(s))
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Symbol {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Builds the normalized symbol of an instrument from its parts.
///
/// Spot `BASE-QUOTE`; perpetual `BASE-QUOTE-PERP`; future `BASE-QUOTE-YYYYMMDD`; option
/// `BASE-QUOTE-YYYYMMDD-STRIKE-C|P`; index `BASE-QUOTE`. A fractional strike writes its
/// decimal point as `d` (Deribit's convention), because NATS subject tokens never contain `.`.
/// Expiry is the UTC date of `expiry` (ns).
///
/// ```
/// use marketprism_core::model::{normalized_symbol, MarketType, OptionType};
/// use rust_decimal::Decimal;
/// // 2026-12-25T08:00:00Z
/// let expiry = Some(1_798_185_600_000_000_000);
/// assert_eq!(normalized_symbol(MarketType::Perpetual, "BTC", "USDT", None, None, None), "BTC-USDT-PERP");
/// assert_eq!(normalized_symbol(MarketType::Future, "BTC", "USD", expiry, None, None), "BTC-USD-20261225");
/// assert_eq!(
///     normalized_symbol(MarketType::Option, "ETH", "USD", expiry, Some(Decimal::new(25, 1)), Some(OptionType::Put)),
///     "ETH-USD-20261225-2d5-P"
/// );
/// ```
pub fn normalized_symbol(
    kind: MarketType,
    base: &str,
    quote: &str,
    expiry: Option<TimestampNs>,
    strike: Option<Decimal>,
    option_type: Option<OptionType>,
) -> String {
    let mut s = String::with_capacity(32);
    s.push_str(base);
    s.push('-');
    s.push_str(quote);
    match kind {
        MarketType::Spot | MarketType::Index => {}
        MarketType::Perpetual => s.push_str("-PERP"),
        MarketType::Future | MarketType::Option => {
            if let Some(ts) = expiry {
                s.push('-');
                s.push_str(&yyyymmdd(ts));
            }
            if kind == MarketType::Option {
                if let Some(k) = strike {
                    s.push('-');
                    s.push_str(&k.normalize().to_string().replace('.', "d"));
                }
                if let Some(t) = option_type {
                    s.push_str(match t {
                        OptionType::Call => "-C",
                        OptionType::Put => "-P",
                    });
                }
            }
        }
    }
    s
}

/// UTC calendar date of a timestamp as `YYYYMMDD` (civil-from-days, Howard Hinnant's algorithm).
fn yyyymmdd(ts: TimestampNs) -> String {
    let (y, m, d) = utc_date(ts);
    format!("{y:04}{m:02}{d:02}")
}

/// The UTC calendar date `(year, month, day)` of a timestamp (ns).
///
/// ```
/// use marketprism_core::model::{Instrument, utc_date};
/// assert_eq!(utc_date(Instrument::date_ns(2026, 12, 25) + 1), (2026, 12, 25));
/// assert_eq!(utc_date(-1), (1969, 12, 31));
/// ```
pub fn utc_date(ts: TimestampNs) -> (i64, u32, u32) {
    civil_from_days(ts.div_euclid(86_400_000_000_000))
}

/// Converts days since 1970-01-01 into a (year, month, day) civil date.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Converts a civil date into days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds at 00:00 UTC of a civil date; used to turn exchange expiry codes into timestamps.
pub(crate) fn date_to_ns(y: i64, m: u32, d: u32) -> TimestampNs {
    days_from_civil(y, m, d).saturating_mul(86_400_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 59, 365, 11_016, 20_447, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(20_812), (2026, 12, 25));
    }

    #[test]
    fn option_symbol_integral_strike() {
        let expiry = Some(date_to_ns(2026, 12, 25));
        let s = normalized_symbol(
            MarketType::Option,
            "BTC",
            "USD",
            expiry,
            Some(Decimal::new(60000, 0)),
            Some(OptionType::Call),
        );
        assert_eq!(s, "BTC-USD-20261225-60000-C");
    }
}
