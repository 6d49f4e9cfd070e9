//! Single-pass scanners for the highest-volume Binance payloads (`depthUpdate`, `trade`,
//! `aggTrade`, `bookTicker`), tried before serde (see [`crate::scan`] for the contract).
//!
//! Each reads exactly the fields its serde struct reads, with the same types; keys the
//! struct does not know are skipped when their value is a scalar (serde ignores them too).
//! Anything else — a decimal written as a JSON number, `null` for an optional field, a
//! repeated known key, a nested value under an unknown key, an escape — returns `None` and
//! the payload goes through serde.

use marketprism_core::model::Level;

use super::{
    book::DepthUpdate,
    market::{AggTradeMsg, BookTickerMsg, TradeMsg},
};
use crate::scan::Cursor;

/// Walks one object: `field` reads each member's value (or returns `None` to decline), and
/// the object must be the whole text.
#[inline]
fn object<'a>(
    text: &'a str,
    mut field: impl FnMut(&'a str, &mut Cursor<'a>) -> Option<()>,
) -> Option<()> {
    let mut c = Cursor::new(text);
    c.expect(b'{')?;
    if !c.eat(b'}') {
        loop {
            let key = c.string()?;
            c.colon()?;
            field(key, &mut c)?;
            if !c.more(b'}')? {
                break;
            }
        }
    }
    c.at_end().then_some(())
}

/// Sets `slot` once; a second occurrence of the key declines (serde: "duplicate field").
#[inline]
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// `[["price","qty"], ...]`, both as strings.
fn levels(c: &mut Cursor<'_>) -> Option<Vec<Level>> {
    let mut out = Vec::with_capacity(8);
    c.expect(b'[')?;
    if c.eat(b']') {
        return Some(out);
    }
    loop {
        c.expect(b'[')?;
        let price = c.string_decimal()?;
        c.expect(b',')?;
        let size = c.string_decimal()?;
        c.expect(b']')?;
        out.push(Level { price, size });
        if !c.more(b']')? {
            return Some(out);
        }
    }
}

/// A `depthUpdate` payload.
pub(crate) fn depth_update(data: &str) -> Option<DepthUpdate<'_>> {
    let (mut e, mut t, mut s, mut first, mut last, mut pu, mut b, mut a) =
        (None, None, None, None, None, None, None, None);
    object(data, |key, c| match key {
        "E" => once(&mut e, c.int()),
        "T" => once(&mut t, c.int()),
        "s" => once(&mut s, c.string()),
        "U" => once(&mut first, c.uint()),
        "u" => once(&mut last, c.uint()),
        "pu" => once(&mut pu, c.uint()),
        "b" => once(&mut b, levels(c)),
        "a" => once(&mut a, levels(c)),
        _ => c.scalar(),
    })?;
    Some(DepthUpdate {
        event_time: e?,
        transaction_time: t,
        symbol: s?,
        first_id: first?,
        last_id: last?,
        prev_last_id: pu,
        bids: b?,
        asks: a?,
    })
}

/// A `trade` payload.
pub(crate) fn trade(data: &str) -> Option<TradeMsg<'_>> {
    let (mut e, mut s, mut id, mut p, mut q, mut t, mut m, mut x) =
        (None, None, None, None, None, None, None, None);
    object(data, |key, c| match key {
        "E" => once(&mut e, c.int()),
        "s" => once(&mut s, c.string()),
        "t" => once(&mut id, c.uint()),
        "p" => once(&mut p, c.string_decimal()),
        "q" => once(&mut q, c.string_decimal()),
        "T" => once(&mut t, c.int()),
        "m" => once(&mut m, c.boolean()),
        "X" => once(&mut x, c.string()),
        _ => c.scalar(),
    })?;
    Some(TradeMsg {
        event_time: e?,
        symbol: s?,
        trade_id: id?,
        price: p?,
        qty: q?,
        trade_time: t,
        buyer_is_maker: m?,
        exec_type: x,
    })
}

/// An `aggTrade` payload.
pub(crate) fn agg_trade(data: &str) -> Option<AggTradeMsg<'_>> {
    let (mut s, mut a, mut p, mut q, mut f, mut l, mut t, mut m) =
        (None, None, None, None, None, None, None, None);
    object(data, |key, c| match key {
        "s" => once(&mut s, c.string()),
        "a" => once(&mut a, c.uint()),
        "p" => once(&mut p, c.string_decimal()),
        "q" => once(&mut q, c.string_decimal()),
        "f" => once(&mut f, c.uint()),
        "l" => once(&mut l, c.uint()),
        "T" => once(&mut t, c.int()),
        "m" => once(&mut m, c.boolean()),
        _ => c.scalar(),
    })?;
    Some(AggTradeMsg {
        symbol: s?,
        agg_id: a,
        price: p?,
        qty: q?,
        first_id: f?,
        last_id: l?,
        trade_time: t?,
        buyer_is_maker: m?,
    })
}

