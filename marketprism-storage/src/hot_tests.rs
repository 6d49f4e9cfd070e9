use marketprism_core::model::{
    BookDelta, BookSnapshot, ExchangeId, Level, MarketEvent, MarketType, Symbol,
};

use super::{BookKeeper, replaces};

fn lv(p: &str, s: &str) -> Level {
    Level::new(p.parse().expect("decimal"), s.parse().expect("decimal"))
}

fn snap(sequence: u64, top_n: Option<u32>, bid: &str) -> MarketEvent {
    MarketEvent::BookSnapshot(BookSnapshot {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new("BTC-USDT"),
        sequence,
        bids: vec![lv(bid, "1"), lv("90", "1"), lv("80", "1")],
        asks: vec![lv("101", "1"), lv("110", "1"), lv("120", "1")],
        exchange_ts: sequence as i64,
        local_ts: sequence as i64,
        top_n,
    })
}

fn delta(prev: u64, sequence: u64, bid: &str) -> MarketEvent {
    MarketEvent::BookDelta(BookDelta {
        exchange: ExchangeId::BINANCE,
        market: MarketType::Spot,
        symbol: Symbol::new("BTC-USDT"),
        prev_sequence: prev,
        sequence,
        bids: vec![lv(bid, "2")],
        asks: vec![],
        exchange_ts: sequence as i64,
        local_ts: sequence as i64,
    })
}

#[test]
fn only_a_strictly_newer_sequence_replaces() {
    assert!(replaces(None, 0));
    assert!(replaces(Some(5), 6));
    assert!(!replaces(Some(5), 5));
    assert!(!replaces(Some(6), 5));
}

/// Two writers, images at 10 and 20: whichever order they arrive in, the stored image is
/// the one at 20.
#[test]
fn both_orders_of_arrival_converge_to_the_newest() {
    for order in [[10, 20], [20, 10]] {
        let mut stored: Option<u64> = None;
        for seq in order {
            if replaces(stored, seq) {
                stored = Some(seq);
            }
        }
        assert_eq!(stored, Some(20), "order {order:?}");
    }
}

#[test]
fn own_book_follows_snapshot_and_deltas_truncated_to_depth() {
    let keeper = BookKeeper::new(2);
    let out = keeper.apply(&[snap(10, None, "100"), delta(10, 11, "95")]);
    assert_eq!(out.len(), 1);
    let image = &out[0].1;
    assert_eq!(image.sequence, 11);
    assert_eq!(image.bids, vec![lv("100", "1"), lv("95", "2")]);
    assert_eq!(image.asks.len(), 2);
    assert_eq!(image.top_n, Some(2));
}

#[test]
fn a_gap_writes_nothing_and_does_not_clear() {
    let keeper = BookKeeper::new(5);
    keeper.apply(&[snap(10, None, "100")]);
    // Another consumer took 11: this one cannot continue. It offers no more than the book
    // up to the gap (already written: the store refuses an equal sequence), never a clear.
    let out = keeper.apply(&[delta(11, 12, "95")]);
    assert!(out.iter().all(|(_, s)| s.sequence == 10), "{out:?}");
    // Nor after, until the next whole snapshot.
    assert!(keeper.apply(&[delta(12, 13, "96")]).is_empty());
    let out = keeper.apply(&[snap(20, None, "100"), delta(20, 21, "97")]);
    assert_eq!(out[0].1.sequence, 21);
}

#[test]
fn a_snapshot_and_a_gap_in_one_batch_still_write_the_book_up_to_the_gap() {
    let keeper = BookKeeper::new(5);
    let out = keeper.apply(&[
        snap(10, None, "100"),
        delta(10, 11, "95"),
        delta(12, 13, "96"),
    ]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.sequence, 11);
    assert_eq!(out[0].1.bids[1], lv("95", "2"));
}

#[test]
fn images_pass_through_and_never_become_a_base() {
    let keeper = BookKeeper::new(2);
    let out = keeper.apply(&[snap(30, Some(3), "100")]);
    assert_eq!(out[0].1.sequence, 30);
    assert_eq!(out[0].1.bids.len(), 2, "truncated to the keeper's depth");
    assert_eq!(out[0].1.top_n, Some(2));
    // A delta after an image has no base here.
    assert!(keeper.apply(&[delta(30, 31, "95")]).is_empty());
}

#[test]
fn the_newest_of_own_book_and_image_wins_within_a_batch() {
    let keeper = BookKeeper::new(5);
    let out = keeper.apply(&[
        snap(10, None, "100"),
        snap(15, Some(5), "99"),
        delta(10, 11, "95"),
    ]);
    assert_eq!(
        out[0].1.sequence, 15,
        "the image is newer than the own book"
    );
    let out = keeper.apply(&[snap(12, Some(5), "99"), delta(11, 13, "94")]);
    assert_eq!(
        out[0].1.sequence, 13,
        "the own book is newer than the image"
    );
    let out = keeper.apply(&[snap(9, Some(5), "99"), snap(14, Some(5), "98")]);
    assert_eq!(out[0].1.sequence, 14, "the newest image of a batch");
}

#[test]
fn a_delta_ending_where_it_starts_is_applied() {
    // Binance futures' first diff after a snapshot may be U = u = lastUpdateId.
    let keeper = BookKeeper::new(5);
    let out = keeper.apply(&[snap(10, None, "100"), delta(10, 10, "100.5")]);
    assert_eq!(out[0].1.bids[0], lv("100.5", "2"));
    // Redelivered after the book moved on: ignored.
    keeper.apply(&[delta(10, 11, "100.6")]);
    assert!(keeper.apply(&[delta(10, 10, "100.5")]).is_empty());
}
