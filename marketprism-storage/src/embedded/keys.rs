//! Byte layouts of the embedded tables' keys and values.

use marketprism_core::model::{MarketEvent, TimestampNs};

use crate::{EventKind, Result, StorageError, query::InstrumentKey};

/// `i64` → 8 bytes whose byte order is the number order.
pub(crate) fn ts_bytes(ts: TimestampNs) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// The `events` key prefix for a kind, exchange and symbol (market follows).
pub(crate) fn series_prefix(kind: EventKind, exchange: &str, symbol: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + exchange.len() + symbol.len() + 2);
    k.push(kind.tag());
    k.extend_from_slice(exchange.as_bytes());
    k.push(0);
    k.extend_from_slice(symbol.as_bytes());
    k.push(0);
    k
}

/// The `events` key prefix of one instrument's series.
pub(crate) fn instrument_prefix(kind: EventKind, key: &InstrumentKey) -> Vec<u8> {
    let mut k = series_prefix(kind, key.exchange.as_str(), key.symbol.as_str());
    k.extend_from_slice(key.market.as_str().as_bytes());
    k.push(0);
    k
}

/// The `events` key of `event`.
pub(crate) fn event_key(event: &MarketEvent) -> Vec<u8> {
    let kind = EventKind::of(event);
    let symbol = event.symbol().map_or("", |s| s.as_str());
    let mut k = series_prefix(kind, event.exchange().as_str(), symbol);
    k.extend_from_slice(event.market().as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(&ts_bytes(event.exchange_ts()));
    k.extend_from_slice(crate::identity::event_id(event).as_bytes());
    k
}

/// The `latest` key of `kind` for `key`.
pub(crate) fn latest_key(kind: EventKind, key: &InstrumentKey) -> Vec<u8> {
    let mut k = vec![kind.tag()];
    k.extend_from_slice(instrument_id(key).as_bytes());
    k
}

/// `exchange 0 market 0 symbol`.
pub(crate) fn instrument_id(key: &InstrumentKey) -> String {
    format!("{}\0{}\0{}", key.exchange, key.market, key.symbol)
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

/// `ts` + JSON.
pub(crate) fn encode_value(event: &MarketEvent) -> Result<Vec<u8>> {
    let mut v = event.exchange_ts().to_be_bytes().to_vec();
    serde_json::to_writer(&mut v, event)?;
    Ok(v)
}

/// The `exchange_ts` of a stored value.
pub(crate) fn value_ts(value: &[u8]) -> Result<TimestampNs> {
    let bytes: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("value shorter than 8 bytes".into()))?;
    Ok(i64::from_be_bytes(bytes))
}

/// The event of a stored value.
pub(crate) fn decode_value(value: &[u8]) -> Result<MarketEvent> {
    serde_json::from_slice(value.get(8..).unwrap_or_default()).map_err(|e| corrupt(e.to_string()))
}

fn corrupt(message: String) -> StorageError {
    StorageError::Corrupt {
        what: "embedded value",
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_order_is_byte_order() {
        let ts = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000_000_000, i64::MAX];
        for w in ts.windows(2) {
            assert!(ts_bytes(w[0]) < ts_bytes(w[1]));
        }
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), b"ac".to_vec());
        assert_eq!(prefix_end(&[1, 255]), vec![2]);
    }
}
