//! Borrowed serde structs for Binance's wire formats, and the cheap frame classification
//! that picks which one to parse.
//!
//! Binance sends three shapes of text frame:
//!
//! - combined-stream frames `{"stream":"btcusdt@trade","data":{...}}` (what our connections use);
//! - raw payloads `{"e":"trade",...}` (the `/ws/<stream>` endpoints, docs examples);
//! - control replies `{"result":null,"id":1}`, errors `{"code":..,"msg":..}` or
//!   `{"error":{"code":..,"msg":..},"id":..}`.
//!
//! The hot path recognizes the first two by their fixed prefix without a JSON pass
//! ([`split_combined`], [`sniff_event`]); everything else goes through [`Probe`].

pub(crate) mod book;
pub(crate) mod fast;
pub(crate) mod market;
pub(crate) mod rest;

use std::{borrow::Cow, fmt};

use marketprism_core::model::Level;
use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, SeqAccess, Visitor},
};
use serde_json::value::RawValue;

use crate::de::Dec;

/// Splits a combined-stream frame `{"stream":"<name>","data":<payload>}` into the stream name
/// and the payload text, without parsing. `None` when the frame does not have exactly that
/// layout (key order, spacing): the caller then falls back to [`Probe`].
#[inline]
pub(crate) fn split_combined(frame: &str) -> Option<(&str, &str)> {
    let rest = frame.strip_prefix(r#"{"stream":""#)?;
    let end = rest.find('"')?;
    let (stream, rest) = rest.split_at(end);
    if stream.contains('\\') {
        return None;
    }
    let data = rest.strip_prefix(r#"","data":"#)?;
    let data = data.trim_end().strip_suffix('}')?;
    Some((stream, data))
}

/// The event name of a payload whose first key is `e` (`{"e":"trade",...}`, or the first
/// element of an array payload `[{"e":"24hrTicker",...},...]`), without parsing.
#[inline]
pub(crate) fn sniff_event(payload: &str) -> Option<&str> {
    let rest = payload.strip_prefix('[').unwrap_or(payload);
    let rest = rest.strip_prefix(r#"{"e":""#)?;
    let end = rest.find('"')?;
    let name = &rest[..end];
    (!name.contains('\\')).then_some(name)
}

/// The symbol part of a stream name (`ethusdt@depth20` → `ethusdt`), lowercase as Binance
/// spells stream names.
pub(crate) fn stream_symbol(stream: &str) -> &str {
    stream.split_once('@').map_or(stream, |(s, _)| s)
}

/// True for partial-depth (top-N image) stream names: `<s>@depth5`, `<s>@depth20@100ms`.
/// Diff streams are `<s>@depth` and `<s>@depth@100ms`.
pub(crate) fn is_partial_depth_stream(stream: &str) -> bool {
    stream
        .split_once("@depth")
        .is_some_and(|(_, rest)| rest.as_bytes().first().is_some_and(u8::is_ascii_digit))
}

/// Deserializes `[[price, qty], ...]` straight into the event's own level vector (no
/// intermediate tuple vector). Prices/quantities are decimal strings (numbers accepted too).
pub(crate) fn levels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Level>, D::Error> {
    struct LevelsVisitor;
    impl<'de> Visitor<'de> for LevelsVisitor {
        type Value = Vec<Level>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of [price, quantity] pairs")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Level>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(8));
            while let Some((Dec(price), Dec(size))) = seq.next_element::<(Dec, Dec)>()? {
                out.push(Level { price, size });
            }
            Ok(out)
        }
    }
    d.deserialize_seq(LevelsVisitor)
}

/// `#[serde(default, deserialize_with = "present")]`: true when the key exists, whatever its
/// value (`"result":null` and `"id":null` count as present).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Error body of the live nested error frame.
///
/// ```json
/// {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody<'a> {
    /// Error code (negative for REST-style errors).
    #[serde(deserialize_with = "code")]
    pub(crate) code: Cow<'a, str>,
    /// Human-readable message.
    #[serde(borrow)]
    pub(crate) msg: Cow<'a, str>,
}

/// An error code as text, from an integer (or, defensively, a string).
fn code<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    struct CodeVisitor;
    impl<'de> Visitor<'de> for CodeVisitor {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an error code")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
    }
    d.deserialize_any(CodeVisitor)
}

