//! A single-pass scanner for the hot notifications, book changes, trades and tickers, used
//! before serde. serde_json's generic machinery (field visitors, values moved through `Result`s,
//! a raw-value capture per number) cost more than half of the book path; this scanner reads
//! the same bytes once, borrows every string and reads numbers from their literal text.
//!
//! It is deliberately narrow: it accepts only well-formed JSON of the expected shape with
//! escape-free strings. Anything else (another channel, an escape, an unknown level action,
//! a duplicate key, trailing bytes) returns `None` and the frame goes through the serde path,
//! which then parses it or reports the error. So the scanner never decides what is an error.

use marketprism_core::model::Level;
use rust_decimal::Decimal;

use super::{
    BookData, Data, TickerData, TradeData,
    book::ActionLevels,
    market::{Greeks, Stats},
};
use crate::scan::Cursor;

/// Scans a `subscription` notification of a book, trades or ticker channel; `None` for
/// anything else.
pub(crate) fn scan(frame: &str) -> Option<Data<'_>> {
    let mut c = Cursor::new(frame);
    let mut data = None;
    let mut method_ok = false;
    c.expect(b'{')?;
    if !c.eat(b'}') {
        loop {
            match c.string()? {
                "jsonrpc" => {
                    c.colon()?;
                    c.string()?;
                }
                "method" => {
                    c.colon()?;
                    if c.string()? != "subscription" || method_ok {
                        return None;
                    }
                    method_ok = true;
                }
                "params" if data.is_none() => {
                    c.colon()?;
                    data = Some(params(&mut c)?);
                }
                _ => return None,
            }
            if !c.more(b'}')? {
                break;
            }
        }
    }
    if !c.at_end() || !method_ok {
        return None;
    }
    data
}

fn params<'a>(c: &mut Cursor<'a>) -> Option<Data<'a>> {
    c.expect(b'{')?;
    let channel = match c.string()? {
        "channel" => {
            c.colon()?;
            c.string()?
        }
        _ => return None,
    };
    c.expect(b',')?;
    if c.string()? != "data" {
        return None;
    }
    c.colon()?;
    let rest = channel.strip_prefix("book.");
    let data = match rest {
        Some(rest) if rest.bytes().filter(|&b| b == b'.').count() == 1 => Data::Book(book(c)?),
        Some(_) => return None,
        None if channel.starts_with("trades.") => Data::Trades(trades(c)?),
        None if channel.starts_with("ticker.") => Data::Ticker(Box::new(ticker(c)?)),
        None => return None,
    };
    c.expect(b'}')?;
    Some(data)
}

fn book<'a>(c: &mut Cursor<'a>) -> Option<BookData<'a>> {
    let (mut kind, mut timestamp, mut name, mut change_id, mut prev) =
        (None, None, None, None, None);
    let (mut bids, mut asks) = (None, None);
    c.expect(b'{')?;
    loop {
        let key = c.string()?;
        c.colon()?;
        match key {
            "type" if kind.is_none() => kind = Some(c.string()?),
            "timestamp" if timestamp.is_none() => timestamp = Some(c.int()?),
            "instrument_name" if name.is_none() => name = Some(c.string()?),
            "change_id" if change_id.is_none() => change_id = Some(c.uint()?),
            "prev_change_id" if prev.is_none() => prev = Some(c.uint()?),
            "bids" if bids.is_none() => bids = Some(levels(c)?),
            "asks" if asks.is_none() => asks = Some(levels(c)?),
            _ => return None,
        }
        if !c.more(b'}')? {
            break;
        }
    }
    Some(BookData {
        kind,
        timestamp: timestamp?,
        instrument_name: name?,
        change_id: change_id?,
        prev_change_id: prev,
        bids: ActionLevels(bids?),
        asks: ActionLevels(asks?),
    })
}

fn levels(c: &mut Cursor<'_>) -> Option<Vec<Level>> {
    let mut out = Vec::new();
    c.expect(b'[')?;
    if c.eat(b']') {
        return Some(out);
    }
    loop {
        c.expect(b'[')?;
        let action = c.string()?;
        c.expect(b',')?;
        let price = c.number_decimal()?;
        c.expect(b',')?;
        let amount = c.number_decimal()?;
        c.expect(b']')?;
        let size = match action {
            "new" | "change" => amount,
            "delete" => Decimal::ZERO,
            _ => return None,
        };
        out.push(Level::new(price, size));
        if !c.more(b']')? {
            return Some(out);
        }
    }
}

