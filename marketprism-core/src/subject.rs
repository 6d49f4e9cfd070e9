//! The NATS subject scheme: `{type}.{exchange}.{market}.{symbol}`.
//!
//! | event | `{type}` token |
//! |---|---|
//! | trade | `trade` |
//! | book snapshot and book delta | `book` (one subject, so a subscriber sees them in order) |
//! | BBO | `bbo` |
//! | 24 h ticker | `ticker` |
//! | funding rate | `funding` |
//! | mark/index price | `mark_price` |
//! | open interest | `open_interest` |
//! | liquidation | `liquidation` |
//! | long/short ratio | `long_short_ratio` |
//! | option summary | `option_summary` |
//! | volatility index | `volatility_index` |
//! | kline | `kline` |
//! | status (connected, disconnected, gap, resync) | `status` |
//!
//! `{exchange}` is the [`ExchangeId`](crate::model::ExchangeId): `binance`, `okx`, `deribit`
//! or a user's own exchange such as `bybit` (valid names are always one safe token);
//! `{market}` is `spot`, `perpetual`, `future`, `option` or `index`; `{symbol}` is the
//! normalized symbol (`BTC-USDT-PERP`). A symbol is one token whatever it holds: `.`, `*`,
//! `>`, whitespace and control characters in it are written as `_`, and an empty symbol as
//! `_` (a hostile or careless normalizer cannot add tokens to a subject). Connection-wide
//! status events use the symbol token `_all`.
//!
//! ```
//! use marketprism_core::subject::{SubjectPattern, subject_of};
//! # use marketprism_core::model::*;
//! let p = SubjectPattern::new("trade.binance.*.BTC-USDT")?;
//! assert!(p.matches("trade.binance.spot.BTC-USDT"));
//! assert!(!p.matches("trade.okx.spot.BTC-USDT"));
//! assert!(SubjectPattern::new("book.>")?.matches("book.okx.perpetual.BTC-USDT-PERP"));
//! # Ok::<_, marketprism_core::Error>(())
//! ```

use std::fmt::Write as _;

use crate::{Error, model::MarketEvent};

/// Symbol token of connection-wide status events.
pub const ALL_SYMBOLS_TOKEN: &str = "_all";

/// The `{type}` token of an event's subject.
pub fn type_token(event: &MarketEvent) -> &'static str {
    match event {
        MarketEvent::Trade(_) => "trade",
        MarketEvent::BookSnapshot(_) | MarketEvent::BookDelta(_) => "book",
        MarketEvent::Bbo(_) => "bbo",
        MarketEvent::Ticker(_) => "ticker",
        MarketEvent::FundingRate(_) => "funding",
        MarketEvent::MarkPrice(_) => "mark_price",
        MarketEvent::OpenInterest(_) => "open_interest",
        MarketEvent::Liquidation(_) => "liquidation",
        MarketEvent::LongShortRatio(_) => "long_short_ratio",
        MarketEvent::OptionSummary(_) => "option_summary",
        MarketEvent::VolatilityIndex(_) => "volatility_index",
        MarketEvent::Kline(_) => "kline",
        MarketEvent::Status(_) => "status",
    }
}

/// Writes the subject of `event` into `buf` (cleared first), so a hot loop reuses one buffer.
///
/// ```
/// # use marketprism_core::model::*;
/// # use marketprism_core::subject::write_subject;
/// let e = MarketEvent::Status(Status::new(ExchangeId::OKX, MarketType::Spot, None, 0,
///     StatusKind::Connected { connection: "c1".into() }));
/// let mut buf = String::new();
/// write_subject(&e, &mut buf);
/// assert_eq!(buf, "status.okx.spot._all");
/// ```
pub fn write_subject(event: &MarketEvent, buf: &mut String) {
    buf.clear();
    let symbol = event.symbol().map_or(ALL_SYMBOLS_TOKEN, |s| s.as_str());
    // Writing to a String cannot fail.
    let _ = write!(
        buf,
        "{}.{}.{}.",
        type_token(event),
        event.exchange(),
        event.market(),
    );
    push_token(buf, symbol);
}

/// Whether `c` may stand in a subject token as it is (not `.`, `*`, `>`, whitespace or a
/// control character).
///
/// ```
/// use marketprism_core::subject::token_safe;
/// assert!("BTC-USDT".chars().all(token_safe));
/// assert!(!token_safe('.') && !token_safe(' ') && !token_safe('>'));
/// ```
pub fn token_safe(c: char) -> bool {
    !(c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control())
}

/// Appends `token` as exactly one subject token (see the module docs).
fn push_token(buf: &mut String, token: &str) {
    if token.is_empty() {
        buf.push('_');
    } else if token.chars().all(token_safe) {
        buf.push_str(token);
    } else {
        buf.extend(token.chars().map(|c| if token_safe(c) { c } else { '_' }));
    }
}

/// The subject of `event`: `{type}.{exchange}.{market}.{symbol}`.
///
/// ```
/// # use marketprism_core::model::*;
/// # use marketprism_core::subject::subject_of;
/// let e = MarketEvent::Status(Status::new(ExchangeId::BINANCE, MarketType::Perpetual,
///     Some(Symbol::new("BTC-USDT-PERP")), 0, StatusKind::BookResync { reason: "gap".into() }));
/// assert_eq!(subject_of(&e), "status.binance.perpetual.BTC-USDT-PERP");
/// ```
pub fn subject_of(event: &MarketEvent) -> String {
    let mut s = String::with_capacity(48);
    write_subject(event, &mut s);
    s
}

