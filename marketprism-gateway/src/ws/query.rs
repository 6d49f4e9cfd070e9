//! The `subjects` query parameter, decoded strictly: a subject that is not valid UTF-8 after
//! percent-decoding, holds a control character (NUL included), is empty (`a,,b`) or has an
//! empty token (`a..b`) is refused with a 400 saying why, never repaired.

use marketprism_core::subject::SubjectPattern;

use crate::GatewayError;

fn bad(message: impl Into<String>) -> GatewayError {
    GatewayError::BadRequest {
        message: message.into(),
    }
}

/// `application/x-www-form-urlencoded` decoding to bytes: `+` is a space, `%XX` a byte, any
/// other `%` kept as it is.
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        // Two hex digits: at most 0xFF.
                        out.push(u8::try_from(h * 16 + l).unwrap_or(u8::MAX));
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The values of the `subjects` (or `subject`) parameters of a raw query, decoded.
fn subject_values(query: &str) -> Result<Vec<String>, GatewayError> {
    let mut values = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = String::from_utf8_lossy(&percent_decode(key)).into_owned();
        if key != "subjects" && key != "subject" {
            continue;
        }
        let value = String::from_utf8(percent_decode(value)).map_err(|e| {
            bad(format!(
                "`{key}` is not valid UTF-8 after percent-decoding (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        values.push(value);
    }
    Ok(values)
}

/// One subject of the comma-separated list, checked before it becomes a pattern.
fn pattern(raw: &str) -> Result<SubjectPattern, GatewayError> {
    if let Some((at, c)) = raw.char_indices().find(|(_, c)| c.is_control()) {
        return Err(bad(format!(
            "subject `{}` contains the control character U+{:04X} at byte {at}; subjects are \
             printable dot-separated tokens",
            raw.escape_debug(),
            u32::from(c)
        )));
    }
    // Spaces around a comma are allowed (`a.b, c.d`); nothing else is trimmed.
    let subject = raw.trim_matches(' ');
    if subject.is_empty() {
        return Err(bad(
            "empty subject in `subjects` (a leading, trailing or doubled comma)",
        ));
    }
    SubjectPattern::new(subject).map_err(|e| bad(e.to_string()))
}

/// Parses the `subjects` parameters of the raw query: comma-separated, may repeat; at most
/// `max` distinct patterns.
pub(crate) fn patterns(query: &str, max: usize) -> Result<Vec<SubjectPattern>, GatewayError> {
    let mut out: Vec<SubjectPattern> = Vec::new();
    for value in subject_values(query)? {
        for raw in value.split(',') {
            let p = pattern(raw)?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(bad(
            "`subjects` is required, e.g. ?subjects=trade.binance.*.BTC-USDT",
        ));
    }
    if out.len() > max {
        return Err(bad(format!(
            "at most {max} subject patterns per connection"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(query: &str) -> String {
        match patterns(query, 4) {
            Err(GatewayError::BadRequest { message }) => message,
            other => panic!("{query}: expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn parses_comma_separated_and_repeated_subjects() {
        let p = patterns(
            "subjects=trade.binance.*.BTC-USDT,%20book.okx.%3E&subjects=trade.binance.*.BTC-USDT&x=1",
            4,
        )
        .expect("valid");
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].as_str(), "book.okx.>");
        assert!(patterns("", 4).is_err());
        assert!(patterns("subjects=a,b,c", 2).is_err());
    }

    #[test]
    fn refuses_what_it_would_otherwise_repair() {
        assert!(message("subjects=trade.a%00b").contains("U+0000"));
        assert!(message("subjects=trade.ab%0A").contains("U+000A"));
        assert!(message("subjects=trade.%7F").contains("U+007F"));
        assert!(message("subjects=trade.%FF%FE").contains("UTF-8"));
        assert!(message("subjects=trade.%C3").contains("UTF-8"));
        assert!(message("subjects=a,,b").contains("empty subject"));
        assert!(message("subjects=a,").contains("empty subject"));
        assert!(message("subjects=").contains("empty subject"));
        assert!(message("subjects=a..b").contains("empty token"));
        assert!(message("subjects=.a").contains("empty token"));
        assert!(message("subjects=a+b").contains("whitespace"));
        // Valid multi-byte UTF-8 is fine.
        assert_eq!(
            patterns("subjects=trade.%C3%A9", 4).expect("valid")[0].as_str(),
            "trade.é"
        );
        // A lone `%` is not an escape.
        assert!(patterns("subjects=trade.100%25", 4).is_ok());
        assert!(patterns("subjects=trade.5%", 4).is_ok());
    }
}
