//! `Deserialize` for [`MarketEvent`], faster than serde's internally tagged enums.
//!
//! serde's derive for `#[serde(tag = "type")]` first buffers the whole object into its own
//! content tree, then reads the variant from that tree: every field is parsed twice and the
//! tree allocated. Our serializer writes `type` first, so this reads the tag, then the
//! variant's fields straight from the same map. An object whose `type` comes later (written
//! by someone else) is still read, through a buffered `serde_json::Value`.

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{self, IntoDeserializer, MapAccess, Visitor, value::MapAccessDeserializer},
};

use super::{EventKind as Tag, MarketEvent};

/// The variant `tag` names ([`EventKind`](Tag) is the `type` tag), read from `fields` (the
/// object's other fields).
fn variant<'de, D: Deserializer<'de>>(tag: Tag, fields: D) -> Result<MarketEvent, D::Error> {
    use MarketEvent as E;
    Ok(match tag {
        Tag::Trade => E::Trade(Deserialize::deserialize(fields)?),
        Tag::BookSnapshot => E::BookSnapshot(Deserialize::deserialize(fields)?),
        Tag::BookDelta => E::BookDelta(Deserialize::deserialize(fields)?),
        Tag::Bbo => E::Bbo(Deserialize::deserialize(fields)?),
        Tag::Ticker => E::Ticker(Deserialize::deserialize(fields)?),
        Tag::FundingRate => E::FundingRate(Deserialize::deserialize(fields)?),
        Tag::MarkPrice => E::MarkPrice(Deserialize::deserialize(fields)?),
        Tag::OpenInterest => E::OpenInterest(Deserialize::deserialize(fields)?),
        Tag::Liquidation => E::Liquidation(Deserialize::deserialize(fields)?),
        Tag::LongShortRatio => E::LongShortRatio(Deserialize::deserialize(fields)?),
        Tag::OptionSummary => E::OptionSummary(Deserialize::deserialize(fields)?),
        Tag::VolatilityIndex => E::VolatilityIndex(Deserialize::deserialize(fields)?),
        Tag::Kline => E::Kline(Deserialize::deserialize(fields)?),
        Tag::Status => E::Status(Deserialize::deserialize(fields)?),
    })
}

/// An object's first key: the tag, or another field (kept for the buffered path).
enum FirstKey {
    Type,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = FirstKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<FirstKey, E> {
                Ok(if key == "type" {
                    FirstKey::Type
                } else {
                    FirstKey::Other(key.to_owned())
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = MarketEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a market event: an object with a `type` field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MarketEvent, A::Error> {
        match map.next_key::<FirstKey>()? {
            None => Err(de::Error::missing_field("type")),
            Some(FirstKey::Type) => {
                let tag: Tag = map.next_value()?;
                variant(tag, MapAccessDeserializer::new(map))
            }
            Some(FirstKey::Other(first)) => {
                let mut fields = serde_json::Map::new();
                fields.insert(first, map.next_value()?);
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    fields.insert(key, value);
                }
                let tag = fields
                    .remove("type")
                    .ok_or_else(|| de::Error::missing_field("type"))?;
                let tag = Tag::deserialize(tag.into_deserializer()).map_err(de::Error::custom)?;
                variant(tag, serde_json::Value::Object(fields)).map_err(de::Error::custom)
            }
        }
    }
}

impl<'de> Deserialize<'de> for MarketEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TRADE: &str = r#"{"type":"trade","exchange":"binance","market":"spot","symbol":"BTC-USDT","trade_id":"1","side":"buy","price":"64000.10","size":"0.015","exchange_ts":1,"local_ts":2}"#;

    #[test]
    fn the_tag_may_come_anywhere() {
        let first: MarketEvent = serde_json::from_str(TRADE).unwrap();
        let later = r#"{"exchange":"binance","market":"spot","symbol":"BTC-USDT","trade_id":"1","side":"buy","price":"64000.10","size":"0.015","type":"trade","exchange_ts":1,"local_ts":2}"#;
        assert_eq!(serde_json::from_str::<MarketEvent>(later).unwrap(), first);
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            TRADE,
            "written back with the tag first"
        );
    }

    #[test]
    fn every_kind_reads_back_what_it_wrote() {
        let status = r#"{"type":"status","exchange":"okx","market":"spot","symbol":null,"kind":{"status":"gap","expected":1,"received":3},"exchange_ts":7,"local_ts":9}"#;
        for json in [TRADE, status] {
            let event: MarketEvent = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&event).unwrap(), json);
            // Through a `Value` (another deserializer) too.
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::from_value::<MarketEvent>(value).unwrap(), event);
        }
    }

    #[test]
    fn hostile_objects_are_errors_that_say_why() {
        let err = |json: &str| {
            serde_json::from_str::<MarketEvent>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{}"#).contains("missing field `type`"));
        assert!(err(r#"{"exchange":"okx"}"#).contains("missing field `type`"));
        assert!(
            err(r#"{"type":"teleport","exchange":"okx"}"#).contains("unknown variant `teleport`")
        );
        assert!(err(r#"{"exchange":"okx","type":7}"#).contains("invalid type"));
        assert!(err(r#"{"type":"trade","exchange":"okx"}"#).contains("missing field"));
        assert!(err(r#"[1,2]"#).contains("invalid type"));
        assert!(err(r#""trade""#).contains("invalid type"));
    }
}