/// One token of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Box<str>),
    /// `*`: exactly one token.
    Single,
    /// `>`: one or more trailing tokens.
    Tail,
}

/// A subject pattern with NATS semantics: tokens separated by `.`, `*` matches exactly one
/// token, `>` (last token only) matches one or more tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectPattern {
    raw: String,
    tokens: Vec<Token>,
}

impl SubjectPattern {
    /// Compiles a pattern; empty tokens, `>` before the end, or whitespace are errors.
    ///
    /// ```
    /// use marketprism_core::subject::SubjectPattern;
    /// assert!(SubjectPattern::new("trade.*.spot.>").is_ok());
    /// assert!(SubjectPattern::new("trade..spot").is_err());
    /// assert!(SubjectPattern::new("trade.>.spot").is_err());
    /// ```
    pub fn new(pattern: &str) -> Result<Self, Error> {
        let invalid = |reason: &'static str| Error::InvalidSubject {
            subject: pattern.to_owned(),
            reason,
        };
        if pattern.is_empty() {
            return Err(invalid("empty pattern"));
        }
        let parts: Vec<&str> = pattern.split('.').collect();
        let mut tokens = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(invalid("empty token"));
            }
            if part.chars().any(char::is_whitespace) {
                return Err(invalid("whitespace in token"));
            }
            tokens.push(match *part {
                "*" => Token::Single,
                ">" if i + 1 == parts.len() => Token::Tail,
                ">" => return Err(invalid("`>` must be the last token")),
                lit => Token::Literal(lit.into()),
            });
        }
        Ok(SubjectPattern {
            raw: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// True when the pattern has no wildcard.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// Whether `subject` matches. Allocation-free.
    ///
    /// ```
    /// use marketprism_core::subject::SubjectPattern;
    /// let p = SubjectPattern::new("*.okx.>")?;
    /// assert!(p.matches("book.okx.spot.BTC-USDT"));
    /// assert!(!p.matches("book.okx"));
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    pub fn matches(&self, subject: &str) -> bool {
        let mut parts = subject.split('.');
        for token in &self.tokens {
            match token {
                Token::Tail => return parts.next().is_some_and(|p| !p.is_empty()),
                Token::Single => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Token::Literal(lit) => match parts.next() {
                    Some(p) if p == &**lit => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }
}

impl std::str::FromStr for SubjectPattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubjectPattern::new(s)
    }
}

impl std::fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        SubjectPattern::new(p).expect("valid pattern").matches(s)
    }

    /// Fuzz finding (`subject` target): a symbol holding `.` made a five-token subject, so
    /// `trade.b.spot.*` missed the event and `trade.b.spot.BB.>` caught it.
    #[test]
    fn a_symbol_is_always_one_token() {
        for (symbol, token) in [
            ("BB.-USDT", "BB_-USDT"),
            ("A*B", "A_B"),
            ("X>", "X_"),
            ("a b\u{0}", "a_b_"),
            ("", "_"),
            ("BTC-USDT", "BTC-USDT"),
        ] {
            let json = format!(
                r#"{{"type":"trade","exchange":"b","market":"spot","symbol":{},"price":"0","size":"1","side":"buy","trade_id":"1","exchange_ts":1,"local_ts":0}}"#,
                serde_json::to_string(symbol).expect("json string")
            );
            let event: MarketEvent = serde_json::from_str(&json).expect("trade json");
            let subject = subject_of(&event);
            assert_eq!(subject, format!("trade.b.spot.{token}"), "{symbol:?}");
            assert!(SubjectPattern::new(&subject).is_ok_and(|p| p.is_literal()));
            assert!(m("trade.b.spot.*", &subject));
        }
    }

    #[test]
    fn nats_semantics() {
        assert!(m("a.b.c", "a.b.c"));
        assert!(!m("a.b.c", "a.b"));
        assert!(!m("a.b.c", "a.b.c.d"));
        assert!(m("a.*.c", "a.x.c"));
        assert!(!m("a.*.c", "a.c"));
        assert!(m("a.>", "a.b"));
        assert!(m("a.>", "a.b.c.d"));
        assert!(!m("a.>", "a"));
        assert!(m(">", "a"));
        assert!(m("*", "a"));
        assert!(!m("*", "a.b"));
        assert!(m("*.*.*.*", "trade.binance.spot.BTC-USDT"));
        assert!(!m("a.b", "a..b"));
        assert!(!m("a.*", "a."));
    }

    #[test]
    fn user_exchange_subject() {
        use crate::model::{ExchangeId, MarketType, Status, StatusKind, Symbol};
        let bybit = ExchangeId::new("bybit").expect("valid");
        let e = MarketEvent::Status(Status::new(
            bybit,
            MarketType::Perpetual,
            Some(Symbol::new("BTC-USDT-PERP")),
            0,
            StatusKind::Gap {
                expected: 2,
                received: 4,
            },
        ));
        assert_eq!(subject_of(&e), "status.bybit.perpetual.BTC-USDT-PERP");
        assert!(m("*.bybit.>", &subject_of(&e)));
    }

    #[test]
    fn invalid_patterns() {
        for p in ["", "a..b", ".a", "a.", "a.>.b", "a b"] {
            assert!(SubjectPattern::new(p).is_err(), "{p:?} should be invalid");
        }
    }
}
