//! What the write API checks in an event beyond its shape: a symbol that is one subject token
//! (it becomes a NATS token, a Redis key part and a ClickHouse value) and prices and sizes
//! that can be real.

use marketprism_core::{Decimal, model::MarketEvent};

use crate::StorageError;

/// Longest symbol accepted (options are the longest: `BTC-USD-20261225-100000-C`).
pub(crate) const MAX_SYMBOL_LEN: usize = 64;

/// Refuses an event whose symbol is not a plain subject token or whose prices or sizes are
/// negative (a trade's or liquidation's price and size must be positive; a book level's size
/// may be 0, which deletes the level).
pub(crate) fn check_event(event: &MarketEvent) -> Result<(), StorageError> {
    if let Some(symbol) = event.symbol() {
        check_symbol(symbol.as_str())?;
    }
    let positive = |field: &'static str, v: &Decimal| {
        if v.is_sign_positive() && !v.is_zero() {
            Ok(())
        } else {
            Err(invalid(field, format!("{v} must be positive")))
        }
    };
    let not_negative = |field: &'static str, v: &Decimal| {
        if v.is_sign_negative() && !v.is_zero() {
            Err(invalid(field, format!("{v} must not be negative")))
        } else {
            Ok(())
        }
    };
    let levels = |bids: &[marketprism_core::model::Level],
                  asks: &[marketprism_core::model::Level]| {
        for (side, levels) in [("bids", bids), ("asks", asks)] {
            for l in levels {
                positive(side, &l.price)?;
                not_negative(side, &l.size)?;
            }
        }
        Ok::<(), StorageError>(())
    };
    match event {
        MarketEvent::Trade(t) => {
            // The trade id is the trade's identity: an empty one would make every such trade
            // of the instrument one row.
            if t.trade_id.is_empty() {
                return Err(invalid("trade_id", "must not be empty".to_owned()));
            }
            positive("price", &t.price)?;
            positive("size", &t.size)
        }
        MarketEvent::Liquidation(l) => {
            positive("price", &l.price)?;
            positive("size", &l.size)
        }
        MarketEvent::BookSnapshot(b) => levels(&b.bids, &b.asks),
        MarketEvent::BookDelta(b) => levels(&b.bids, &b.asks),
        MarketEvent::Bbo(b) => {
            for (field, v) in [
                ("bid_price", &b.bid_price),
                ("bid_size", &b.bid_size),
                ("ask_price", &b.ask_price),
                ("ask_size", &b.ask_size),
            ] {
                not_negative(field, v)?;
            }
            Ok(())
        }
        MarketEvent::Ticker(t) => {
            not_negative("last_price", &t.last_price)?;
            for (field, v) in [
                ("open_24h", &t.open_24h),
                ("high_24h", &t.high_24h),
                ("low_24h", &t.low_24h),
                ("volume_24h", &t.volume_24h),
                ("quote_volume_24h", &t.quote_volume_24h),
                ("best_bid", &t.best_bid),
                ("best_ask", &t.best_ask),
            ] {
                if let Some(v) = v {
                    not_negative(field, v)?;
                }
            }
            Ok(())
        }
        // Rates, ratios and index values may be negative; other kinds carry no such field.
        _ => Ok(()),
    }
}

/// Refuses JSON numbers with a fraction or an exponent anywhere in an event body: they are
/// binary floats, and a price of `1e-300` or `0.1` would be stored as what the float happened to
/// be (found by schemathesis: a size of `7e-266` became 0). Integers are exact and accepted;
/// decimals are sent as strings (`"0.1"`), as every event this platform emits has them.
pub(crate) fn check_no_floats(body: &serde_json::Value) -> Result<(), StorageError> {
    fn walk(v: &serde_json::Value, field: &'static str) -> Result<(), StorageError> {
        match v {
            serde_json::Value::Number(n) if !(n.is_i64() || n.is_u64()) => Err(invalid(
                field,
                format!(
                    "{n} is a binary floating-point number; send decimals as strings, e.g. \"0.1\""
                ),
            )),
            serde_json::Value::Array(items) => items.iter().try_for_each(|i| walk(i, field)),
            // Only the model's decimal fields: unknown fields are ignored by the parser.
            serde_json::Value::Object(o) if field == "body" => {
                o.iter().try_for_each(|(k, v)| match field_name(k) {
                    "body" => Ok(()),
                    name => walk(v, name),
                })
            }
            // A book level: its price and size (other keys are ignored by the parser).
            serde_json::Value::Object(o) => ["price", "size"]
                .iter()
                .filter_map(|k| o.get(*k))
                .try_for_each(|v| walk(v, field)),
            _ => Ok(()),
        }
    }
    walk(body, "body")
}

/// The static name of a top-level event field, for the 400's `field` (others: `body`).
fn field_name(key: &str) -> &'static str {
    // Every decimal field of the model's events, and the book sides holding decimal levels.
    const FIELDS: [&str; 41] = [
        "price",
        "size",
        "bids",
        "asks",
        "ask_iv",
        "ask_price",
        "ask_size",
        "best_ask",
        "best_bid",
        "bid_iv",
        "bid_price",
        "bid_size",
        "close",
        "delta",
        "gamma",
        "high",
        "high_24h",
        "index_price",
        "last_price",
        "long_share",
        "low",
        "low_24h",
        "mark_iv",
        "mark_price",
        "next_rate",
        "open",
        "open_24h",
        "open_interest",
        "open_interest_value",
        "quote_volume",
        "quote_volume_24h",
        "rate",
        "ratio",
        "rho",
        "short_share",
        "theta",
        "underlying_price",
        "value",
        "vega",
        "volume",
        "volume_24h",
    ];
    FIELDS.into_iter().find(|f| *f == key).unwrap_or("body")
}

/// A symbol usable as one NATS subject token and key part.
pub(crate) fn check_symbol(symbol: &str) -> Result<(), StorageError> {
    let bad = symbol.is_empty()
        || symbol.len() > MAX_SYMBOL_LEN
        || symbol
            .chars()
            .any(|c| !marketprism_core::subject::token_safe(c));
    if bad {
        return Err(invalid(
            "symbol",
            format!(
                "`{}` is not a symbol (1..={MAX_SYMBOL_LEN} characters, no `.`, `*`, `>`, spaces or control characters)",
                symbol.escape_debug()
            ),
        ));
    }
    Ok(())
}

fn invalid(field: &'static str, message: String) -> StorageError {
    StorageError::InvalidInput { field, message }
}
