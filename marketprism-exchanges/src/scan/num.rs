//! Exact decimal text ⇄ [`Decimal`] without the generic machinery: the hot paths parse every
//! price and size and (OKX) print 100 of them per book update for the checksum.

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

/// Longest text of a [`Decimal`]: a sign, 29 digits (a 96-bit mantissa, or a scale of 28 with
/// its leading `0`) and a point.
pub(crate) const DECIMAL_TEXT_MAX: usize = 31;

/// Bytes [`put_decimal`] may write past its text (it copies whole 32-byte blocks).
pub(crate) const PUT_DECIMAL_SLACK: usize = 64;

/// Writes `d` at `out[at..]` exactly as its `Display` does (all digits of the scale, a sign for
/// negatives) and returns where the text ends. The OKX checksum prints 100 of them per book
/// update, so the text is copied in fixed 32-byte blocks rather than byte by byte or through
/// `memcpy`: bytes after the returned end up to `at + PUT_DECIMAL_SLACK` are overwritten.
///
/// # Panics
///
/// When `out` is shorter than `at + PUT_DECIMAL_SLACK` (callers size their buffer for it).
#[inline]
pub(crate) fn put_decimal(out: &mut [u8], mut at: usize, d: &Decimal) -> usize {
    // Digits right-aligned to index 32; the '0's around them are the zero padding of a scale
    // longer than the digits and the source of the fixed-size copies below.
    let mut tmp = [b'0'; 64];
    let m = d.mantissa().unsigned_abs();
    let start = match u64::try_from(m) {
        Ok(m) => put_u64(&mut tmp, 32, m),
        Err(_) => {
            // Beyond 64 bits (never on a book): the low 19 digits, then the rest (< 2^96 / 10^19
            // fits 64 bits), each with one u128 division.
            const TEN_POW_19: u128 = 10_000_000_000_000_000_000;
            let low = (m % TEN_POW_19) as u64;
            let high = (m / TEN_POW_19) as u64;
            put_u64(&mut tmp, 32, low);
            put_u64(&mut tmp, 32 - 19, high)
        }
    };
    let scale = d.scale() as usize;
    // At least one whole digit: `0.0515`.
    let start = start.min(32 - scale - 1);
    let whole = 32 - scale - start;
    if d.is_sign_negative() {
        out[at] = b'-';
        at += 1;
    }
    out[at..at + 32].copy_from_slice(&tmp[start..start + 32]);
    at += whole;
    if scale > 0 {
        out[at] = b'.';
        out[at + 1..at + 33].copy_from_slice(&tmp[32 - scale..64 - scale]);
        at += 1 + scale;
    }
    at
}

/// Writes the digits of `m` (none for 0) right-aligned to end before `tmp[end]`; returns where
/// they start.
#[inline]
fn put_u64(tmp: &mut [u8; 64], end: usize, mut m: u64) -> usize {
    let mut start = end;
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
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `put_decimal`'s text, written after other text and followed by more, so that a write
    /// outside its place shows.
    fn printed(d: &Decimal) -> String {
        let mut out = [b'#'; 3 + PUT_DECIMAL_SLACK];
        let end = put_decimal(&mut out, 3, d);
        assert_eq!(&out[..3], b"###", "{d:?}: wrote before its place");
        assert!(
            end - 3 <= DECIMAL_TEXT_MAX,
            "{d:?}: longer than DECIMAL_TEXT_MAX"
        );
        String::from_utf8(out[3..end].to_vec()).expect("ascii")
    }

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
        if let Ok(d) = exact {
            assert_eq!(printed(&d), d.to_string(), "{text}: display");
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
            assert_eq!(printed(&d), d.to_string(), "{d:?}");
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