fn trades<'a>(c: &mut Cursor<'a>) -> Option<Vec<TradeData<'a>>> {
    let mut out = Vec::new();
    c.expect(b'[')?;
    if c.eat(b']') {
        return Some(out);
    }
    loop {
        out.push(trade(c)?);
        if !c.more(b']')? {
            return Some(out);
        }
    }
}

fn trade<'a>(c: &mut Cursor<'a>) -> Option<TradeData<'a>> {
    let (mut id, mut ts, mut price, mut amount, mut direction, mut name, mut liquidation) =
        (None, None, None, None, None, None, None);
    c.expect(b'{')?;
    loop {
        let key = c.string()?;
        c.colon()?;
        match key {
            "trade_id" if id.is_none() => id = Some(c.string()?),
            "timestamp" if ts.is_none() => ts = Some(c.int()?),
            "price" if price.is_none() => price = Some(c.number_decimal()?),
            "amount" if amount.is_none() => amount = Some(c.number_decimal()?),
            "direction" if direction.is_none() => direction = Some(c.string()?),
            "instrument_name" if name.is_none() => name = Some(c.string()?),
            "liquidation" if liquidation.is_none() => liquidation = Some(c.string()?),
            "trade_seq" | "tick_direction" | "mark_price" | "index_price" | "iv" | "contracts"
            | "combo_id" | "combo_trade_id" | "block_trade_id" | "block_rfq_id" => {
                c.scalar()?;
            }
            _ => return None,
        }
        if !c.more(b'}')? {
            break;
        }
    }
    Some(TradeData {
        trade_id: id?,
        timestamp: ts?,
        price: price?,
        amount: amount?,
        direction: direction?,
        instrument_name: name?,
        liquidation,
    })
}

/// Marks field `bit` as read; `None` when it was already (serde refuses a repeated field).
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    let mask = 1 << bit;
    (*seen & mask == 0).then(|| *seen |= mask)
}

/// A number or `null`, as `num::opt_decimal` reads it; `None` for anything else (a quoted
/// decimal, which serde also accepts, is left to it).
fn opt_decimal(c: &mut Cursor<'_>) -> Option<Option<Decimal>> {
    if c.null() {
        return Some(None);
    }
    c.number_decimal().map(Some)
}

/// An object read by `fields` (called on each key, after its colon), or `null`.
fn opt_object<'a, T: Default>(
    c: &mut Cursor<'a>,
    mut fields: impl FnMut(&mut Cursor<'a>, &'a str, &mut T, &mut u32) -> Option<()>,
) -> Option<Option<T>> {
    if c.null() {
        return Some(None);
    }
    let (mut value, mut seen) = (T::default(), 0);
    c.expect(b'{')?;
    if c.eat(b'}') {
        return Some(Some(value));
    }
    loop {
        let key = c.string()?;
        c.colon()?;
        fields(c, key, &mut value, &mut seen)?;
        if !c.more(b'}')? {
            return Some(Some(value));
        }
    }
}

fn stats<'a>(c: &mut Cursor<'a>, key: &'a str, s: &mut Stats, seen: &mut u32) -> Option<()> {
    let field = match key {
        "volume" => (0, &mut s.volume),
        "volume_usd" => (1, &mut s.volume_usd),
        "volume_notional" => (2, &mut s.volume_notional),
        "low" => (3, &mut s.low),
        "high" => (4, &mut s.high),
        // Keys the model does not use (`price_change`), skipped as serde skips them.
        _ => return c.scalar(),
    };
    once(seen, field.0)?;
    *field.1 = opt_decimal(c)?;
    Some(())
}

fn greeks<'a>(c: &mut Cursor<'a>, key: &'a str, g: &mut Greeks, seen: &mut u32) -> Option<()> {
    let field = match key {
        "delta" => (0, &mut g.delta),
        "gamma" => (1, &mut g.gamma),
        "vega" => (2, &mut g.vega),
        "theta" => (3, &mut g.theta),
        "rho" => (4, &mut g.rho),
        _ => return c.scalar(),
    };
    once(seen, field.0)?;
    *field.1 = opt_decimal(c)?;
    Some(())
}

