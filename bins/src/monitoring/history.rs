//! The last hour per channel, for the status page's charts (`GET /api/v1/history`).
//!
//! Fed by every scrape of the collector (service `market-data-collector`) from the metrics the
//! freshness rules read too:
//!
//! - per exchange, market and event type: `marketprism_collector_last_event_timestamp_seconds`
//!   (freshness: the age of the newest event when the minute ends) and
//!   `marketprism_collector_events_total` (events in the minute);
//! - per exchange and market: `marketprism_collector_gaps_total` and
//!   `marketprism_collector_resyncs_total`, which count the collector's `Gap` and `BookResync`
//!   status events. They are recorded on the market's `status` series, the event type those
//!   status events have.
//!
//! Counter increases are taken between two scrapes of the same instance; an instance's first
//! scrape only sets the baseline (what it counted before monitoring saw it is not put into the
//! current minute), a counter that appears on a known instance counts in full, a counter that
//! went down (a restart) counts from zero. Several collector instances add up; the freshest
//! of them gives the age.
//!
//! Memory is bounded whatever the scraped services send: [`BUCKETS`] one-minute buckets per
//! series, at most [`MAX_SERIES`] series (samples that would create one more are dropped and
//! counted in `overflow`), label values of at most [`MAX_LABEL`] characters from
//! `[A-Za-z0-9_.-]` (others are dropped and counted in `rejected`), and a series with no
//! observation for an hour is forgotten.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::{RulesConfig, Sample};

/// Length of one bucket (ms).
pub const BUCKET_MS: i64 = 60_000;
/// Buckets kept per series (one hour).
pub const BUCKETS: usize = 60;
/// Most series kept (exchange × market × type).
pub const MAX_SERIES: usize = 256;
/// Longest label value accepted.
pub const MAX_LABEL: usize = 64;

/// The service whose metrics feed the history.
pub(super) const COLLECTOR_SERVICE: &str = "market-data-collector";

const LAST_EVENT: &str = "marketprism_collector_last_event_timestamp_seconds";
const EVENTS: &str = "marketprism_collector_events_total";
const GAPS: &str = "marketprism_collector_gaps_total";
const RESYNCS: &str = "marketprism_collector_resyncs_total";

/// `(exchange, market, type)`.
type SeriesKey = (String, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Counter {
    Events,
    Gaps,
    Resyncs,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Minute number since the epoch.
    minute: i64,
    age_secs: Option<f64>,
    events: u64,
    gaps: u64,
    resyncs: u64,
}

#[derive(Debug, Default)]
struct Series {
    /// Oldest first, at most [`BUCKETS`], minutes strictly increasing.
    buckets: VecDeque<Bucket>,
}

impl Series {
    fn bucket(&mut self, minute: i64) -> &mut Bucket {
        if self.buckets.back().is_none_or(|b| b.minute < minute) {
            self.buckets.push_back(Bucket {
                minute,
                ..Bucket::default()
            });
            while self.buckets.len() > BUCKETS {
                self.buckets.pop_front();
            }
        }
        let at = self
            .buckets
            .iter()
            .rposition(|b| b.minute <= minute)
            .unwrap_or(0);
        &mut self.buckets[at]
    }
}

/// The bounded history (see the [module](self) docs).
#[derive(Debug, Default)]
pub(super) struct History {
    series: BTreeMap<SeriesKey, Series>,
    /// Counter values at the previous scrape, by instance, counter and series.
    previous: HashMap<(String, Counter, SeriesKey), f64>,
    /// Instances scraped last time.
    instances: HashSet<String>,
    overflow: u64,
    rejected: u64,
}

/// The `/api/v1/history` body.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// Bucket length (s).
    pub bucket_secs: i64,
    /// Buckets per series.
    pub buckets: usize,
    /// Start of the first (oldest) bucket (ms since the epoch); bucket `i` starts at
    /// `start_ms + i * bucket_secs * 1000`, the last one is the current minute.
    pub start_ms: i64,
    /// Most series kept.
    pub max_series: usize,
    /// Samples dropped because [`MAX_SERIES`] series exist.
    pub overflow: u64,
    /// Samples dropped for a label value that is too long or has other characters.
    pub rejected: u64,
    /// One per exchange, market and event type, sorted.
    pub series: Vec<SeriesView>,
}

