//! Single-pass scanners for the highest-volume OKX pushes (`books*`, `bbo-tbt`, `trades`),
//! tried before serde (see [`crate::scan`] for the contract).
//!
//! They read exactly what the serde shapes ([`Push`], [`BookData`], [`TradeData`]) read, with
//! the same types; unknown keys are skipped when their value is a scalar. Anything else — a
//! decimal written as a JSON number, `null`, a string `seqId`, a repeated known key, a nested
//! value under an unknown key, an escape — returns `None` and the frame goes through serde.

use marketprism_core::model::Level;

use super::{Arg, Data, Push, WireSide, book::BookData, market::TradeData};
use crate::scan::Cursor;

/// Walks one object at the cursor, `field` reading each member's value.
#[inline]
fn object<'a>(
    c: &mut Cursor<'a>,
    mut field: impl FnMut(&'a str, &mut Cursor<'a>) -> Option<()>,
) -> Option<()> {
    c.expect(b'{')?;
    if c.eat(b'}') {
        return Some(());
    }
    loop {
        let key = c.string()?;
        c.colon()?;
        field(key, c)?;
        if !c.more(b'}')? {
            return Some(());
        }
    }
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

/// An integer as a number or a numeric string, as [`crate::de::i64_lenient`] reads it.
#[inline]
fn lenient_i64(c: &mut Cursor<'_>) -> Option<i64> {
    c.ws();
    if c.peek() == Some(b'"') {
        c.string()?.parse().ok()
    } else {
        c.int()
    }
}

/// A whole push frame whose elements `element` reads.
fn push<'a, D>(
    frame: &'a str,
    mut element: impl FnMut(&mut Cursor<'a>) -> Option<D>,
) -> Option<Push<'a, D>> {
    let mut c = Cursor::new(frame);
    let (mut arg, mut action, mut data) = (None, None, None);
    object(&mut c, |key, c| match key {
        "arg" => {
            let (mut channel, mut inst_id) = (None, None);
            object(c, |key, c| match key {
                "channel" => once(&mut channel, c.string()),
                "instId" => once(&mut inst_id, c.string()),
                _ => c.scalar(),
            })?;
            let arg_value = Arg {
                channel: channel?,
                inst_id,
            };
            once(&mut arg, Some(arg_value))
        }
        "action" => once(&mut action, c.string()),
        "data" => {
            let mut items = Data {
                first: None,
                rest: Vec::new(),
            };
            c.expect(b'[')?;
            if !c.eat(b']') {
                items.first = Some(element(c)?);
                while c.more(b']')? {
                    items.rest.push(element(c)?);
                }
            }
            once(&mut data, Some(items))
        }
        _ => c.scalar(),
    })?;
    if !c.at_end() {
        return None;
    }
    Some(Push {
        arg: arg?,
        action,
        data: data?,
    })
}

/// `[["px","sz",...scalars], ...]`.
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
        while c.more(b']')? {
            c.scalar()?;
        }
        out.push(Level::new(price, size));
        if !c.more(b']')? {
            return Some(out);
        }
    }
}

fn book_data(c: &mut Cursor<'_>) -> Option<BookData> {
    let (mut asks, mut bids, mut ts, mut checksum, mut seq, mut prev) =
        (None, None, None, None, None, None);
    object(c, |key, c| match key {
        "asks" => once(&mut asks, levels(c)),
        "bids" => once(&mut bids, levels(c)),
        "ts" => once(&mut ts, lenient_i64(c)),
        "checksum" => once(&mut checksum, c.number().and_then(|n| n.parse().ok())),
        "seqId" => once(&mut seq, c.int()),
        "prevSeqId" => once(&mut prev, c.int()),
        _ => c.scalar(),
    })?;
    Some(BookData {
        asks: asks?,
        bids: bids?,
        ts: ts?,
        checksum,
        seq_id: seq,
        prev_seq_id: prev,
    })
}

