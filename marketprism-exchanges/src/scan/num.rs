//! Exact decimal text ⇄ [`Decimal`] without the generic machinery: the hot paths parse every
//! price and size and (OKX) print 100 of them per book update for the checksum.

use std::io::Write as _;

use rust_decimal::Decimal;

/// Parses the plain shape `-?digits(.digits)?` with at most 19 digits straight into a
/// mantissa and scale: exactly what [`Decimal::from_str_exact`] returns for such text (value
/// *and* scale: `"0.00100000"` keeps 8 decimal places). `None` for any other text (exponents,
/// `+`, `_`, a leading or trailing `.`, longer mantissas): the caller then uses the general
/// parser.
#[inline]
pub(crate) fn decimal_exact(text: &str) -> Option<Decimal> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    // 19 digits and a point at most: 19 decimal digits always fit a u64.
    if digits.is_empty() || digits.len() > 20 || (digits.len() == 20 && !digits.contains(&b'.')) {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            mantissa = mantissa * 10 + u64::from(d);
        } else if b == b'.' && point.is_none() && i > 0 {
            point = Some(i);
        } else {
            return None;
        }
    }
    let scale = match point {
        Some(p) if p + 1 == digits.len() => return None,
        Some(p) => digits.len() - p - 1,
        None if digits.len() > 19 => return None,
        None => 0,
    };
    // Lossless splits of a u64 into the two low 32-bit words of the 96-bit mantissa.
    let lo = (mantissa & 0xFFFF_FFFF) as u32;
    let mid = (mantissa >> 32) as u32;
    Some(Decimal::from_parts(lo, mid, 0, negative, scale as u32))
}

/// The literal text of a JSON number (or a quoted decimal) as a [`Decimal`]: the plain shape
/// through [`decimal_exact`] (keeping the sign of a negative zero), anything else (exponents, long mantissas) through
/// [`crate::de::parse_decimal`]. `None` for text that is no decimal (`null`, `{}`...).
#[inline]
pub(crate) fn decimal_from_literal(text: &str) -> Option<Decimal> {
    let t = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    match decimal_exact(t) {
        // `Decimal::from_str_exact` drops the sign of a zero; the literal keeps it (`-0.0`),
        // as Deribit's reader always did.
        Some(mut d) => {
            if t.starts_with('-') {
                d.set_sign_negative(true);
            }
            Some(d)
        }
        None => crate::de::parse_decimal(t).ok(),
    }
}

