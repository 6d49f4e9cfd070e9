//! Exact decimals from the literal text of JSON numbers, fast.
//!
//! Deribit writes every price and amount as a JSON number (`0.0015`, `4714.0`), so each book
//! level costs two number conversions. Going through `f64` ([`crate::de::decimal`]: parse the
//! float, format it with ryu, parse the text) dominated the book hot path. Instead the number
//! is captured as borrowed raw JSON (serde_json skims it without building a float) and its
//! text is read directly into a [`Decimal`]: exactly the value and scale written in the frame
//! (`4714.0` stays `4714.0`). Frames are always parsed with `serde_json::from_str`, which is
//! what borrowing the raw text needs.

use rust_decimal::Decimal;
use serde::{
    Deserialize, Deserializer,
    de::{self, Unexpected},
};
use serde_json::value::RawValue;

/// Reads the literal text of a JSON number (or a quoted decimal) exactly. Plain
/// `-?digits(.digits)?` with at most 19 digits is read directly; anything else (exponents,
/// longer mantissas) goes through [`crate::de::parse_decimal`].
///
/// The raw text of a JSON value can also be `null`, `true`, an object...: those are `None`.
#[inline]
pub(crate) fn decimal_from_text(text: &str) -> Option<Decimal> {
    crate::scan::num::decimal_from_literal(text)
}

fn from_raw<E: de::Error>(raw: &RawValue) -> Result<Decimal, E> {
    decimal_from_text(raw.get())
        .ok_or_else(|| E::invalid_value(Unexpected::Str(raw.get()), &"a decimal number"))
}

/// `#[serde(deserialize_with = "num::decimal")]`.
#[inline]
pub(crate) fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    from_raw(<&'de RawValue>::deserialize(d)?)
}

/// `#[serde(default, deserialize_with = "num::opt_decimal")]`: `null` becomes `None`.
#[inline]
pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    match Option::<&'de RawValue>::deserialize(d)? {
        Some(raw) => from_raw(raw).map(Some),
        None => Ok(None),
    }
}

/// A decimal inside tuples and sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Num(pub(crate) Decimal);

impl<'de> Deserialize<'de> for Num {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        decimal(d).map(Num)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::de::parse_decimal;

    #[test]
    fn literal_text() {
        let cases = [
            ("0.0015", "0.0015"),
            ("4714.0", "4714.0"),
            ("7", "7"),
            ("-74.2", "-74.2"),
            ("0.004999511380756577", "0.004999511380756577"),
            ("1124.7", "1124.7"),
            ("\"1.50\"", "1.50"),
            ("5e-05", "0.00005"),
            ("1.5E3", "1500"),
            ("12345678901234567890.5", "12345678901234567890.5"),
            ("-0.0", "-0.0"),
        ];
        for (text, want) in cases {
            assert_eq!(
                decimal_from_text(text).map(|d| d.to_string()).as_deref(),
                Some(want),
                "{text}"
            );
        }
        for bad in ["", "-", ".", "1.2.3", "null", "true", "{}", "1-2"] {
            assert_eq!(decimal_from_text(bad), None, "{bad}");
        }
    }

    /// Agrees with the generic parser on every plain decimal shape.
    #[test]
    fn agrees_with_parse_decimal() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x
        };
        for _ in 0..100_000 {
            let digits = next() % 1_000_000_000_000_000_000;
            let scale = (next() % 19) as u32;
            let sign = if next() % 2 == 0 { "" } else { "-" };
            let text = format!("{sign}{}", Decimal::new(digits as i64, scale));
            let fast = decimal_from_text(&text).expect("fast");
            let slow = parse_decimal(&text).expect("slow");
            assert_eq!(fast.to_string(), slow.to_string(), "{text}");
        }
    }

    #[test]
    fn serde() {
        let v: Vec<Num> = serde_json::from_str(r#"[0.0015, 4714.0, 7, -3, "1.50"]"#).expect("json");
        let s: Vec<String> = v.iter().map(|n| n.0.to_string()).collect();
        assert_eq!(s, ["0.0015", "4714.0", "7", "-3", "1.50"]);
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "opt_decimal")]
            a: Option<Decimal>,
            #[serde(default, deserialize_with = "opt_decimal")]
            b: Option<Decimal>,
            #[serde(deserialize_with = "decimal")]
            c: Decimal,
        }
        let t: T = serde_json::from_str(r#"{"a":null,"c":2.50}"#).expect("json");
        assert_eq!((t.a, t.b, t.c.to_string()), (None, None, "2.50".to_owned()));
        assert!(serde_json::from_str::<T>(r#"{"c":"x"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"c":[1]}"#).is_err());
    }
}