fn trade_data<'a>(c: &mut Cursor<'a>) -> Option<TradeData<'a>> {
    let (mut inst, mut id, mut px, mut sz, mut side, mut ts) = (None, None, None, None, None, None);
    object(c, |key, c| match key {
        "instId" => once(&mut inst, c.string()),
        "tradeId" => once(&mut id, c.string()),
        "px" => once(&mut px, c.string_decimal()),
        "sz" => once(&mut sz, c.string_decimal()),
        "side" => {
            let s = match c.string()? {
                "buy" => WireSide::Buy,
                "sell" => WireSide::Sell,
                _ => return None,
            };
            once(&mut side, Some(s))
        }
        "ts" => once(&mut ts, lenient_i64(c)),
        _ => c.scalar(),
    })?;
    Some(TradeData {
        inst_id: inst?,
        trade_id: id?,
        px: px?,
        sz: sz?,
        side: side?,
        ts: ts?,
    })
}

/// A book push (`books`, `books-l2-tbt`, `books50-l2-tbt`, `books5`, `bbo-tbt`).
pub(crate) fn books(frame: &str) -> Option<Push<'_, BookData>> {
    push(frame, book_data)
}

/// A `trades` / `trades-all` push.
pub(crate) fn trades(frame: &str) -> Option<Push<'_, TradeData<'_>>> {
    push(frame, trade_data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::corpus_lines;

    /// On every line of the book and trades files, the scanner and serde agree exactly.
    #[test]
    fn agrees_with_serde_on_the_corpus() {
        let files = [
            "books.jsonl",
            "books_l2_tbt.jsonl",
            "books_l2_tbt_unverifiable.jsonl",
            "books5.jsonl",
            "bbo_tbt.jsonl",
            "books_docs_examples.jsonl",
        ];
        for file in files {
            let lines = corpus_lines("okx", file);
            for line in &lines {
                let via_serde: Push<'_, BookData> = serde_json::from_str(line).expect("serde");
                let fast = books(line).unwrap_or_else(|| panic!("{file}: declined {line}"));
                assert_eq!(format!("{fast:?}"), format!("{via_serde:?}"), "{line}");
            }
        }
        for line in corpus_lines("okx", "trades.jsonl") {
            let via_serde: Push<'_, TradeData<'_>> = serde_json::from_str(&line).expect("serde");
            let fast = trades(&line).unwrap_or_else(|| panic!("declined {line}"));
            assert_eq!(format!("{fast:?}"), format!("{via_serde:?}"), "{line}");
        }
    }

    #[test]
    fn declines() {
        let b = |data: &str| {
            format!(
                r#"{{"arg":{{"channel":"books","instId":"X"}},"action":"update","data":[{data}]}}"#
            )
        };
        for f in [
            b(r#"{"asks":[[1,"1"]],"bids":[],"ts":"1"}"#),
            b(r#"{"asks":[],"bids":[],"ts":"1","seqId":null}"#),
            b(r#"{"asks":[],"bids":[],"ts":"1","seqId":"5"}"#),
            b(r#"{"asks":[],"bids":[],"ts":"1","ts":"2"}"#),
            b(r#"{"asks":[],"bids":[],"ts":"x"}"#),
            b(r#"{"asks":[["1"]],"bids":[],"ts":"1"}"#),
            b(r#"{"asks":[],"bids":[],"ts":"1","checksum":4294967296}"#),
            b(r#"{"asks":[],"bids":[],"ts":"1","x":[1]}"#),
            b(r#"{"asks":[],"bids":[],"ts":"1"} x"#),
        ] {
            assert!(books(&f).is_none(), "{f}");
        }
        let t = r#"{"arg":{"channel":"trades","instId":"X"},"data":[{"instId":"X","tradeId":"1","px":"1","sz":"1","side":"short","ts":"1"}]}"#;
        assert!(trades(t).is_none());
    }
}
