//! Golden JSON round trips: every event type deserializes from its golden file and serializes
//! back to exactly the same JSON (same keys, same decimal text, same integers).

use std::path::Path;

use marketprism_core::{
    model::{MarketEvent, RatioKind, Side, StatusKind},
    subject::subject_of,
};

fn golden(name: &str) -> (String, MarketEvent) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("golden file");
    let event: MarketEvent = serde_json::from_str(&text).expect("golden JSON parses");
    (text, event)
}

fn round_trip(name: &str) -> MarketEvent {
    let (text, event) = golden(name);
    let back = serde_json::to_string(&event).expect("serialize");
    let a: serde_json::Value = serde_json::from_str(&text).expect("json");
    let b: serde_json::Value = serde_json::from_str(&back).expect("json");
    assert_eq!(a, b, "{name}: round trip differs");
    // Decimal text must survive exactly, trailing zeros included.
    assert_eq!(text.trim(), back, "{name}: byte-for-byte round trip");
    event
}

#[test]
fn every_golden_file_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut kinds = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("golden dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf8");
        kinds.insert(round_trip(&name).kind());
    }
    // All 14 event types are covered.
    assert_eq!(kinds.len(), 14, "{kinds:?}");
}

#[test]
fn trade_fields() {
    let MarketEvent::Trade(t) = round_trip("trade.json") else {
        panic!("not a trade")
    };
    assert_eq!(t.price.to_string(), "61234.56000000");
    assert_eq!(t.size.to_string(), "0.00150000");
    assert_eq!(t.side, Side::Sell);
    assert_eq!(t.trade_id, "3302119734");
    assert_eq!(t.exchange_ts, 1_715_000_000_123_000_000);
}

#[test]
fn book_sequence_beyond_u32() {
    let MarketEvent::BookSnapshot(b) = round_trip("book_snapshot.json") else {
        panic!()
    };
    assert_eq!(b.sequence, 33_933_317_943);
    assert_eq!(b.bids.len(), 2);
    assert_eq!(b.asks[0].size.to_string(), "3.5");
}

#[test]
fn subjects_of_golden_events() {
    let cases = [
        ("trade.json", "trade.binance.spot.BTC-USDT"),
        ("book_snapshot.json", "book.binance.perpetual.BTC-USDT-PERP"),
        ("book_delta.json", "book.okx.spot.BTC-USDT"),
        (
            "funding_rate.json",
            "funding.binance.perpetual.BTC-USDT-PERP",
        ),
        ("mark_price.json", "mark_price.deribit.index.BTC-USD"),
        (
            "option_summary.json",
            "option_summary.deribit.option.BTC-USD-20261225-60000-C",
        ),
        ("status_disconnected.json", "status.binance.spot._all"),
        ("status_gap.json", "status.okx.perpetual.BTC-USDT-PERP"),
    ];
    for (file, subject) in cases {
        assert_eq!(subject_of(&golden(file).1), subject, "{file}");
    }
}

#[test]
fn status_and_ratio_details() {
    let MarketEvent::Status(s) = round_trip("status_gap.json") else {
        panic!()
    };
    assert_eq!(
        s.kind,
        StatusKind::Gap {
            expected: 15,
            received: 18
        }
    );
    assert!(s.kind.is_discontinuity());
    let MarketEvent::LongShortRatio(r) = round_trip("long_short_ratio.json") else {
        panic!()
    };
    assert_eq!(r.kind, RatioKind::TopTraderPositions);
}

#[test]
fn unknown_type_and_float_prices_are_rejected() {
    let bad_type = r#"{"type":"nope","exchange":"okx"}"#;
    assert!(serde_json::from_str::<MarketEvent>(bad_type).is_err());
    let bad_price = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/trade.json"),
    )
    .expect("golden")
    .replace("\"61234.56000000\"", "\"61,234.56\"");
    assert!(serde_json::from_str::<MarketEvent>(&bad_price).is_err());
}
