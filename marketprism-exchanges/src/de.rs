//! Shared deserialization helpers: exact decimals from JSON strings or numbers, with no heap
//! allocation on the hot path.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};

/// Parses decimal text exactly; accepts scientific notation (`1e-5`), which some exchanges emit.
///
/// ```
/// use marketprism_exchanges::de::parse_decimal;
/// assert_eq!(parse_decimal("0.00100").map(|d| d.to_string()).ok(), Some("0.00100".to_owned()));
/// assert_eq!(parse_decimal("1.5e-3").map(|d| d.to_string()).ok(), Some("0.0015".to_owned()));
/// assert!(parse_decimal("abc").is_err());
/// ```
#[inline]
pub fn parse_decimal(s: &str) -> Result<Decimal, rust_decimal::Error> {
    // The usual shape (`-?digits(.digits)?`, ≤ 19 digits) without the general parser; it
    // returns exactly what `from_str_exact` would, value and scale.
    if let Some(d) = crate::scan::num::decimal_exact(s) {
        return Ok(d);
    }
    match Decimal::from_str_exact(s) {
        Ok(d) => Ok(d),
        Err(e) if s.bytes().any(|b| b == b'e' || b == b'E') => {
            Decimal::from_scientific(s).map_err(|_| e)
        }
        Err(e) => Err(e),
    }
}

/// Converts a JSON number that arrived as `f64` into the decimal it was written as: the
/// shortest representation that round-trips (ryu) is exactly the text an exchange prints for
/// values with at most 15–17 significant digits, which covers every price and size.
///
/// ```
/// use marketprism_exchanges::de::decimal_from_f64;
/// assert_eq!(decimal_from_f64(0.0015).map(|d| d.to_string()), Some("0.0015".to_owned()));
/// assert_eq!(decimal_from_f64(4714.0).map(|d| d.to_string()), Some("4714".to_owned()));
/// assert_eq!(decimal_from_f64(f64::NAN), None);
/// ```
#[inline]
pub fn decimal_from_f64(v: f64) -> Option<Decimal> {
    if !v.is_finite() {
        return None;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    // ryu prints integral floats as `4714.0`; trim the `.0` so the scale is the natural one.
    let s = s.strip_suffix(".0").unwrap_or(s);
    parse_decimal(s).ok()
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal as a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_decimal(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        decimal_from_f64(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }
}

/// `#[serde(deserialize_with = "de::decimal")]`: a decimal from a string or a number.
pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

struct OptDecimalVisitor;

impl<'de> Visitor<'de> for OptDecimalVisitor {
    type Value = Option<Decimal>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal, an empty string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            Ok(None)
        } else {
            DecimalVisitor.visit_str(v).map(Some)
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        DecimalVisitor.visit_f64(v).map(Some)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Decimal::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Decimal::from(v)))
    }
}

/// `#[serde(default, deserialize_with = "de::opt_decimal")]`: `""` and `null` become `None`.
pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    d.deserialize_option(OptDecimalVisitor)
}

/// A decimal that deserializes from a string or number (for use inside tuples and sequences).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec(pub Decimal);

impl<'de> serde::Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        decimal(d).map(Dec)
    }
}

/// An integer that arrives as a JSON number or a numeric string (OKX sends `"ts":"1597026383085"`).
pub fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an unsigned integer or a numeric string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_any(V)
}

/// A signed integer that arrives as a JSON number or a numeric string.
pub fn i64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or a numeric string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "decimal")]
        a: Decimal,
        #[serde(default, deserialize_with = "opt_decimal")]
        b: Option<Decimal>,
        #[serde(deserialize_with = "u64_lenient")]
        ts: u64,
    }

    #[test]
    fn string_number_empty_null() {
        let t: T = serde_json::from_str(r#"{"a":"1.50","b":"","ts":"17"}"#).expect("json");
        assert_eq!(t.a.to_string(), "1.50");
        assert_eq!(t.b, None);
        assert_eq!(t.ts, 17);
        let t: T = serde_json::from_str(r#"{"a":0.0015,"b":null,"ts":17}"#).expect("json");
        assert_eq!(t.a.to_string(), "0.0015");
        assert_eq!(t.b, None);
        let t: T = serde_json::from_str(r#"{"a":5e-05,"b":2,"ts":1}"#).expect("json");
        assert_eq!(t.a.to_string(), "0.00005");
        assert_eq!(t.b, Some(Decimal::TWO));
        assert!(serde_json::from_str::<T>(r#"{"a":"x","ts":1}"#).is_err());
    }

    #[test]
    fn dec_in_tuple() {
        let v: Vec<(Dec, Dec)> = serde_json::from_str(r#"[["1.0", 2.5]]"#).expect("json");
        assert_eq!(v[0].0.0.to_string(), "1.0");
        assert_eq!(v[0].1.0.to_string(), "2.5");
    }
}
