//! What the simulator derives from a native symbol: kind, currencies, tick and lot sizes,
//! starting price, expiry and strike — following each exchange's symbol conventions.

use marketprism_core::model::Instrument;
use rust_decimal::Decimal;

use crate::Venue;

/// Instrument kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Spot,
    Perpetual,
    Future,
    Option,
}

/// Static parameters of a simulated instrument.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) kind: Kind,
    pub(crate) base: String,
    pub(crate) quote: String,
    pub(crate) tick: Decimal,
    pub(crate) lot: Decimal,
    pub(crate) start: Decimal,
    /// Contract size (COIN-M: USD per contract; OKX `ctVal`; 1 elsewhere).
    pub(crate) contract_size: Decimal,
    pub(crate) expiry_ms: Option<i64>,
    pub(crate) strike: Option<Decimal>,
    pub(crate) call: bool,
}

/// `10^e`.
fn pow10(e: i32) -> Decimal {
    if e >= 0 {
        Decimal::from(10u64.pow(e.unsigned_abs()))
    } else {
        Decimal::new(1, e.unsigned_abs())
    }
}

fn start_price(base: &str) -> Decimal {
    match base {
        "BTC" => Decimal::from(60_000u32),
        "ETH" => Decimal::from(3_000u32),
        "BNB" => Decimal::from(600u32),
        "SOL" => Decimal::from(150u32),
        "XRP" => Decimal::new(5, 1),
        "DOGE" => Decimal::new(1, 1),
        _ => Decimal::from(10u32),
    }
}

/// Milliseconds since the epoch of `y-m-d` 08:00 UTC (the usual expiry time).
pub(crate) fn expiry_ms(y: i64, m: i64, d: i64) -> i64 {
    let (m, d) = (u32::try_from(m).unwrap_or(0), u32::try_from(d).unwrap_or(0));
    Instrument::date_ns(y, m, d) / 1_000_000 + 8 * 3_600_000
}

/// `YYMMDD` (Binance, OKX) → expiry ms.
fn yymmdd(s: &str) -> Option<i64> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    Some(expiry_ms(2000 + n(0..2)?, n(2..4)?, n(4..6)?))
}

/// `27DEC24` (Deribit) → expiry ms.
fn ddmonyy(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let day: i64 = s.get(..split)?.parse().ok()?;
    let mon = MONTHS
        .iter()
        .position(|m| s.get(split..split + 3) == Some(*m))? as i64
        + 1;
    let year: i64 = s.get(split + 3..)?.parse().ok()?;
    Some(expiry_ms(2000 + year, mon, day))
}

/// Splits a Binance symbol (`BTCUSDT`, `BTCUSD_PERP`) into base and quote assets.
pub(crate) fn base_of_binance(symbol: &str) -> (String, String) {
    const QUOTES: [&str; 10] = [
        "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY",
    ];
    let core = symbol.split('_').next().unwrap_or(symbol);
    for q in QUOTES {
        if let Some(b) = core.strip_suffix(q).filter(|b| !b.is_empty()) {
            return (b.to_owned(), q.to_owned());
        }
    }
    if let Some(b) = core.strip_suffix("USD").filter(|b| !b.is_empty()) {
        return (b.to_owned(), "USD".to_owned());
    }
    (core.to_owned(), "USDT".to_owned())
}

