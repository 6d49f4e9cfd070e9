//! The ClickHouse `Decimal(38, 18)` encoders (`clickhouse::decimal`) and the event → row
//! conversion every insert does (`clickhouse::encode::convert_rows`). The first byte picks
//! the mode: a decimal from raw parts, decimal text, a raw column value, or event JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketprism_core::model::MarketEvent;
use marketprism_storage::clickhouse::{
    decimal::{from_i128, to_i128},
    encode::convert_rows,
};
use rust_decimal::Decimal;

fn round_trip(d: &Decimal) {
    if let Ok(raw) = to_i128(d) {
        let back = from_i128(raw).unwrap_or_else(|e| panic!("{d}: {raw} does not decode: {e}"));
        assert_eq!(back, *d, "{d} -> {raw} -> {back}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 if rest.len() >= 13 => {
            let word =
                |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
            let flags = rest[12];
            let d = Decimal::from_parts(
                word(0),
                word(4),
                word(8),
                flags & 0x80 != 0,
                u32::from(flags & 0x7f) % 29,
            );
            round_trip(&d);
        }
        1 => {
            if let Some(d) = std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse::<Decimal>().ok())
            {
                round_trip(&d);
            }
        }
        2 if rest.len() >= 16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(&rest[..16]);
            let raw = i128::from_le_bytes(b);
            if let Ok(d) = from_i128(raw) {
                assert_eq!(to_i128(&d).ok(), Some(raw), "{raw} -> {d}");
            }
        }
        _ => {
            if let Ok(events) = serde_json::from_slice::<Vec<MarketEvent>>(rest) {
                let _ = convert_rows(&events);
            }
        }
    }
});