/// A `bookTicker` payload (spot without `e`/`E`/`T`, futures with them).
pub(crate) fn book_ticker(data: &str) -> Option<BookTickerMsg<'_>> {
    let (mut u, mut s, mut b, mut bq, mut a, mut aq, mut e, mut t) =
        (None, None, None, None, None, None, None, None);
    object(data, |key, c| match key {
        "u" => once(&mut u, c.uint()),
        "s" => once(&mut s, c.string()),
        "b" => once(&mut b, c.string_decimal()),
        "B" => once(&mut bq, c.string_decimal()),
        "a" => once(&mut a, c.string_decimal()),
        "A" => once(&mut aq, c.string_decimal()),
        "E" => once(&mut e, c.int()),
        "T" => once(&mut t, c.int()),
        _ => c.scalar(),
    })?;
    Some(BookTickerMsg {
        update_id: u?,
        symbol: s?,
        bid_price: b?,
        bid_qty: bq?,
        ask_price: a?,
        ask_qty: aq?,
        event_time: e,
        transaction_time: t,
    })
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use serde::Deserialize;

    use super::*;
    use crate::{binance::wire::split_combined, testing::corpus_lines};

    /// On every line of `file` (both venues), the scanner and serde agree exactly; returns
    /// how many lines the scanner took.
    fn agrees<'a, T: Deserialize<'a> + Debug>(
        lines: &'a [String],
        scan: impl Fn(&'a str) -> Option<T>,
    ) -> usize {
        let mut scanned = 0;
        for line in lines {
            let data = split_combined(line).map_or(line.as_str(), |(_, d)| d);
            let via_serde: Option<T> = serde_json::from_str(data).ok();
            if let Some(fast) = scan(data) {
                assert_eq!(
                    format!("{:?}", Some(fast)),
                    format!("{via_serde:?}"),
                    "{line}"
                );
                scanned += 1;
            }
        }
        scanned
    }

    #[test]
    fn agrees_with_serde_on_the_corpus() {
        for venue in ["binance-spot", "binance-usdm"] {
            let lines = |f| corpus_lines(venue, f);
            let (depth, trades, aggs, tickers) = (
                lines("depthUpdate.jsonl"),
                lines("trade.jsonl"),
                lines("aggTrade.jsonl"),
                lines("bookTicker.jsonl"),
            );
            assert_eq!(agrees(&depth, depth_update), depth.len(), "{venue} depth");
            assert_eq!(agrees(&trades, trade), trades.len(), "{venue} trade");
            assert_eq!(agrees(&aggs, agg_trade), aggs.len(), "{venue} aggTrade");
            assert_eq!(
                agrees(&tickers, book_ticker),
                tickers.len(),
                "{venue} bookTicker"
            );
            // The futures partial-depth payloads share the diff shape.
            let partial = lines("depth_partial.jsonl");
            agrees(&partial, depth_update);
        }
    }

    /// Everything outside the narrow grammar is left to serde.
    #[test]
    fn declines() {
        let declined = [
            // Numbers where strings are expected, null optionals, duplicate known keys.
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":1.5,"q":"1","m":true}"#,
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","T":null,"m":true}"#,
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","m":true,"m":false}"#,
            // Escapes, nested unknown values, trailing bytes, missing fields, bad numbers.
            r#"{"e":"trade","E":1,"s":"X\u0041","t":1,"p":"1","q":"1","m":true}"#,
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","m":true,"z":{}}"#,
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","q":"1","m":true} x"#,
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"1","m":true}"#,
            r#"{"e":"trade","E":1.5,"s":"X","t":1,"p":"1","q":"1","m":true}"#,
            r#"{"e":"trade","E":1,"s":"X","t":-1,"p":"1","q":"1","m":true}"#,
            r#"{"e":"trade","E":1,"s":"X","t":1,"p":"x","q":"1","m":true}"#,
        ];
        for f in declined {
            assert!(trade(f).is_none(), "{f}");
        }
        for f in [
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1","2","3"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[[1,"2"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[],"a":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[]"#,
        ] {
            assert!(depth_update(f).is_none(), "{f}");
        }
    }
}