/// One channel's hour; every array has [`BUCKETS`] entries, oldest first, `null` where the
/// minute had no scrape of it.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesView {
    /// Exchange.
    pub exchange: String,
    /// Market.
    pub market: String,
    /// Event type (`trade`, `book_delta`, ..., `status`).
    pub kind: String,
    /// The `data_stale` threshold for this type (s), `null` when it is not judged.
    pub freshness_limit_secs: Option<f64>,
    /// Seconds since the newest event, at the last scrape in the minute.
    pub age_secs: Vec<Option<f64>>,
    /// Events in the minute.
    pub events: Vec<Option<u64>>,
    /// Sequence gaps in the minute (`status` series only; 0 elsewhere).
    pub gaps: Vec<Option<u64>>,
    /// Book resyncs in the minute (`status` series only; 0 elsewhere).
    pub resyncs: Vec<Option<u64>>,
}

fn valid_label(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_LABEL
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

impl History {
    /// Records one scrape: `(instance id, samples)` of every collector instance.
    pub(super) fn record(&mut self, now_ms: i64, scraped: &[(&str, &[Sample])]) {
        let minute = now_ms.div_euclid(BUCKET_MS);
        let mut newest: BTreeMap<SeriesKey, f64> = BTreeMap::new();
        let mut increases: BTreeMap<(Counter, SeriesKey), u64> = BTreeMap::new();
        let mut touched: HashSet<SeriesKey> = HashSet::new();
        let mut previous = HashMap::new();
        // Series this scrape adds (they enter `self.series` at the end).
        let mut created = 0;
        for &(instance, samples) in scraped {
            let known = self.instances.contains(instance);
            for s in samples.iter() {
                let (counter, kind) = match s.name.as_str() {
                    LAST_EVENT => (None, label(s, "type")),
                    EVENTS => (Some(Counter::Events), label(s, "type")),
                    GAPS => (Some(Counter::Gaps), "status"),
                    RESYNCS => (Some(Counter::Resyncs), "status"),
                    _ => continue,
                };
                let (exchange, market) = (label(s, "exchange"), label(s, "market"));
                if ![exchange, market, kind].into_iter().all(valid_label) || !s.value.is_finite() {
                    self.rejected += 1;
                    continue;
                }
                let key: SeriesKey = (exchange.to_owned(), market.to_owned(), kind.to_owned());
                if !self.series.contains_key(&key) && !touched.contains(&key) {
                    if self.series.len() + created >= MAX_SERIES {
                        self.overflow += 1;
                        continue;
                    }
                    created += 1;
                }
                touched.insert(key.clone());
                let Some(counter) = counter else {
                    let ts = newest.entry(key).or_insert(f64::MIN);
                    *ts = ts.max(s.value);
                    continue;
                };
                let id = (instance.to_owned(), counter, key);
                let increase = match self.previous.get(&id) {
                    Some(&before) if s.value >= before => s.value - before,
                    // Went down: the collector restarted and counts from zero.
                    Some(_) => s.value,
                    None if known => s.value,
                    None => 0.0,
                };
                *increases.entry((counter, id.2.clone())).or_default() += increase as u64;
                previous.insert(id, s.value);
            }
        }
        self.previous = previous;
        self.instances = scraped.iter().map(|(i, _)| (*i).to_owned()).collect();
        let now_s = now_ms as f64 / 1e3;
        for key in touched {
            let bucket = self.series.entry(key.clone()).or_default().bucket(minute);
            if let Some(ts) = newest.get(&key) {
                bucket.age_secs = Some((now_s - ts).max(0.0));
            }
        }
        for ((counter, key), n) in increases {
            if let Some(series) = self.series.get_mut(&key) {
                let b = series.bucket(minute);
                let slot = match counter {
                    Counter::Events => &mut b.events,
                    Counter::Gaps => &mut b.gaps,
                    Counter::Resyncs => &mut b.resyncs,
                };
                *slot = slot.saturating_add(n);
            }
        }
        // Forget what is older than the hour, and series left without a bucket.
        let oldest = minute - BUCKETS as i64 + 1;
        self.series.retain(|_, s| {
            while s.buckets.front().is_some_and(|b| b.minute < oldest) {
                s.buckets.pop_front();
            }
            !s.buckets.is_empty()
        });
    }

    /// The hour ending in the minute of `now_ms`.
    pub(super) fn view(&self, now_ms: i64, rules: &RulesConfig) -> HistoryView {
        let minute = now_ms.div_euclid(BUCKET_MS);
        let first = minute - BUCKETS as i64 + 1;
        let series = self
            .series
            .iter()
            .map(|((exchange, market, kind), s)| {
                let mut slots: Vec<Option<&Bucket>> = vec![None; BUCKETS];
                for b in &s.buckets {
                    if let Ok(i) = usize::try_from(b.minute - first)
                        && i < BUCKETS
                    {
                        slots[i] = Some(b);
                    }
                }
                let of = |f: fn(&Bucket) -> u64| slots.iter().map(|b| b.map(f)).collect();
                SeriesView {
                    exchange: exchange.clone(),
                    market: market.clone(),
                    kind: kind.clone(),
                    freshness_limit_secs: rules.freshness_for(kind),
                    age_secs: slots.iter().map(|b| b.and_then(|b| b.age_secs)).collect(),
                    events: of(|b| b.events),
                    gaps: of(|b| b.gaps),
                    resyncs: of(|b| b.resyncs),
                }
            })
            .collect();
        HistoryView {
            bucket_secs: BUCKET_MS / 1000,
            buckets: BUCKETS,
            start_ms: first * BUCKET_MS,
            max_series: MAX_SERIES,
            overflow: self.overflow,
            rejected: self.rejected,
            series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::parse_prometheus;

    const T0: i64 = 1_800_000_000_000; // a whole minute

    fn metrics(ts_s: f64, trades: u64, gaps: Option<u64>) -> Vec<Sample> {
        let mut text = format!(
            "{LAST_EVENT}{{exchange=\"binance\",market=\"spot\",type=\"trade\"}} {ts_s}\n\
             {EVENTS}{{exchange=\"binance\",market=\"spot\",type=\"trade\"}} {trades}\n"
        );
        if let Some(g) = gaps {
            text += &format!("{GAPS}{{exchange=\"binance\",market=\"spot\"}} {g}\n");
        }
        parse_prometheus(&text)
    }

    #[test]
    fn buckets_count_increases_per_minute_and_keep_the_age_at_minute_end() {
        let mut h = History::default();
        let t0_s = T0 as f64 / 1e3;
        // First scrape: baseline only (100 trades counted before monitoring looked).
        h.record(T0 + 1_000, &[("c1", &metrics(t0_s, 100, None))]);
        h.record(T0 + 5_000, &[("c1", &metrics(t0_s + 4.0, 107, Some(1)))]);
        h.record(T0 + 50_000, &[("c1", &metrics(t0_s + 48.0, 110, Some(1)))]);
        // Next minute: restart (counter back to 2).
        h.record(T0 + 65_000, &[("c1", &metrics(t0_s + 60.0, 2, Some(1)))]);
        let v = h.view(T0 + 70_000, &RulesConfig::default());
        assert_eq!(v.start_ms, T0 - 58 * BUCKET_MS);
        let trade = &v.series[1];
        assert_eq!(
            (trade.kind.as_str(), trade.events.len()),
            ("trade", BUCKETS)
        );
        assert_eq!(trade.events[BUCKETS - 2..], [Some(10), Some(2)]);
        assert_eq!(trade.age_secs[BUCKETS - 2..], [Some(2.0), Some(5.0)]);
        assert_eq!(trade.events[0], None);
        assert_eq!(trade.freshness_limit_secs, Some(300.0));
        let status = &v.series[0];
        assert_eq!(status.kind, "status");
        assert_eq!(status.gaps[BUCKETS - 2..], [Some(1), Some(0)]);
        assert_eq!(status.freshness_limit_secs, None);
        // An hour later without observations the series are gone.
        h.record(T0 + 3_700_000, &[]);
        assert!(
            h.view(T0 + 3_700_000, &RulesConfig::default())
                .series
                .is_empty()
        );
    }

    #[test]
    fn hostile_names_are_bounded() {
        let mut h = History::default();
        let mut text = String::new();
        for i in 0..1000 {
            text +=
                &format!("{LAST_EVENT}{{exchange=\"x{i}\",market=\"spot\",type=\"trade\"}} 1\n");
        }
        text +=
            &format!("{LAST_EVENT}{{exchange=\"bad name\",market=\"spot\",type=\"trade\"}} 1\n");
        text += &format!(
            "{LAST_EVENT}{{exchange=\"{}\",market=\"spot\",type=\"trade\"}} 1\n",
            "a".repeat(MAX_LABEL + 1)
        );
        let samples = parse_prometheus(&text);
        h.record(T0, &[("c1", &samples)]);
        h.record(T0 + 5_000, &[("c1", &samples)]);
        let v = h.view(T0 + 5_000, &RulesConfig::default());
        assert_eq!(v.series.len(), MAX_SERIES);
        assert_eq!(v.overflow, 2 * (1000 - MAX_SERIES as u64));
        assert_eq!(v.rejected, 4);
        assert!(h.previous.is_empty());
    }
}
