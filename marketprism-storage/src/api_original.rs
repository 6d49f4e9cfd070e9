//! The original system's request bodies on the storage write API (`docs/migration.md`).
//!
//! `POST /api/v1/storage/hot/trades` with the original's trade —
//! `{"timestamp": "2025-01-30T10:00:00Z", "symbol": "BTCUSDT", "exchange": "binance",
//! "price": 50000.0, "amount": 0.001, "side": "buy", "trade_id": "12345"}` — is recognized by
//! its `amount` or `timestamp` field and translated:
//!
//! | original | here |
//! |---|---|
//! | `amount` | `size` |
//! | `timestamp` (RFC 3339) | `exchange_ts` (ns since the epoch); `local_ts` = when received |
//! | `symbol` exchange-native (`BTCUSDT`) | the normalized symbol (`BTC-USDT`), by the same rules that name it in 400 answers |
//! | no `market` | inferred from the normalized symbol (`BTC-USDT` → spot, `-PERP` → perpetual, ...), as on every route |
//! | `market: "perpetual"` with a spot-shaped symbol (`BTCUSDT`) | `BTC-USDT-PERP`; any other mismatch is refused |
//! | `price`, `amount` as JSON numbers | decimals from the number's shortest text (`0.001` → `0.001`) |
//! | `trade_id` as a number | its text |
//!
//! What cannot be translated unambiguously (no recognizable symbol convention, a timestamp
//! that is not RFC 3339, a missing field) answers 400 with `new_form`: the body to send.

use serde_json::{Map, Value, json};

use crate::native;

/// A 400 answer: the field, why, and the new form of the request.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) field: &'static str,
    pub(crate) message: String,
    pub(crate) new_form: Value,
}

/// The model form of a trade, as shown in refusals.
pub(crate) fn trade_new_form() -> Value {
    json!({
        "exchange": "binance", "market": "spot", "symbol": "BTC-USDT", "trade_id": "12345",
        "side": "buy", "price": "50000.0", "size": "0.001",
        "exchange_ts": 1_738_231_200_000_000_000_i64, "local_ts": 1_738_231_200_001_000_000_i64
    })
}

/// What `POST /api/v1/storage/cold/archive` takes now, for refusals.
pub(crate) fn archive_new_form() -> Value {
    json!({
        "write_events_to_history": {"events": [
            {"type": "trade", "exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
             "trade_id": "12345", "side": "buy", "price": "50000.0", "size": "0.001",
             "exchange_ts": 1_738_231_200_000_000_000_i64, "local_ts": 1_738_231_200_001_000_000_i64}
        ]},
        "seal_a_day_of_history": {"route": "POST /api/v1/storage/lifecycle/archive", "body": {"days_ago": 1}},
        "drop_old_history": {"route": "POST /api/v1/storage/lifecycle/cleanup", "body": {"retention_days": 30}}
    })
}

/// The answer to a body of `POST /api/v1/storage/cold/archive` that is not events.
pub(crate) fn archive_refusal() -> Refusal {
    Refusal {
        field: "events",
        message: "this route writes events to the history store (`{\"events\": [...]}`); \
                  the original's \"archive hot data to cold\" has no equivalent here: the \
                  pipeline writes history as data arrives. To seal a day's history use \
                  POST /api/v1/storage/lifecycle/archive, to drop old history \
                  POST /api/v1/storage/lifecycle/cleanup"
            .to_owned(),
        new_form: archive_new_form(),
    }
}

/// Translates the original's trade bodies in one trade, an array, or `{"events": [...]}`;
/// returns the body and how many trades were translated.
pub(crate) fn original_trades(body: Value) -> Result<(Value, usize), Refusal> {
    let now = marketprism_core::model::now_ns();
    let mut translated = 0;
    let mut one = |v: Value| match v {
        Value::Object(o) if is_original_trade(&o) => {
            translated += 1;
            translate_trade(o, now).map(Value::Object)
        }
        other => Ok(other),
    };
    let body = match body {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(&mut one).collect::<Result<_, _>>()?)
        }
        Value::Object(mut o) if o.contains_key("events") => {
            if let Some(Value::Array(items)) = o.remove("events") {
                let items = items.into_iter().map(&mut one).collect::<Result<_, _>>()?;
                o.insert("events".into(), Value::Array(items));
            }
            Value::Object(o)
        }
        other => one(other)?,
    };
    Ok((body, translated))
}

/// Whether a trade object is in the original's shape (`amount`, or `timestamp` without
/// `exchange_ts`) rather than the model's.
pub(crate) fn is_original_trade(o: &Map<String, Value>) -> bool {
    !o.contains_key("size")
        && (o.contains_key("amount")
            || (o.contains_key("timestamp") && !o.contains_key("exchange_ts")))
}

fn refuse(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        message: message.into(),
        new_form: trade_new_form(),
    }
}

/// A JSON number or string as decimal text.
fn decimal_text(o: &Map<String, Value>, from: &str, field: &'static str) -> Result<Value, Refusal> {
    match o.get(from) {
        Some(Value::Number(n)) => Ok(Value::String(n.to_string())),
        Some(Value::String(s)) => Ok(Value::String(s.clone())),
        Some(other) => Err(refuse(
            field,
            format!("`{from}` must be a number, not {other}"),
        )),
        None => Err(refuse(field, format!("missing field `{from}`"))),
    }
}