impl Params {
    /// Derives the parameters of `symbol` on `venue`.
    pub(crate) fn derive(venue: Venue, symbol: &str) -> Params {
        let mut p = Params {
            kind: Kind::Spot,
            base: String::new(),
            quote: String::new(),
            tick: Decimal::new(1, 2),
            lot: Decimal::new(1, 3),
            start: Decimal::from(10u32),
            contract_size: Decimal::ONE,
            expiry_ms: None,
            strike: None,
            call: true,
        };
        match venue {
            Venue::BinanceSpot | Venue::BinanceUsdm | Venue::BinanceCoinm => {
                let (base, quote) = base_of_binance(symbol);
                let suffix = symbol.split('_').nth(1);
                p.kind = match (venue, suffix) {
                    (Venue::BinanceSpot, _) => Kind::Spot,
                    (_, None | Some("PERP")) => Kind::Perpetual,
                    _ => Kind::Future,
                };
                p.expiry_ms = suffix.and_then(yymmdd);
                p.start = start_price(&base);
                let e = exp10(p.start);
                match venue {
                    Venue::BinanceSpot => {
                        p.tick = pow10(e - 6);
                        p.lot = pow10(-(e + 1).clamp(0, 8));
                    }
                    Venue::BinanceUsdm => {
                        p.tick = pow10(e - 5);
                        p.lot = pow10(-(e - 1).clamp(0, 3));
                    }
                    _ => {
                        p.tick = pow10(e - 5);
                        p.lot = Decimal::ONE;
                        p.contract_size = if base == "BTC" {
                            Decimal::from(100u32)
                        } else {
                            Decimal::from(10u32)
                        };
                    }
                }
                p.base = base;
                p.quote = quote;
            }
            Venue::Okx => {
                let parts: Vec<&str> = symbol.split('-').collect();
                p.base = parts.first().copied().unwrap_or(symbol).to_owned();
                p.quote = parts.get(1).copied().unwrap_or("USDT").to_owned();
                p.start = start_price(&p.base);
                let e = exp10(p.start);
                p.tick = pow10(e - 5);
                p.kind = match parts.len() {
                    2 => Kind::Spot,
                    3 if parts[2] == "SWAP" => Kind::Perpetual,
                    3 => Kind::Future,
                    _ => Kind::Option,
                };
                p.expiry_ms = parts.get(2).and_then(|d| yymmdd(d));
                if p.kind == Kind::Spot {
                    p.lot = pow10(-(e + 4).clamp(0, 8));
                } else {
                    p.lot = Decimal::ONE;
                    p.contract_size = if p.quote == "USD" {
                        Decimal::from(100u32)
                    } else {
                        Decimal::new(1, 2)
                    };
                }
                if p.kind == Kind::Option {
                    p.strike = parts.get(3).and_then(|s| s.parse().ok());
                    p.call = parts.get(4) == Some(&"C");
                    p.start = Decimal::new(5, 2);
                    p.tick = Decimal::new(5, 4);
                    p.contract_size = Decimal::new(1, 1);
                }
            }
            Venue::Deribit => {
                let parts: Vec<&str> = symbol.split('-').collect();
                let head = parts.first().copied().unwrap_or(symbol);
                let mut cur = head.split('_');
                p.base = cur.next().unwrap_or(head).to_owned();
                p.quote = cur.next().unwrap_or("USD").to_owned();
                p.start = start_price(&p.base);
                p.kind = match parts.get(1) {
                    Some(&"PERPETUAL") => Kind::Perpetual,
                    _ if parts.len() >= 4 => Kind::Option,
                    _ => Kind::Future,
                };
                p.expiry_ms = parts.get(1).and_then(|d| ddmonyy(d));
                match p.base.as_str() {
                    "BTC" => (p.tick, p.lot) = (Decimal::new(5, 1), Decimal::from(10u32)),
                    "ETH" => (p.tick, p.lot) = (Decimal::new(5, 2), Decimal::ONE),
                    _ => (p.tick, p.lot) = (pow10(exp10(p.start) - 4), Decimal::ONE),
                }
                if p.kind == Kind::Option {
                    p.strike = parts.get(2).and_then(|s| s.parse().ok());
                    p.call = parts.get(3) == Some(&"C");
                    p.start = Decimal::new(5, 2);
                    p.tick = Decimal::new(5, 4);
                    p.lot = Decimal::new(1, 1);
                }
            }
        }
        p.start = (p.start / p.tick).floor() * p.tick;
        p
    }
}

/// `floor(log10(x))` for a positive decimal.
fn exp10(x: Decimal) -> i32 {
    let digits = x.trunc().to_string().trim_start_matches('-').len() as i32;
    if x >= Decimal::ONE {
        return digits - 1;
    }
    // 0.0…0d: count leading zeros after the point.
    let s = x.normalize().to_string();
    let frac = s.split('.').nth(1).unwrap_or("");
    -(frac.chars().take_while(|c| *c == '0').count() as i32) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_conventions() {
        let p = Params::derive(Venue::BinanceSpot, "BTCUSDT");
        assert_eq!(
            (p.tick, p.lot, p.kind),
            (Decimal::new(1, 2), Decimal::new(1, 5), Kind::Spot)
        );
        let p = Params::derive(Venue::BinanceUsdm, "BTCUSDT");
        assert_eq!(
            (p.tick, p.lot, p.kind),
            (Decimal::new(1, 1), Decimal::new(1, 3), Kind::Perpetual)
        );
        let p = Params::derive(Venue::BinanceCoinm, "BTCUSD_250627");
        assert_eq!(
            (p.kind, p.base.as_str(), p.quote.as_str()),
            (Kind::Future, "BTC", "USD")
        );
        assert_eq!(p.expiry_ms, Some(1_751_011_200_000));
        let p = Params::derive(Venue::Okx, "BTC-USD-250627-60000-C");
        assert_eq!(
            (p.kind, p.strike),
            (Kind::Option, Some(Decimal::from(60_000u32)))
        );
        let p = Params::derive(Venue::Deribit, "ETH-27JUN25");
        assert_eq!(
            (p.kind, p.expiry_ms),
            (Kind::Future, Some(1_751_011_200_000))
        );
        assert_eq!(exp10(Decimal::new(5, 1)), -1);
        assert_eq!(exp10(Decimal::from(60_000u32)), 4);
    }
}
