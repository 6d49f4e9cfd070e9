//! The event → row conversion every insert does: shared by [`ClickHouseStore::insert_events`]
//! and, through [`convert_rows`], the `rows` benchmark, so the benchmark measures the real code.
//!
//! [`ClickHouseStore::insert_events`]: super::ClickHouseStore::insert_events

use marketprism_core::model::MarketEvent;

use super::{rows::EventRow, with_row};
use crate::{EventKind, Result};

/// The kinds present in `batch`, in [`EventKind::ALL`] (tag) order. `ALL` lists every kind,
/// so none is skipped: a kind without a table fails the insert in `with_row!`.
pub(super) fn kinds_present(batch: &[MarketEvent]) -> impl Iterator<Item = EventKind> {
    let mut present = [false; 256];
    for e in batch.iter().filter(|e| !crate::query::is_hot_only(e)) {
        present[usize::from(e.kind().tag())] = true;
    }
    EventKind::ALL
        .into_iter()
        .filter(move |k| present[usize::from(k.tag())])
}

/// `batch`'s events of `R`'s kind as rows (decimals scaled to `Decimal(38, 18)` integers);
/// a value the schema cannot hold is a permanent error.
pub(super) fn rows_of<R: EventRow>(batch: &[MarketEvent]) -> Result<Vec<R>> {
    let mut rows = Vec::new();
    for e in batch.iter().filter(|e| !crate::query::is_hot_only(e)) {
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
    for kind in kinds_present(batch) {
        with_row!(kind, R => rows += std::hint::black_box(rows_of::<R>(batch)?).len());
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
        assert_eq!(
            kinds_present(&[snap(Some(20))]).count(),
            0,
            "no empty insert"
        );
    }
}
