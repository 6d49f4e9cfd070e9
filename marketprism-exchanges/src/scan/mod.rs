//! Hand-written single-pass scanners shared by the venues' hot paths.
//!
//! serde_json's generic machinery (field visitors, values moved through `Result`s, raw-value
//! captures) costs more than the normalization itself on the highest-volume frames. A
//! [`Cursor`] reads the same bytes once, borrows every string and reads numbers from their
//! literal text. Scanners built on it are deliberately narrow: they accept only well-formed
//! JSON of the expected shape with escape-free strings, and return `None` for anything else
//! (another shape, an escape, a duplicate key, a value of an unexpected type, trailing bytes);
//! the caller then takes the serde path, which parses the frame or reports the error. So a
//! scanner never decides what is an error, and each is tested to produce exactly what serde
//! produces on every corpus line of its message type.

pub(crate) mod num;

use rust_decimal::Decimal;

/// A byte cursor over a JSON text. Every method returns `None` (or `false`) when the next
/// token is not what it reads; the cursor is then in an unspecified position and the scan
/// is abandoned.
pub(crate) struct Cursor<'a> {
    b: &'a [u8],
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `s`.
    #[inline]
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor {
            b: s.as_bytes(),
            s,
            i: 0,
        }
    }

    /// Skips JSON whitespace.
    #[inline]
    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte, if any (no whitespace skipped).
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// True when only whitespace is left.
    #[inline]
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.b.len()
    }

    /// Consumes `byte` (after whitespace).
    #[inline]
    pub(crate) fn expect(&mut self, byte: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.i) == Some(&byte)).then(|| self.i += 1)
    }

    /// Consumes a `:`.
    #[inline]
    pub(crate) fn colon(&mut self) -> Option<()> {
        self.expect(b':')
    }

    /// Consumes `byte` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        self.expect(byte).is_some()
    }

    /// After a member: `,` → `Some(true)`, `close` → `Some(false)`, else `None`.
    #[inline]
    pub(crate) fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.b.get(self.i) {
            Some(b',') => {
                self.i += 1;
                Some(true)
            }
            Some(&b) if b == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// An escape-free string (no `\`, no control bytes).
    #[inline]
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        let s = self.s.get(start..self.i)?;
        self.i += 1;
        Some(s)
    }

    /// The text of a JSON number (`-?int(.frac)?([eE][+-]?digits)?`).
    #[inline]
    pub(crate) fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        self.eat_byte(b'-');
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat_byte(b'.') {
            self.nonempty_digits()?;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if !self.eat_byte(b'+') {
                self.eat_byte(b'-');
            }
            self.nonempty_digits()?;
        }
        self.s.get(start..self.i)
    }

    #[inline]
    fn eat_byte(&mut self, byte: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&byte);
        if hit {
            self.i += 1;
        }
        hit
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn nonempty_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// A JSON number read exactly from its literal text (Deribit's prices and amounts).
    #[inline]
    pub(crate) fn number_decimal(&mut self) -> Option<Decimal> {
        num::decimal_from_literal(self.number()?)
    }

    /// A decimal written as a JSON string, parsed as [`crate::de::parse_decimal`] does.
    ///
    /// The usual shape (`"-?digits(.digits)?"`, at most 19 digits, see
    /// [`num::decimal_exact`]) is read in the same pass that finds the closing quote; any
    /// other string is found by [`Cursor::string`] and given to the general parser.
    #[inline]
    pub(crate) fn string_decimal(&mut self) -> Option<Decimal> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let negative = self.b.get(start) == Some(&b'-');
        let first = start + usize::from(negative);
        // The whole digits, then the point and the fraction digits, each a plain loop. The
        // mantissa may wrap on more than 19 digits; such text goes to the general parser.
        let digits = |mut j: usize, mut mantissa: u64| {
            while let Some(d) = self
                .b
                .get(j)
                .map(|c| c.wrapping_sub(b'0'))
                .filter(|d| *d < 10)
            {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
                j += 1;
            }
            (j, mantissa)
        };
        let (point, mantissa) = digits(first, 0);
        let (end, mantissa, scale) = match self.b.get(point) {
            Some(b'.') if point > first => {
                let (end, mantissa) = digits(point + 1, mantissa);
                (end, mantissa, end - point - 1)
            }
            _ => (point, mantissa, 0),
        };
        let count = end - first - usize::from(scale > 0);
        if self.b.get(end) == Some(&b'"')
            && point > first
            && count <= 19
            && (scale > 0 || end == point)
        {
            self.i = end + 1;
            let lo = (mantissa & 0xFFFF_FFFF) as u32;
            let mid = (mantissa >> 32) as u32;
            return Some(Decimal::from_parts(lo, mid, 0, negative, scale as u32));
        }
        crate::de::parse_decimal(self.string()?).ok()
    }

    /// A JSON integer as `u64`.
    #[inline]
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.number()?.parse().ok()
    }

    /// A JSON integer as `i64`.
    #[inline]
    pub(crate) fn int(&mut self) -> Option<i64> {
        self.number()?.parse().ok()
    }

    /// `true` or `false`.
    #[inline]
    pub(crate) fn boolean(&mut self) -> Option<bool> {
        self.ws();
        match self.b.get(self.i)? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// True (and past it) when the next value is `null`.
    #[inline]
    pub(crate) fn null(&mut self) -> bool {
        self.ws();
        self.literal(b"null").is_some()
    }

    /// Skips a string, number, `true`, `false` or `null`.
    pub(crate) fn scalar(&mut self) -> Option<()> {
        self.ws();
        match self.b.get(self.i)? {
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end) == Some(word)).then(|| self.i = end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused quoted-decimal read agrees with `string` + `parse_decimal`, value and scale,
    /// and leaves the cursor at the same place.
    #[test]
    fn string_decimal_agrees_with_the_general_path() {
        let mut x: u64 = 11;
        let mut next = || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 11
        };
        let alphabet = b"0123456789.-e+ _x";
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.0",
            "-0.0",
            "0.00100000",
            "007",
            "1.5",
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
            "9999999999999999999",
            "10000000000000000000",
            "1234567890123456789.0",
            "12345678901234567890.5",
            "0.0000000000000000001",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for _ in 0..100_000 {
            let len = (next() % 24) as usize;
            let digits_only = next() % 2 == 0;
            texts.push(
                (0..len)
                    .map(|_| {
                        let k = if digits_only { 11 } else { alphabet.len() };
                        char::from(alphabet[(next() % k as u64) as usize])
                    })
                    .collect(),
            );
        }
        for t in texts {
            let json = format!("[\"{t}\",7]");
            let mut fused = Cursor::new(&json);
            fused.expect(b'[');
            let a = fused.string_decimal();
            let mut general = Cursor::new(&json);
            general.expect(b'[');
            let b = general
                .string()
                .and_then(|s| crate::de::parse_decimal(s).ok());
            assert_eq!(a.map(|d| d.serialize()), b.map(|d| d.serialize()), "{t}");
            if a.is_some() {
                assert_eq!(fused.i, general.i, "{t}");
            }
        }
    }
}
