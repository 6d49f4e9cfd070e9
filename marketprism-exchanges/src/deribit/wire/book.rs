//! Order-book notifications: `book.{instrument}.{interval}` (snapshot + chained changes) and
//! `book.{instrument}.{group}.{depth}.{interval}` (a full top-N image each message).
//!
//! Docs: <https://docs.deribit.com/subscriptions/orderbook/bookinstrument_nameinterval>,
//! <https://docs.deribit.com/subscriptions/orderbook/bookinstrument_namegroupdepthinterval>.

use std::fmt;

use marketprism_core::model::Level;
use rust_decimal::Decimal;
use serde::{
    Deserialize, Deserializer,
    de::{self, SeqAccess, Visitor},
};

use super::num::Num;

/// `data` of `book.{instrument}.{interval}`.
///
/// ```json
/// {"type":"change","timestamp":1626993752819,"prev_change_id":33195898002,
///  "instrument_name":"BTC-24SEP21-8000-P","change_id":33195898165,
///  "bids":[],"asks":[["new",0.001,2.6]]}
/// ```
///
/// The first message after subscribing is `type: "snapshot"` with no `prev_change_id`
/// (older captures omit `type`; a missing `prev_change_id` then marks the snapshot).
#[derive(Debug, Deserialize)]
pub(crate) struct BookData<'a> {
    /// `snapshot` or `change` (absent in 2019 captures).
    #[serde(rename = "type", borrow, default)]
    pub(crate) kind: Option<&'a str>,
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Instrument.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// Id of this change.
    pub(crate) change_id: u64,
    /// Id of the previous change of this channel.
    #[serde(default)]
    pub(crate) prev_change_id: Option<u64>,
    /// Bid changes (`delete` → size zero).
    pub(crate) bids: ActionLevels,
    /// Ask changes (`delete` → size zero).
    pub(crate) asks: ActionLevels,
}

impl BookData<'_> {
    /// True for the full image that starts (or restarts) a chain.
    pub(crate) fn is_snapshot(&self) -> bool {
        match self.kind {
            Some(kind) => kind == "snapshot",
            None => self.prev_change_id.is_none(),
        }
    }
}

/// `data` of `book.{instrument}.{group}.{depth}.{interval}` (also the shape of the
/// `public/get_order_book` result's levels).
///
/// ```json
/// {"timestamp":1653982973195,"instrument_name":"BTC-30SEP22","change_id":45176371821,
///  "bids":[[31975.0,1370.0],[31966.0,2200.0]],"asks":[[31976.5,2500.0],[31979.0,60.0]]}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct GroupedBookData<'a> {
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Instrument.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// Change id of the image.
    pub(crate) change_id: u64,
    /// Bids, best first.
    pub(crate) bids: PlainLevels,
    /// Asks, best first.
    pub(crate) asks: PlainLevels,
}

/// `[["new"|"change"|"delete", price, amount], ...]` parsed straight into levels: the
/// vector becomes the event's own level list, with no intermediate allocation.
#[derive(Debug, Default)]
pub(crate) struct ActionLevels(pub(crate) Vec<Level>);

/// `[[price, amount], ...]` parsed straight into levels.
#[derive(Debug, Default)]
pub(crate) struct PlainLevels(pub(crate) Vec<Level>);

/// One `[action, price, amount]` triple.
struct ActionLevel(Level);

impl<'de> Deserialize<'de> for ActionLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ActionLevel;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[action, price, amount]")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ActionLevel, A::Error> {
                let action: &'de str = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let Num(price) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let Num(amount) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(2, &self))?;
                let size = match action {
                    "new" | "change" => amount,
                    // `delete` carries amount 0.0; force zero so the level is removed.
                    "delete" => Decimal::ZERO,
                    other => {
                        return Err(de::Error::unknown_variant(
                            other,
                            &["new", "change", "delete"],
                        ));
                    }
                };
                Ok(ActionLevel(Level::new(price, size)))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One `[price, amount]` pair.
struct PlainLevel(Level);

