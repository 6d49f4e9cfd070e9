//! The event → row conversion every insert does, exposed for the `rows` benchmark only.

use marketprism_core::model::MarketEvent;

use super::with_row;
use crate::{EventKind, Result};

/// Converts `batch` into ClickHouse rows exactly as [`ClickHouseStore::insert_events`]
/// does before sending (one pass over the batch per kind present; decimals scaled to
/// `Decimal(38, 18)` integers, refusing what does not fit) and returns the row count.
/// A benchmark hook: not part of the stable API.
///
/// [`ClickHouseStore::insert_events`]: super::ClickHouseStore::insert_events
#[doc(hidden)]
pub fn convert_rows(batch: &[MarketEvent]) -> Result<usize> {
    let mut present = [false; 14];
    for e in batch {
        present[EventKind::of(e) as usize] = true;
    }
    let mut rows = 0;
    for kind in EventKind::ALL {
        if present[kind as usize] {
            with_row!(kind, R => {
                for e in batch {
                    if let Some(row) = R::from_event(e)? {
                        std::hint::black_box(&row);
                        rows += 1;
                    }
                }
            });
        }
    }
    Ok(rows)
}
