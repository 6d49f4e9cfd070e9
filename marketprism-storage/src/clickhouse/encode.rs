//! The event → row conversion every insert does: shared by [`ClickHouseStore::insert_events`]
//! and, through [`convert_rows`], the `rows` benchmark, so the benchmark measures the real code.
//!
//! [`ClickHouseStore::insert_events`]: super::ClickHouseStore::insert_events

use marketprism_core::model::MarketEvent;

use super::{rows::EventRow, with_row};
use crate::{EventKind, Result};

/// `batch` split by kind in one pass: each kind present with its events, in order of first
/// appearance, leaving out events kept only in the hot store (top-N book images), so no
/// insert is empty. Every other kind is kept, so none is skipped: a kind without a table
/// fails the insert in `with_row!`.
pub(super) fn by_kind(batch: &[MarketEvent]) -> Vec<(EventKind, Vec<&MarketEvent>)> {
    // Tag → position in `groups` (+1; 0 = not seen yet).
    let mut slot = [0_usize; 256];
    let mut groups: Vec<(EventKind, Vec<&MarketEvent>)> = Vec::new();
    for e in batch.iter().filter(|e| !crate::query::is_hot_only(e)) {
        let kind = e.kind();
        let tag = usize::from(kind.tag());
        if slot[tag] == 0 {
            groups.push((kind, Vec::with_capacity(batch.len())));
            slot[tag] = groups.len();
        }
        groups[slot[tag] - 1].1.push(e);
    }
    groups
}

/// `events` (all of `R`'s kind) as rows (decimals scaled to `Decimal(38, 18)` integers); a
/// value the schema cannot hold is a permanent error.
pub(super) fn rows_of<R: EventRow>(events: &[&MarketEvent]) -> Result<Vec<R>> {
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        if let Some(row) = R::from_event(e)? {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Converts `batch` into ClickHouse rows exactly as [`ClickHouseStore::insert_events`]
/// does before sending and returns the row count. A benchmark hook: not part of the stable
/// API.
///
/// [`ClickHouseStore::insert_events`]: super::ClickHouseStore::insert_events
#[doc(hidden)]
pub fn convert_rows(batch: &[MarketEvent]) -> Result<usize> {
    let mut rows = 0;
    for (kind, events) in by_kind(batch) {
        with_row!(kind, R => rows += std::hint::black_box(rows_of::<R>(&events)?).len());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use marketprism_core::model::{BookSnapshot, ExchangeId, Level, MarketType, Symbol};

    use super::*;

    #[test]
    fn top_n_images_make_no_rows() {
        let snap = |top_n| {
            MarketEvent::BookSnapshot(BookSnapshot {
                exchange: ExchangeId::BINANCE,
                market: MarketType::Spot,
                symbol: Symbol::new("BTC-USDT"),
                sequence: 7,
                bids: vec![Level::new(1.into(), 2.into())],
                asks: vec![],
                exchange_ts: 1,
                local_ts: 2,
                top_n,
            })
        };
        assert_eq!(convert_rows(&[snap(None), snap(Some(20))]).ok(), Some(1));
        assert_eq!(convert_rows(&[snap(Some(20))]).ok(), Some(0));
        assert_eq!(by_kind(&[snap(Some(20))]).len(), 0, "no empty insert");
    }
}