/// Generic view of any frame, used when the fast prefixes do not match: control replies,
/// errors, wrappers with other key orders, payloads whose first key is not `e`.
///
/// Examples of what it classifies (from `ws_control.jsonl`, `errors.jsonl`):
///
/// ```json
/// {"result":null,"id":1}
/// {"id":1000,"result":null}
/// {"code":-1121,"msg":"Invalid symbol."}
/// {"error":{"code":2,"msg":"Invalid request: missing field `method`"},"id":null}
/// {"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}
/// ```
///
/// See <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>
/// ("Live Subscribing/Unsubscribing to streams", "Error Messages").
#[derive(Debug, Deserialize)]
pub(crate) struct Probe<'a> {
    /// Event name of a raw payload.
    #[serde(default, borrow)]
    pub(crate) e: Option<&'a str>,
    /// Combined-stream name.
    #[serde(default, borrow)]
    pub(crate) stream: Option<&'a str>,
    /// Combined-stream payload.
    #[serde(default, borrow)]
    pub(crate) data: Option<&'a RawValue>,
    /// A `result` key (subscribe/unsubscribe/property reply).
    #[serde(default, deserialize_with = "present")]
    pub(crate) result: bool,
    /// An `id` key.
    #[serde(default, deserialize_with = "present")]
    pub(crate) id: bool,
    /// A `method` key: a client request, which a server never sends.
    #[serde(default, deserialize_with = "present")]
    pub(crate) method: bool,
    /// Live nested error.
    #[serde(default, borrow)]
    pub(crate) error: Option<ErrorBody<'a>>,
    /// REST-style / docs WS-style error code.
    #[serde(default, deserialize_with = "opt_code", borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
    /// REST-style / docs WS-style error message.
    #[serde(default, borrow)]
    pub(crate) msg: Option<Cow<'a, str>>,
    /// `lastUpdateId` of a partial-depth image.
    #[serde(default, rename = "lastUpdateId", deserialize_with = "present")]
    pub(crate) last_update_id: bool,
    /// `u` of a spot bookTicker.
    #[serde(default, deserialize_with = "present")]
    pub(crate) u: bool,
    /// `s` symbol.
    #[serde(default, borrow)]
    pub(crate) s: Option<&'a str>,
}

fn opt_code<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    code(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_split_and_sniff() {
        let f = r#"{"stream":"bnbbtc@trade","data":{"e":"trade","E":1,"s":"BNBBTC"}}"#;
        let (stream, data) = split_combined(f).expect("combined");
        assert_eq!(stream, "bnbbtc@trade");
        assert_eq!(data, r#"{"e":"trade","E":1,"s":"BNBBTC"}"#);
        assert_eq!(sniff_event(data), Some("trade"));
        assert_eq!(sniff_event(r#"[{"e":"24hrTicker"}]"#), Some("24hrTicker"));
        assert_eq!(sniff_event(r#"{"u":1}"#), None);
        assert!(split_combined(r#"{"data":{},"stream":"x"}"#).is_none());
    }

    #[test]
    fn stream_names() {
        assert!(is_partial_depth_stream("ethusdt@depth20"));
        assert!(is_partial_depth_stream("btcusdt@depth5@100ms"));
        assert!(!is_partial_depth_stream("btcusdt@depth"));
        assert!(!is_partial_depth_stream("btcusdt@depth@100ms"));
        assert_eq!(stream_symbol("ethusdt@depth20"), "ethusdt");
    }

    #[test]
    fn probe_control_frames() {
        let p: Probe<'_> = serde_json::from_str(r#"{"id":1000,"result":null}"#).expect("json");
        assert!(p.result && p.id && p.error.is_none());
        let p: Probe<'_> = serde_json::from_str(
            r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#,
        )
        .expect("json");
        let e = p.error.expect("error");
        assert_eq!(
            (e.code.as_ref(), e.msg.as_ref()),
            ("2", "Invalid request: invalid stream")
        );
        let p: Probe<'_> =
            serde_json::from_str(r#"{"code":-1121,"msg":"Invalid symbol."}"#).expect("json");
        assert_eq!(p.code.as_deref(), Some("-1121"));
    }

    #[test]
    fn levels_parse() {
        #[derive(Deserialize)]
        struct L {
            #[serde(deserialize_with = "levels")]
            b: Vec<Level>,
        }
        let l: L = serde_json::from_str(r#"{"b":[["0.35130000","6195.00000000"]]}"#).expect("json");
        assert_eq!(l.b[0].price.to_string(), "0.35130000");
        assert_eq!(l.b[0].size.to_string(), "6195.00000000");
    }
}