impl<'de> Deserialize<'de> for PlainLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (Num(price), Num(size)) = <(Num, Num)>::deserialize(d)?;
        Ok(PlainLevel(Level::new(price, size)))
    }
}

/// Collects a JSON array of `T` into a level vector.
struct LevelsVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T> Visitor<'de> for LevelsVisitor<T>
where
    T: Deserialize<'de> + Into<Level>,
{
    type Value = Vec<Level>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of levels")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Level>, A::Error> {
        let mut out = Vec::new();
        while let Some(level) = seq.next_element::<T>()? {
            out.push(level.into());
        }
        Ok(out)
    }
}

impl From<ActionLevel> for Level {
    fn from(l: ActionLevel) -> Level {
        l.0
    }
}

impl From<PlainLevel> for Level {
    fn from(l: PlainLevel) -> Level {
        l.0
    }
}

impl<'de> Deserialize<'de> for ActionLevels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(LevelsVisitor::<ActionLevel>(std::marker::PhantomData))
            .map(ActionLevels)
    }
}

impl<'de> Deserialize<'de> for PlainLevels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(LevelsVisitor::<PlainLevel>(std::marker::PhantomData))
            .map(PlainLevels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    /// book.jsonl line 1 (snapshot, shortened).
    #[test]
    fn snapshot() {
        let b: BookData<'_> = serde_json::from_str(
            r#"{"type":"snapshot","timestamp":1626993723632,"instrument_name":"ETH-30JUL21-2800-C","change_id":13169025645,"bids":[["new",0.0015,4714.0],["new",0.001,861.0]],"asks":[["new",0.0025,873.0]]}"#,
        )
        .expect("json");
        assert!(b.is_snapshot());
        assert_eq!(b.change_id, 13_169_025_645);
        assert_eq!(b.bids.0[0], Level::new(d("0.0015"), d("4714")));
        assert_eq!(b.asks.0.len(), 1);
    }

    /// book.jsonl line 46 (change with a delete).
    #[test]
    fn change_with_delete() {
        let b: BookData<'_> = serde_json::from_str(
            r#"{"type":"change","timestamp":1626993752832,"prev_change_id":33195898165,"instrument_name":"BTC-24SEP21-8000-P","change_id":33195898166,"bids":[],"asks":[["delete",0.001,0.0]]}"#,
        )
        .expect("json");
        assert!(!b.is_snapshot());
        assert_eq!(b.prev_change_id, Some(33_195_898_165));
        assert_eq!(b.asks.0, vec![Level::new(d("0.001"), Decimal::ZERO)]);
    }

    /// book.jsonl line 108 (2019 capture: no `type`, no `prev_change_id` → snapshot).
    #[test]
    fn untyped_snapshot() {
        let b: BookData<'_> = serde_json::from_str(
            r#"{"timestamp":1564617600273,"instrument_name":"ETH-PERPETUAL","change_id":1776289261,"bids":[["new",217.8,1895.0]],"asks":[["new",218.6,179803.0]]}"#,
        )
        .expect("json");
        assert!(b.is_snapshot());
    }

    #[test]
    fn unknown_action_is_an_error() {
        let r: Result<BookData<'_>, _> = serde_json::from_str(
            r#"{"timestamp":1,"instrument_name":"X","change_id":1,"bids":[["move",1.0,1.0]],"asks":[]}"#,
        );
        assert!(r.is_err());
    }

    /// book_grouped.jsonl line 1 (shortened).
    #[test]
    fn grouped() {
        let b: GroupedBookData<'_> = serde_json::from_str(
            r#"{"timestamp":1653982973195,"instrument_name":"BTC-30SEP22","change_id":45176371821,"bids":[[31975.0,1370.0],[31966.0,2200.0]],"asks":[[31976.5,2500.0]]}"#,
        )
        .expect("json");
        assert_eq!(b.bids.0[1], Level::new(d("31966"), d("2200")));
        assert_eq!(b.asks.0[0], Level::new(d("31976.5"), d("2500")));
    }
}
