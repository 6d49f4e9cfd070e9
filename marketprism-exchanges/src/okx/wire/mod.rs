//! Borrowed serde shapes of OKX v5 frames. Text fields borrow from the frame, decimals are
//! parsed exactly, and nothing here allocates except the level vectors that become the
//! event's own vectors.
//!
//! Every push frame is `{"arg":{"channel":..,"instId":..},"action"?:..,"data":[..]}`
//! (<https://www.okx.com/docs-v5/en/#overview-websocket-subscribe>).

pub(crate) mod book;
pub(crate) mod fast;
pub(crate) mod market;
pub(crate) mod rest;

use std::{borrow::Cow, fmt, marker::PhantomData};

use marketprism_core::model::{Level, Side};
use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, SeqAccess, Visitor},
};

use crate::de::Dec;

/// The subscription argument echoed in every push and ack (per-type args such as
/// `liquidation-orders` carry `instType` instead of `instId`; the elements name the instrument).
///
/// ```json
/// {"channel":"books","instId":"BTC-USD-220527"}
/// {"channel":"liquidation-orders","instType":"SWAP"}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct Arg<'a> {
    /// Channel name (`books`, `trades`, `candle1m`, ...).
    #[serde(borrow)]
    pub(crate) channel: &'a str,
    /// Instrument, for per-instrument channels.
    #[serde(default, borrow, rename = "instId")]
    pub(crate) inst_id: Option<&'a str>,
}

/// A data push: the argument, the optional book `action` and the `data` array.
///
/// ```json
/// {"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",...}]}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct Push<'a, D> {
    /// The subscription.
    #[serde(borrow)]
    pub(crate) arg: Arg<'a>,
    /// `snapshot` / `update` on incremental book channels.
    #[serde(default, borrow)]
    pub(crate) action: Option<&'a str>,
    /// The elements.
    pub(crate) data: Data<D>,
}

/// The `data` array, stored without a heap allocation for the usual single element.
#[derive(Debug)]
pub(crate) struct Data<D> {
    first: Option<D>,
    rest: Vec<D>,
}

impl<D> Data<D> {
    /// Number of elements.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// The elements in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &D> {
        self.first.iter().chain(self.rest.iter())
    }
}

impl<D> IntoIterator for Data<D> {
    type Item = D;
    type IntoIter = std::iter::Chain<std::option::IntoIter<D>, std::vec::IntoIter<D>>;
    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

impl<'de, D: Deserialize<'de>> Deserialize<'de> for Data<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        struct V<D>(PhantomData<D>);
        impl<'de, D: Deserialize<'de>> Visitor<'de> for V<D> {
            type Value = Data<D>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a data array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data<D>, A::Error> {
                let first = seq.next_element()?;
                let mut rest = Vec::new();
                if first.is_some() {
                    while let Some(x) = seq.next_element()? {
                        rest.push(x);
                    }
                }
                Ok(Data { first, rest })
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// Any frame, for dispatch when the fast prefix check does not apply: events and their
/// fields; `data` is skipped without being parsed.
///
/// ```json
/// {"event":"error","msg":"Wrong URL or channel:tickers,instId:NMR-USDT doesn't exist. ...","code":"60018","connId":"0d0c61a5"}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a> {
    /// `subscribe`, `unsubscribe`, `error`, `notice`, `channel-conn-count`, ...
    #[serde(default, borrow)]
    pub(crate) event: Option<&'a str>,
    /// The subscription (pushes and acks).
    #[serde(default, borrow)]
    pub(crate) arg: Option<Arg<'a>>,
    /// Set on client requests (`subscribe`, `unsubscribe`), which a client never receives.
    #[serde(default, borrow)]
    pub(crate) op: Option<&'a str>,
    /// Error / notice code, a string (`"60012"`).
    #[serde(default, borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
    /// Error / notice text (may hold escaped quotes, hence `Cow`).
    #[serde(default, borrow)]
    pub(crate) msg: Option<Cow<'a, str>>,
    /// Channel of `channel-conn-count` events.
    #[serde(default, borrow)]
    pub(crate) channel: Option<&'a str>,
    /// Connection count of `channel-conn-count` events.
    #[serde(default, borrow, rename = "connCount")]
    pub(crate) conn_count: Option<&'a str>,
}

/// Side as OKX writes it (`"buy"` / `"sell"`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WireSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl From<WireSide> for Side {
    fn from(s: WireSide) -> Side {
        match s {
            WireSide::Buy => Side::Buy,
            WireSide::Sell => Side::Sell,
        }
    }
}