/// Translates one original trade into the model's JSON (`type` added by the caller).
pub(crate) fn translate_trade(
    mut o: Map<String, Value>,
    now_ns: i64,
) -> Result<Map<String, Value>, Refusal> {
    let symbol = match o.get("symbol") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(refuse("symbol", "missing field `symbol`")),
    };
    let symbol = match native::refusal(&symbol) {
        None => symbol,
        Some(why) => match native::suggest(&symbol) {
            Some(n) if native::refusal(&n).is_none() => n,
            _ => return Err(refuse("symbol", why)),
        },
    };
    let exchange_ts = match o.get("timestamp") {
        Some(Value::String(t)) => rfc3339_ns(t).ok_or_else(|| {
            refuse(
                "timestamp",
                format!("`{t}` is not an RFC 3339 time (2025-01-30T10:00:00Z); or send `exchange_ts` in ns"),
            )
        })?,
        Some(other) => {
            return Err(refuse(
                "timestamp",
                format!("{other} is ambiguous (seconds? milliseconds?): send an RFC 3339 string or `exchange_ts` in ns"),
            ));
        }
        None => match o.get("exchange_ts") {
            Some(v) => v.as_i64().ok_or_else(|| refuse("exchange_ts", "must be ns since the epoch"))?,
            None => return Err(refuse("timestamp", "missing field `timestamp`")),
        },
    };
    let size = decimal_text(
        &o,
        if o.contains_key("amount") {
            "amount"
        } else {
            "size"
        },
        "size",
    )?;
    let price = decimal_text(&o, "price", "price")?;
    let trade_id = match o.get("trade_id") {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => return Err(refuse("trade_id", "missing field `trade_id`")),
    };
    for k in ["amount", "timestamp"] {
        o.remove(k);
    }
    o.insert("symbol".into(), Value::String(symbol));
    o.insert("size".into(), size);
    o.insert("price".into(), price);
    o.insert("trade_id".into(), trade_id);
    o.insert("exchange_ts".into(), exchange_ts.into());
    if !o.contains_key("local_ts") {
        o.insert("local_ts".into(), now_ns.into());
    }
    let ex = o
        .get("exchange")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(exchange) = ex.parse() else {
        return Err(refuse(
            "exchange",
            format!("`{ex}` is not an exchange name"),
        ));
    };
    let mut symbol = o
        .get("symbol")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let infer = |sym: &str| {
        serde_json::to_value(crate::query::InstrumentKey::infer(exchange, sym).market)
            .unwrap_or(Value::Null)
    };
    match o.get("market").cloned() {
        None => {
            o.insert("market".into(), infer(&symbol));
        }
        // `BTCUSDT` with `"market": "perpetual"` is Binance's USDⓈ-M perpetual.
        Some(m) if m == "perpetual" && infer(&symbol) == "spot" => {
            symbol.push_str("-PERP");
            o.insert("symbol".into(), Value::String(symbol));
        }
        Some(m) if m != infer(&symbol) => {
            return Err(refuse(
                "market",
                format!(
                    "symbol `{symbol}` is not of market {m}: give the normalized symbol of that market (-PERP, -YYYYMMDD, -YYYYMMDD-STRIKE-C|P)"
                ),
            ));
        }
        Some(_) => {}
    }
    Ok(o)
}

/// `2025-01-30T10:00:00Z`, `2025-01-30T10:00:00.123456+08:00` → ns since the epoch.
pub(crate) fn rfc3339_ns(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(t.get(0..4)?)?, num(t.get(5..7)?)?, num(t.get(8..10)?)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (
        num(t.get(11..13)?)?,
        num(t.get(14..16)?)?,
        num(t.get(17..19)?)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = t.get(19..)?;
    let mut frac_ns = 0i64;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let text = f.get(..digits.min(9))?;
        frac_ns = num(text)? * 10i64.pow(9 - u32::try_from(text.len()).ok()?);
        rest = f.get(digits..)?;
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (num(rest.get(1..3)?)? * 3600 + num(rest.get(4..6)?)? * 60)
        }
    };
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_ns("2025-01-30T10:00:00Z"),
            Some(1_738_231_200_000_000_000)
        );
        assert_eq!(
            rfc3339_ns("2025-01-30T18:00:00.5+08:00"),
            Some(1_738_231_200_500_000_000)
        );
        assert_eq!(
            rfc3339_ns("2024-02-29T00:00:00.000000001Z"),
            Some(1_709_164_800_000_000_001)
        );
        for bad in [
            "2025-01-30",
            "2025-13-01T00:00:00Z",
            "2025-01-30T10:00:00",
            "yesterday",
            "2025-01-30T10:00:00+0800",
        ] {
            assert_eq!(rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_seed_trade_translates() {
        let seed = json!({"timestamp": "2025-01-30T10:00:00Z", "symbol": "BTCUSDT", "exchange": "binance",
            "price": 50000.0, "amount": 0.001, "side": "buy", "trade_id": "12345"});
        let Value::Object(o) = seed else {
            unreachable!()
        };
        assert!(is_original_trade(&o));
        let t = translate_trade(o, 7).expect("translates");
        assert_eq!(t["symbol"], "BTC-USDT");
        assert_eq!(t["market"], "spot");
        assert_eq!(t["size"], "0.001");
        assert_eq!(t["price"], "50000.0");
        assert_eq!(t["exchange_ts"], 1_738_231_200_000_000_000_i64);
        assert_eq!(t["local_ts"], 7);
        assert!(!t.contains_key("amount") && !t.contains_key("timestamp"));
    }
}