/// Two ASCII digits of every number below 100.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `d` to `buf` exactly as its `Display` writes it (all digits of the scale, sign for
/// negatives), without the formatting machinery: the OKX checksum prints 100 of them per
/// book update.
#[inline]
pub(crate) fn write_decimal(buf: &mut Vec<u8>, d: &Decimal) {
    let Ok(mut m) = u64::try_from(d.mantissa().unsigned_abs()) else {
        // Mantissas beyond 64 bits: never seen on a book, the general path is fine.
        let _ = write!(buf, "{d}");
        return;
    };
    if d.is_sign_negative() {
        buf.push(b'-');
    }
    let scale = d.scale() as usize;
    // Digits right-aligned in `tmp`: 20 for the u64, zero-padded up to the scale (<= 28).
    let mut tmp = [b'0'; 32];
    let mut start = tmp.len();
    while m >= 100 {
        let k = (m % 100) as usize * 2;
        m /= 100;
        start -= 2;
        tmp[start..start + 2].copy_from_slice(&DIGIT_PAIRS[k..k + 2]);
    }
    if m >= 10 {
        let k = m as usize * 2;
        start -= 2;
        tmp[start..start + 2].copy_from_slice(&DIGIT_PAIRS[k..k + 2]);
    } else if m > 0 {
        start -= 1;
        tmp[start] = b'0' + m as u8;
    }
    // Zero pads to at least `scale` digits (`tmp` starts as all '0').
    let start = start.min(tmp.len() - scale);
    let digits = &tmp[start..];
    let whole = digits.len() - scale;
    if whole == 0 {
        buf.push(b'0');
    } else {
        buf.extend_from_slice(&digits[..whole]);
    }
    if scale > 0 {
        buf.push(b'.');
        buf.extend_from_slice(&digits[whole..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &Decimal, b: &Decimal) -> bool {
        a.serialize() == b.serialize()
    }

    fn check(text: &str) {
        let exact = Decimal::from_str_exact(text);
        match decimal_exact(text) {
            Some(fast) => {
                let exact = exact
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{text}: fast parsed, exact {e}"));
                assert!(same(&fast, exact), "{text}: {fast:?} vs {exact:?}");
            }
            None => {
                // Declined: must be outside the plain shape or longer than 19 digits.
                let plain = text
                    .strip_prefix('-')
                    .unwrap_or(text)
                    .split_once('.')
                    .map_or_else(
                        || !text.trim_start_matches('-').is_empty(),
                        |(i, f)| !i.is_empty() && !f.is_empty() && !f.contains('.'),
                    )
                    && text
                        .trim_start_matches('-')
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.')
                    && text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
                    && text.matches('-').count() <= 1;
                let digits = text.bytes().filter(u8::is_ascii_digit).count();
                assert!(!plain || digits > 19, "{text}: declined a plain decimal");
            }
        }
        let mut s = Vec::new();
        if let Ok(d) = exact {
            write_decimal(&mut s, &d);
            assert_eq!(
                String::from_utf8(s).ok(),
                Some(d.to_string()),
                "{text}: display"
            );
        }
    }

    #[test]
    fn edge_cases() {
        for t in [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "0.00100000",
            "00.10",
            "007",
            "1",
            "-1",
            "1.5",
            "-74.2",
            "4149.74000000",
            "0.00000001",
            "9999999999999999999",
            "999999999999999999.9",
            "0.9999999999999999999",
            "-9999999999999999999",
            "18446744073709551615",
            "10000000000000000000",
            "1234567890123456789.0",
            "123.",
            ".5",
            "-.5",
            "1.2.3",
            "",
            "-",
            ".",
            "+1",
            "1_000",
            "1e5",
            "1E-5",
            " 1",
            "1 ",
            "--1",
            "1-",
            "0x10",
            "١",
            "0.0000000000000000001",
            "0.00000000000000000001",
        ] {
            check(t);
        }
    }

    #[test]
    fn randomized_against_from_str_exact() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 11
        };
        let alphabet = b"0123456789.-";
        for _ in 0..200_000 {
            // Structured: sign, 1-20 integer digits (leading zeros allowed), optional fraction.
            let mut t = String::new();
            if next() % 3 == 0 {
                t.push('-');
            }
            for _ in 0..1 + next() % 20 {
                t.push(char::from(b'0' + (next() % 10) as u8));
            }
            if next() % 2 == 0 {
                t.push('.');
                for _ in 0..next() % 21 {
                    t.push(char::from(b'0' + (next() % 10) as u8));
                }
            }
            check(&t);
            // Unstructured: random strings over the decimal alphabet.
            let t: String = (0..next() % 12)
                .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                .collect();
            check(&t);
        }
    }

    #[test]
    fn display_of_any_decimal() {
        let mut x: u64 = 7;
        let mut next = || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x
        };
        for _ in 0..200_000 {
            let (a, b, c) = (next(), next(), next());
            // Mantissas of every width: small, 32, 64 and 96 bits.
            let shift = [54, 32, 0, 0][(c % 4) as usize];
            let hi = if c % 4 == 3 { (b >> 40) as u32 } else { 0 };
            let m = a >> shift;
            let d =
                Decimal::from_parts(m as u32, (m >> 32) as u32, hi, b % 2 == 0, (c % 29) as u32);
            let mut s = Vec::new();
            write_decimal(&mut s, &d);
            assert_eq!(String::from_utf8(s).ok(), Some(d.to_string()), "{d:?}");
        }
    }

    #[test]
    fn literals() {
        for (text, want) in [
            ("0.0015", "0.0015"),
            ("\"1.50\"", "1.50"),
            ("5e-05", "0.00005"),
        ] {
            assert_eq!(
                decimal_from_literal(text).map(|d| d.to_string()).as_deref(),
                Some(want)
            );
        }
        assert_eq!(decimal_from_literal("null"), None);
    }
}