/// One book level `["price","size","0","numOrders"]` (the third element is the deprecated
/// liquidated-orders count; extra elements are ignored).
struct WireLevel(Level);

impl<'de> Deserialize<'de> for WireLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WireLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a level [price, size, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireLevel, A::Error> {
                let Dec(price) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let Dec(size) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireLevel(Level::new(price, size)))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `#[serde(deserialize_with = "levels")]`: a level array straight into the event's vector.
pub(crate) fn levels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Level>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Level>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of levels")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Level>, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(8));
            while let Some(WireLevel(l)) = seq.next_element()? {
                v.push(l);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(V)
}

/// `#[serde(default, deserialize_with = "opt_i64")]`: an integer as a string or number;
/// `""` and `null` are `None` (OKX sends `"expTime":""` for spot).
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, a numeric string, an empty string or null")
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
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_option(V)
}

/// An integer element of a JSON array, as a string or a number (candle timestamps).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LenientI64(pub(crate) i64);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::de::i64_lenient(d).map(LenientI64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_error_with_escaped_msg() {
        let json = r#"{"id":"1512","event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\"}","connId":"a4d3ae55"}"#;
        let e: Envelope<'_> = serde_json::from_str(json).expect("envelope");
        assert_eq!(e.event, Some("error"));
        assert_eq!(e.code.as_deref(), Some("60012"));
        assert_eq!(
            e.msg.as_deref(),
            Some(r#"Invalid request: {"op": "subscribe"}"#)
        );
    }

    #[test]
    fn push_skips_unknown_and_keeps_one_element_inline() {
        let json = r#"{"id":"1","arg":{"channel":"x","instType":"SWAP"},"data":[1,2,3]}"#;
        let p: Push<'_, u8> = serde_json::from_str(json).expect("push");
        assert_eq!(p.arg.inst_id, None);
        assert_eq!(p.data.len(), 3);
        assert_eq!(p.data.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
        let p: Push<'_, u8> =
            serde_json::from_str(r#"{"arg":{"channel":"x"},"data":[]}"#).expect("push");
        assert_eq!(p.data.len(), 0);
    }

    #[test]
    fn level_keeps_text_scale_and_ignores_extras() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "levels")]
            l: Vec<Level>,
        }
        let t: T =
            serde_json::from_str(r#"{"l":[["30233.60","3","0","1"],["1","2"]]}"#).expect("levels");
        assert_eq!(t.l[0].price.to_string(), "30233.60");
        assert_eq!(t.l[1].size.to_string(), "2");
        assert!(serde_json::from_str::<T>(r#"{"l":[["1"]]}"#).is_err());
    }

    #[test]
    fn opt_i64_forms() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "opt_i64")]
            a: Option<i64>,
        }
        let p = |s: &str| serde_json::from_str::<T>(s).map(|t| t.a).ok();
        assert_eq!(p(r#"{"a":""}"#), Some(None));
        assert_eq!(p(r#"{"a":"17"}"#), Some(Some(17)));
        assert_eq!(p(r#"{"a":-3}"#), Some(Some(-3)));
        assert_eq!(p(r#"{}"#), Some(None));
        assert_eq!(p(r#"{"a":"x"}"#), None);
    }
}
