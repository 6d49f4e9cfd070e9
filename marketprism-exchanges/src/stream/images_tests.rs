use marketprism_core::model::{
    BookDelta, BookSnapshot, ExchangeId, Level, MarketEvent, MarketType, Status, StatusKind, Symbol,
};

use super::BookImages;

fn lv(p: &str, s: &str) -> Level {
    Level::new(p.parse().expect("decimal"), s.parse().expect("decimal"))
}

fn snap(sequence: u64) -> MarketEvent {
    MarketEvent::BookSnapshot(BookSnapshot {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new("BTC-USDT"),
        sequence,
        bids: vec![lv("100", "1"), lv("99", "1"), lv("98", "1")],
        asks: vec![lv("101", "1"), lv("102", "1"), lv("103", "1")],
        exchange_ts: 5,
        local_ts: 6,
        top_n: None,
    })
}

fn delta(prev: u64, sequence: u64, bid: &str) -> MarketEvent {
    MarketEvent::BookDelta(BookDelta {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new("BTC-USDT"),
        prev_sequence: prev,
        sequence,
        bids: vec![lv(bid, "7")],
        asks: vec![],
        exchange_ts: sequence as i64 * 10,
        local_ts: 0,
    })
}

fn images(t: &mut BookImages, now: i64) -> Vec<BookSnapshot> {
    t.take_images(now);
    std::iter::from_fn(|| t.next())
        .map(|e| match e {
            MarketEvent::BookSnapshot(s) => s,
            other => panic!("not an image: {other:?}"),
        })
        .collect()
}

#[test]
fn an_image_only_after_a_change_and_of_the_last_state() {
    let mut t = BookImages::new(2, None);
    t.observe(&snap(10));
    assert!(
        images(&mut t, 1).is_empty(),
        "the snapshot itself is the state"
    );
    t.observe(&delta(10, 11, "99.5"));
    t.observe(&delta(11, 12, "100.5"));
    let got = images(&mut t, 2);
    assert_eq!(got.len(), 1);
    let image = &got[0];
    assert_eq!(image.sequence, 12, "the book's last applied sequence");
    assert_eq!(image.exchange_ts, 120, "the last delta's exchange time");
    assert_eq!(image.local_ts, 2);
    assert_eq!(image.top_n, Some(2));
    assert_eq!(image.bids, vec![lv("100.5", "7"), lv("100", "1")]);
    assert_eq!(image.asks, vec![lv("101", "1"), lv("102", "1")]);
    assert!(images(&mut t, 3).is_empty(), "no change since");
    // A repeated delta changes nothing.
    t.observe(&delta(11, 12, "100.5"));
    assert!(images(&mut t, 4).is_empty());
}

#[test]
fn no_image_across_a_gap_or_resync_until_the_next_snapshot() {
    let mut t = BookImages::new(5, None);
    t.observe(&snap(10));
    t.observe(&delta(11, 12, "99.5"));
    assert!(images(&mut t, 1).is_empty(), "a delta that does not follow");
    t.observe(&snap(20));
    t.observe(&delta(20, 21, "99.5"));
    t.observe(&MarketEvent::Status(Status::new(
        ExchangeId::BINANCE,
        MarketType::Spot,
        Some(Symbol::new("BTC-USDT")),
        0,
        StatusKind::BookResync {
            reason: "test".into(),
        },
    )));
    assert!(images(&mut t, 2).is_empty(), "resync forgets the book");
    t.observe(&snap(30));
    t.observe(&delta(30, 31, "99.5"));
    assert_eq!(images(&mut t, 3)[0].sequence, 31);
}

#[test]
fn images_are_not_followed() {
    let mut t = BookImages::new(5, None);
    let mut image = snap(40);
    if let MarketEvent::BookSnapshot(s) = &mut image {
        s.top_n = Some(5);
    }
    t.observe(&image);
    t.observe(&delta(40, 41, "99.5"));
    assert!(images(&mut t, 1).is_empty());
}

#[test]
fn a_delta_ending_where_it_starts_is_applied() {
    // Binance futures: the snapshot's lastUpdateId is the first diff's U, and that diff may
    // hold a single update (U = u): prev_sequence = sequence = the book's sequence.
    let mut t = BookImages::new(5, None);
    t.observe(&snap(10));
    t.observe(&delta(10, 10, "100.5"));
    let got = images(&mut t, 1);
    assert_eq!(got[0].bids[0], lv("100.5", "7"));
}
