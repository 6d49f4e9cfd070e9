//! `marketprism replay` on captures written by hand from docs/capture-format.md.

use marketprism_bins::cli::{ReplayArgs, replay};
use marketprism_core::model::{MarketEvent, StatusKind};

/// The example capture in docs/capture-format.md, extracted from the doc itself so the doc
/// cannot drift from what replay accepts.
fn documented_example() -> String {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/capture-format.md"
    ))
    .expect("docs/capture-format.md");
    let start = doc.find("```json\n").expect("json block") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("end of block");
    doc[start..end].to_owned()
}

fn run(capture: &str) -> (Vec<MarketEvent>, String, u64) {
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(file.path(), capture).expect("write");
    let args = ReplayArgs {
        file: file.path().to_owned(),
        depth: None,
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let errors = replay(&args, &mut out, &mut err).expect("replay");
    let events = String::from_utf8(out)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is a MarketEvent"))
        .collect();
    (events, String::from_utf8(err).expect("utf8"), errors)
}

#[test]
fn documented_capture_replays_into_a_synced_book() {
    let (events, stderr, errors) = run(&documented_example());
    assert_eq!(errors, 0, "{stderr}");
    let mut book = marketprism_core::book::OrderBook::new();
    let mut kinds = Vec::new();
    for e in &events {
        kinds.push(e.kind());
        match e {
            MarketEvent::BookSnapshot(s) => book.apply_snapshot(s),
            MarketEvent::BookDelta(d) => book.apply_delta(d).expect("deltas chain"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, ["book_snapshot", "book_delta", "book_delta"]);
    assert_eq!(book.sequence(), 103);
    assert_eq!(
        book.best_bid().map(|l| l.price.to_string()),
        Some("100.0".into())
    );
    assert!(book.best_ask().is_none(), "the only ask was removed");
    assert!(stderr.contains("3 events, 0 errors"), "{stderr}");
}

#[test]
fn gap_in_capture_yields_gap_and_resync_and_bad_lines_are_reported() {
    let mut capture = documented_example();
    // A diff that skips ids 104..=109, then a garbage line, then a frame for an unknown symbol.
    capture.push_str(r#"{"kind":"ws","ts":5,"venue":"binance-spot","conn":"c1","frame":"{\"stream\":\"btcusdt@depth@100ms\",\"data\":{\"e\":\"depthUpdate\",\"E\":3,\"s\":\"BTCUSDT\",\"U\":110,\"u\":111,\"b\":[[\"100.0\",\"5\"]],\"a\":[]}}"}"#);
    capture.push('\n');
    capture.push_str("this is not json\n");
    capture.push_str(r#"{"kind":"ws","ts":6,"venue":"binance-spot","conn":"c1","frame":"{\"e\":\"trade\",\"E\":1,\"s\":\"NOPEUSDT\",\"t\":1,\"p\":\"1\",\"q\":\"1\",\"T\":1,\"m\":true,\"M\":true}"}"#);
    capture.push('\n');
    let (events, stderr, errors) = run(&capture);
    assert_eq!(errors, 2, "{stderr}");
    assert!(stderr.contains("line 6:"), "{stderr}");
    assert!(
        stderr.contains("line 7:") && stderr.contains("NOPEUSDT"),
        "{stderr}"
    );
    let statuses: Vec<&StatusKind> = events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Status(s) => Some(&s.kind),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            statuses.as_slice(),
            [
                StatusKind::Gap {
                    expected: 104,
                    received: 110
                },
                StatusKind::BookResync { .. }
            ]
        ),
        "{statuses:?}"
    );
    // Nothing applied across the gap: the last book event is still the delta at 103.
    let last_book = events.iter().rev().find_map(|e| match e {
        MarketEvent::BookDelta(d) => Some(d.sequence),
        _ => None,
    });
    assert_eq!(last_book, Some(103));
}
