//! Corpus and behaviour tests for the Binance connector.

mod book_sync;
mod corpus;
mod values;
mod venues;

use std::collections::BTreeMap;

use marketprism_core::model::{MarketEvent, StatusKind};

use super::{BinanceCoinm, BinanceNormalizer, BinanceSpot, BinanceUsdm};
use crate::{Exchange, ExchangeError, FrameKind, InstrumentMap, Normalizer, Output};

pub(super) const SPOT_INFO: &str =
    include_str!("../../../tests/fixtures/binance/exchangeInfo_spot.json");
pub(super) const USDM_INFO: &str =
    include_str!("../../../tests/fixtures/binance/exchangeInfo_usdm.json");
pub(super) const COINM_INFO: &str =
    include_str!("../../../tests/fixtures/binance/exchangeInfo_coinm.json");

/// A local receive time used throughout (2026-01-01T00:00:00Z).
pub(super) const LOCAL: i64 = 1_767_225_600_000_000_000;

pub(super) fn map<V: Exchange + Default>(body: &str) -> InstrumentMap {
    V::default()
        .parse_instruments(body)
        .expect("fixture parses")
        .into_iter()
        .collect()
}

pub(super) fn spot() -> BinanceNormalizer {
    BinanceNormalizer::new(BinanceSpot::VENUE, map::<BinanceSpot>(SPOT_INFO), None)
}

pub(super) fn usdm() -> BinanceNormalizer {
    BinanceNormalizer::new(BinanceUsdm::VENUE, map::<BinanceUsdm>(USDM_INFO), None)
}

pub(super) fn coinm() -> BinanceNormalizer {
    BinanceNormalizer::new(BinanceCoinm::VENUE, map::<BinanceCoinm>(COINM_INFO), None)
}

/// Feeds one frame into a fresh output.
pub(super) fn feed(
    n: &mut BinanceNormalizer,
    frame: &str,
) -> (Result<FrameKind, ExchangeError>, Output) {
    let mut out = Output::new();
    let r = n.on_frame(frame, LOCAL, &mut out);
    (r, out)
}

/// Per-file tally: events by kind, frame kinds, errors by kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) events: BTreeMap<String, usize>,
    pub(super) frames: BTreeMap<String, usize>,
    pub(super) errors: BTreeMap<String, usize>,
    pub(super) actions: usize,
}

pub(super) fn event_name(e: &MarketEvent) -> String {
    match e {
        MarketEvent::Status(s) => format!("status:{}", s.kind.as_str()),
        other => other.kind().as_str().to_owned(),
    }
}

pub(super) fn tally(n: &mut BinanceNormalizer, lines: &[String]) -> Tally {
    let mut t = Tally::default();
    for line in lines {
        let (r, out) = feed(n, line);
        match r {
            Ok(k) => {
                let name = match k {
                    FrameKind::ExchangeError { .. } => "exchange_error".to_owned(),
                    other => format!("{other:?}").to_lowercase(),
                };
                *t.frames.entry(name).or_default() += 1;
            }
            Err(e) => {
                assert!(
                    out.events.is_empty() && out.actions.is_empty(),
                    "an error left output: {line}"
                );
                *t.errors.entry(e.kind().to_owned()).or_default() += 1;
            }
        }
        for e in &out.events {
            *t.events.entry(event_name(e)).or_default() += 1;
        }
        t.actions += out.actions.len();
    }
    t
}

pub(super) fn statuses(out: &Output) -> Vec<&StatusKind> {
    out.events
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Status(s) => Some(&s.kind),
            _ => None,
        })
        .collect()
}
