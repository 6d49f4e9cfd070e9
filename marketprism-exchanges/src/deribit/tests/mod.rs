//! Corpus and behaviour tests. The corpus is read in place
//! (`crate::testing::corpus_lines("deribit", ..)`); instruments come from the corpus
//! `rest_get_instruments.jsonl` plus our fixture of the instruments that had expired by then.

mod book;
mod corpus;
mod rest;

use marketprism_core::model::{MarketEvent, StatusKind};
use rust_decimal::Decimal;

use super::{DeribitNormalizer, parse_instruments};
use crate::{ExchangeError, FrameKind, InstrumentMap, Normalizer, Output, testing::corpus_lines};

/// Instruments in the corpus files that had expired when the instruments list was captured.
const EXPIRED_FIXTURE: &str =
    include_str!("../../../tests/fixtures/deribit/get_instruments_expired.json");

/// Receive time used for every frame in these tests.
pub(super) const LOCAL_TS: i64 = 1_700_000_000_000_000_000;

/// Every instrument of the corpus capture and of the fixture.
pub(super) fn instruments() -> InstrumentMap {
    let mut map = InstrumentMap::new();
    for line in corpus_lines("deribit", "rest_get_instruments.jsonl") {
        map.extend(parse_instruments(&line).expect("corpus instruments"));
    }
    map.extend(parse_instruments(EXPIRED_FIXTURE).expect("fixture instruments"));
    map
}

pub(super) fn normalizer() -> DeribitNormalizer {
    DeribitNormalizer::new(instruments(), None)
}

/// Exact decimal from text.
pub(super) fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// The outcome of one frame: its kind or error, and what it produced.
pub(super) struct Step {
    pub(super) result: Result<FrameKind, ExchangeError>,
    pub(super) events: Vec<MarketEvent>,
    pub(super) actions: Vec<crate::Action>,
}

/// Feeds `frames` in order to one normalizer.
pub(super) fn feed<'a>(
    n: &mut DeribitNormalizer,
    frames: impl IntoIterator<Item = &'a str>,
) -> Vec<Step> {
    let mut out = Output::new();
    frames
        .into_iter()
        .map(|frame| {
            let result = n.on_frame(frame, LOCAL_TS, &mut out);
            let step = Step {
                result,
                events: std::mem::take(&mut out.events),
                actions: std::mem::take(&mut out.actions),
            };
            out.clear();
            step
        })
        .collect()
}

/// Feeds a whole corpus file to a fresh normalizer.
pub(super) fn feed_file(file: &str) -> Vec<Step> {
    let lines = corpus_lines("deribit", file);
    feed(&mut normalizer(), lines.iter().map(String::as_str))
}

/// Per-file tally: data frames, control frames (acks, heartbeats, errors, other control),
/// rejected frames.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) data: usize,
    pub(super) control: usize,
    pub(super) rejected: usize,
}

pub(super) fn tally(steps: &[Step]) -> Tally {
    let mut t = Tally::default();
    for s in steps {
        match &s.result {
            Ok(FrameKind::Data) => t.data += 1,
            Ok(_) => t.control += 1,
            Err(_) => t.rejected += 1,
        }
    }
    t
}

/// Counts events of one kind (`MarketEvent::kind`) over all steps.
pub(super) fn count(steps: &[Step], kind: &str) -> usize {
    steps
        .iter()
        .flat_map(|s| &s.events)
        .filter(|e| e.kind() == kind)
        .count()
}

/// Counts status events of one status kind over all steps.
pub(super) fn count_status(steps: &[Step], status: &str) -> usize {
    steps
        .iter()
        .flat_map(|s| &s.events)
        .filter(|e| matches!(e, MarketEvent::Status(st) if st.kind.as_str() == status))
        .count()
}

/// Helper for assertions on a `Gap`.
pub(super) fn gap_of(e: &MarketEvent) -> Option<(u64, u64)> {
    match e {
        MarketEvent::Status(s) => match s.kind {
            StatusKind::Gap { expected, received } => Some((expected, received)),
            _ => None,
        },
        _ => None,
    }
}