/// `data` of `ticker.{instrument}.{interval}`: the fields of [`TickerData`]; other keys with
/// scalar values (`state`, `min_price`, `settlement_price`, …) are skipped as serde skips them,
/// and an unknown nested value sends the frame to serde.
fn ticker<'a>(c: &mut Cursor<'a>) -> Option<TickerData<'a>> {
    let mut t = TickerData {
        timestamp: 0,
        instrument_name: "",
        last_price: None,
        best_bid_price: None,
        best_bid_amount: None,
        best_ask_price: None,
        best_ask_amount: None,
        mark_price: None,
        index_price: None,
        open_interest: None,
        stats: None,
        current_funding: None,
        funding_8h: None,
        underlying_price: None,
        underlying_index: None,
        mark_iv: None,
        bid_iv: None,
        ask_iv: None,
        greeks: None,
    };
    let mut seen = 0;
    c.expect(b'{')?;
    loop {
        let key = c.string()?;
        c.colon()?;
        let decimal = match key {
            "timestamp" => {
                once(&mut seen, 0)?;
                t.timestamp = c.int()?;
                None
            }
            "instrument_name" => {
                once(&mut seen, 1)?;
                t.instrument_name = c.string()?;
                None
            }
            "underlying_index" => {
                once(&mut seen, 2)?;
                t.underlying_index = if c.null() { None } else { Some(c.string()?) };
                None
            }
            "stats" => {
                once(&mut seen, 3)?;
                t.stats = opt_object(c, stats)?;
                None
            }
            "greeks" => {
                once(&mut seen, 4)?;
                t.greeks = opt_object(c, greeks)?;
                None
            }
            "last_price" => Some((5, &mut t.last_price)),
            "best_bid_price" => Some((6, &mut t.best_bid_price)),
            "best_bid_amount" => Some((7, &mut t.best_bid_amount)),
            "best_ask_price" => Some((8, &mut t.best_ask_price)),
            "best_ask_amount" => Some((9, &mut t.best_ask_amount)),
            "mark_price" => Some((10, &mut t.mark_price)),
            "index_price" => Some((11, &mut t.index_price)),
            "open_interest" => Some((12, &mut t.open_interest)),
            "current_funding" => Some((13, &mut t.current_funding)),
            "funding_8h" => Some((14, &mut t.funding_8h)),
            "underlying_price" => Some((15, &mut t.underlying_price)),
            "mark_iv" => Some((16, &mut t.mark_iv)),
            "bid_iv" => Some((17, &mut t.bid_iv)),
            "ask_iv" => Some((18, &mut t.ask_iv)),
            _ => {
                c.scalar()?;
                None
            }
        };
        if let Some((bit, slot)) = decimal {
            once(&mut seen, bit)?;
            *slot = opt_decimal(c)?;
        }
        if !c.more(b'}')? {
            break;
        }
    }
    // The two fields serde requires.
    (seen & 0b11 == 0b11).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deribit::wire::Frame;

    #[test]
    fn book_change() {
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":{"type":"change","timestamp":1622627435737,"prev_change_id":31479598064,"instrument_name":"BTC-PERPETUAL","change_id":31479598217,"bids":[["delete",36779.0,0.0],["new",36809.5,254870.0]],"asks":[["delete",37462.5,0.0],["change",37394.0,42670.0]]}}}"#;
        let Some(Data::Book(b)) = scan(f) else {
            panic!("book")
        };
        assert_eq!(
            (b.prev_change_id, b.change_id),
            (Some(31_479_598_064), 31_479_598_217)
        );
        assert_eq!(
            b.bids.0[0],
            Level::new(Decimal::new(367_790, 1), Decimal::ZERO)
        );
        assert_eq!(b.asks.0[1].size.to_string(), "42670.0");
        assert!(!b.is_snapshot());
    }

    #[test]
    fn trades_frame() {
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.BTC-PERPETUAL.100ms","data":[{"timestamp":1765531356452,"price":92294.5,"amount":10.0,"direction":"sell","index_price":92276.75,"instrument_name":"BTC-PERPETUAL","trade_seq":271252854,"mark_price":92287.11,"tick_direction":2,"contracts":1.0,"combo_trade_id":"43","trade_id":"403691824"}]}}"#;
        let Some(Data::Trades(t)) = scan(f) else {
            panic!("trades")
        };
        assert_eq!((t[0].trade_id, t[0].direction), ("403691824", "sell"));
        assert_eq!(t[0].price.to_string(), "92294.5");
    }

    /// Everything outside the narrow grammar is left to serde.
    #[test]
    fn declines() {
        let declined = [
            // Other channels, grouped books, heartbeats, responses.
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"quote.BTC-PERPETUAL","data":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.none.10.100ms","data":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":["book.BTC-PERPETUAL.100ms"]}"#,
            // data before channel, an escape, an unknown key, trailing bytes, a duplicate key.
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"data":{},"channel":"book.X.100ms"}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"instrument_name":"X\u0041","change_id":1,"bids":[],"asks":[]}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"surprise":1,"instrument_name":"X","change_id":1,"bids":[],"asks":[]}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"instrument_name":"X","change_id":1,"bids":[],"asks":[]}}} x"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"timestamp":2,"instrument_name":"X","change_id":1,"bids":[],"asks":[]}}}"#,
            // Malformed numbers and truncation.
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"instrument_name":"X","change_id":1,"bids":[["new",01.5,1.0]],"asks":[]}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"instrument_name":"X","change_id":1,"bids":[["new",1.,1.0]],"asks":[]}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"instrument_name":"X","change_id":1,"bids":[["move",1.5,1.0]],"asks":[]}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1,"instrument_name":"X","change_id":1,"bids":[],"asks":[]"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.X.100ms","data":{"timestamp":1.5,"instrument_name":"X","change_id":1,"bids":[],"asks":[]}}}"#,
            // Tickers: a quoted decimal, an unknown nested value, a repeated field, no
            // instrument.
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":{"timestamp":1,"instrument_name":"X","last_price":"1.5"}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":{"timestamp":1,"instrument_name":"X","surprise":{"a":1}}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":{"timestamp":1,"instrument_name":"X","mark_price":1.0,"mark_price":2.0}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":{"timestamp":1,"instrument_name":"X","stats":{"low":1.0,"low":2.0}}}}"#,
            r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":{"timestamp":1,"last_price":1.0}}}"#,
        ];
        for f in declined {
            assert!(scan(f).is_none(), "{f}");
        }
    }

    /// Nulls, skipped keys and empty objects read as serde reads them.
    #[test]
    fn ticker_nulls_and_skipped_keys() {
        let f = r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"ticker.X.100ms","data":{"state":"open","timestamp":1,"instrument_name":"X","last_price":null,"stats":null,"greeks":{"delta":null,"rho":-0.5,"extra":true},"underlying_index":null,"min_price":1e-3,"best_bid_price":0.0}}}"#;
        let via_serde = format!(
            "{:?}",
            serde_json::from_str::<Frame<'_>>(f)
                .expect("serde")
                .params
                .and_then(|p| p.data)
        );
        assert_eq!(format!("{:?}", scan(f)), via_serde);
        assert!(via_serde.contains("rho: Some(-0.5)"), "{via_serde}");
    }

    /// On every corpus book, trades and ticker line, the scanner and serde agree exactly.
    #[test]
    fn agrees_with_serde_on_the_corpus() {
        let mut scanned = 0;
        for file in ["book.jsonl", "trades.jsonl", "ticker.jsonl"] {
            for line in crate::testing::corpus_lines("deribit", file) {
                let frame: Frame<'_> = serde_json::from_str(&line).expect("serde");
                let via_serde = format!("{:?}", frame.params.and_then(|p| p.data));
                let Some(data) = scan(&line) else { continue };
                let via_scan = format!("{:?}", Some(data));
                assert_eq!(via_scan, via_serde, "{line}");
                scanned += 1;
            }
        }
        assert_eq!(
            scanned,
            111 + 7 + 195,
            "every book, trades and ticker line takes the fast path"
        );
    }
}
