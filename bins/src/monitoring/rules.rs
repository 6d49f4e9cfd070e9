//! Alert rules over scraped health and Prometheus samples.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use serde::{Deserialize, Serialize};

/// Alert thresholds (`[rules]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// No event of a type from an exchange market for this long → `data_stale`, for types
    /// without a threshold of their own (see [`RulesConfig::freshness_for`]).
    pub freshness_secs: f64,
    /// Per event type (`trade`, `book_delta`, `funding_rate`, ...): seconds without an event
    /// before `data_stale`; 0 = never judged. Overrides [`DEFAULT_FRESHNESS`] entry by entry.
    pub freshness_by_type: BTreeMap<String, f64>,
    /// Share of 5xx answers per service between two scrapes → `high_error_rate`.
    pub error_rate: f64,
    /// Book resyncs per minute per exchange market → `book_resync_rate`.
    pub resyncs_per_min: f64,
    /// Messages a JetStream consumer is behind → `consumer_lag`.
    pub consumer_lag: f64,
    /// Storage sink retries (ClickHouse insert errors) between two scrapes → `clickhouse_insert_errors`.
    pub sink_retries: f64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            freshness_secs: 60.0,
            freshness_by_type: BTreeMap::new(),
            error_rate: 0.05,
            resyncs_per_min: 10.0,
            consumer_lag: 100_000.0,
            sink_retries: 0.0,
        }
    }
}

/// Built-in freshness thresholds per event type, in seconds (0 = never judged), chosen from
/// how often each type arrives in normal operation:
/// book snapshots come only at start and on resync, and liquidations only when they happen
/// (never judged); deltas and BBO flow continuously; trades pause on quiet instruments;
/// open interest and long/short ratios are polled (30 s and 5 min); funding rates move on
/// the funding schedule (hours), so an hour of silence is tolerated.
pub const DEFAULT_FRESHNESS: [(&str, f64); 13] = [
    ("book_snapshot", 0.0),
    ("liquidation", 0.0),
    ("book_delta", 60.0),
    ("bbo", 60.0),
    ("trade", 300.0),
    ("ticker", 120.0),
    ("mark_price", 120.0),
    ("kline", 180.0),
    ("option_summary", 300.0),
    ("volatility_index", 300.0),
    ("open_interest", 300.0),
    ("long_short_ratio", 900.0),
    ("funding_rate", 3600.0),
];

impl RulesConfig {
    /// Seconds without an event of `kind` before `data_stale`, or `None` when the type is not
    /// judged: `freshness_by_type`, else [`DEFAULT_FRESHNESS`], else `freshness_secs`.
    /// Status events are never judged.
    pub fn freshness_for(&self, kind: &str) -> Option<f64> {
        if kind == "status" {
            return None;
        }
        let secs = self
            .freshness_by_type
            .get(kind)
            .copied()
            .or_else(|| {
                DEFAULT_FRESHNESS
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, s)| *s)
            })
            .unwrap_or(self.freshness_secs);
        (secs > 0.0).then_some(secs)
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Rule (`service_down`, `data_stale`, `high_error_rate`, `book_resync_rate`,
    /// `consumer_lag`, `clickhouse_insert_errors`).
    pub rule: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// What it is about (service, exchange/market/type, stream/consumer).
    pub subject: String,
    /// Human text.
    pub message: String,
    /// Measured value.
    pub value: f64,
    /// Since (ms).
    pub started_at_ms: i64,
    /// Resolved at (ms).
    pub resolved_at_ms: Option<i64>,
}

/// One Prometheus sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, in order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    fn label(&self, k: &str) -> &str {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    }
    fn key(&self) -> String {
        let l: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.name, l.join(","))
    }
}

/// Parses the Prometheus text format (comments skipped, `_bucket` etc. kept as named).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (head, value) = line.rsplit_once(' ')?;
            let value: f64 = value.trim().parse().ok()?;
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (head, ""),
            };
            let labels = labels
                .split("\",")
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                name: name.trim().to_owned(),
                labels,
                value,
            })
        })
        .collect()
}

fn alert(
    rule: &str,
    severity: &str,
    subject: String,
    message: String,
    value: f64,
) -> (String, Alert) {
    (
        format!("{rule}:{subject}"),
        Alert {
            rule: rule.into(),
            severity: severity.into(),
            state: "firing".into(),
            subject,
            message,
            value,
            started_at_ms: 0,
            resolved_at_ms: None,
        },
    )
}

fn delta(now: &[Sample], before: &[Sample], name: &str) -> Vec<(Sample, f64)> {
    now.iter()
        .filter(|s| s.name == name)
        .map(|s| {
            let k = s.key();
            let prev = before
                .iter()
                .find(|p| p.key() == k)
                .map_or(s.value, |p| p.value);
            (s.clone(), (s.value - prev).max(0.0))
        })
        .collect()
}

/// Every alert that should fire now.
pub(super) fn evaluate(
    c: &RulesConfig,
    instances: &[(String, String, String)],
    missing: &[String],
    now: &[Sample],
    before: &[Sample],
    interval: Duration,
) -> Vec<(String, Alert)> {
    let mut out = Vec::new();
    for s in missing {
        out.push(alert(
            "service_down",
            "critical",
            s.clone(),
            format!("no instance of {s} is registered"),
            0.0,
        ));
    }
    for (svc, id, status) in instances {
        if status == "unhealthy" || status == "unreachable" {
            out.push(alert(
                "service_down",
                "critical",
                format!("{svc}/{id}"),
                format!("{svc} instance {id} is {status}"),
                0.0,
            ));
        }
    }
    let now_s = marketprism_core::model::now_ns() as f64 / 1e9;
    for s in now
        .iter()
        .filter(|s| s.name == "marketprism_collector_last_event_timestamp_seconds")
    {
        let age = now_s - s.value;
        if c.freshness_for(s.label("type"))
            .is_some_and(|limit| age > limit)
        {
            let subj = format!(
                "{}/{}/{}",
                s.label("exchange"),
                s.label("market"),
                s.label("type")
            );
            out.push(alert(
                "data_stale",
                "warning",
                subj.clone(),
                format!("no {subj} data for {age:.0} s"),
                age,
            ));
        }
    }
    let mut per_service: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for (s, d) in delta(now, before, "marketprism_http_requests_total") {
        let e = per_service
            .entry(s.label("service").to_owned())
            .or_default();
        e.0 += d;
        if s.label("status").starts_with('5') {
            e.1 += d;
        }
    }
    for (svc, (total, errors)) in per_service {
        if total >= 10.0 && errors / total > c.error_rate {
            out.push(alert(
                "high_error_rate",
                "warning",
                svc.clone(),
                format!("{svc}: {:.1}% 5xx", 100.0 * errors / total),
                errors / total,
            ));
        }
    }
    let per_min = 60.0 / interval.as_secs_f64().max(0.001);
    for (s, d) in delta(now, before, "marketprism_collector_resyncs_total") {
        if d * per_min > c.resyncs_per_min {
            let subj = format!("{}/{}", s.label("exchange"), s.label("market"));
            out.push(alert(
                "book_resync_rate",
                "warning",
                subj.clone(),
                format!("{subj}: {:.1} resyncs/min", d * per_min),
                d * per_min,
            ));
        }
    }
    for s in now
        .iter()
        .filter(|s| s.name == "marketprism_broker_consumer_pending")
    {
        if s.value > c.consumer_lag {
            let subj = format!("{}/{}", s.label("stream"), s.label("consumer"));
            out.push(alert(
                "consumer_lag",
                "warning",
                subj.clone(),
                format!("{subj} is {} messages behind", s.value),
                s.value,
            ));
        }
    }
    for (s, d) in delta(now, before, "marketprism_storage_sink_retries_total") {
        if s.label("sink").contains("clickhouse") && d > c.sink_retries {
            out.push(alert(
                "clickhouse_insert_errors",
                "critical",
                "clickhouse".into(),
                format!("{d} ClickHouse write retries since the last scrape"),
                d,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Keys of [`evaluate`].
pub(super) fn keys(
    c: &RulesConfig,
    instances: &[(String, String, String)],
    missing: &[String],
    now: &[Sample],
    before: &[Sample],
    interval: Duration,
) -> HashSet<String> {
    evaluate(c, instances, missing, now, before, interval)
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_fires() {
        let text = "# HELP x\nmarketprism_broker_consumer_pending{stream=\"S\",consumer=\"storage\"} 200000\nup 1\n";
        let samples = parse_prometheus(text);
        assert_eq!(samples.len(), 2);
        let a = evaluate(
            &RulesConfig::default(),
            &[],
            &["api-gateway".into()],
            &samples,
            &[],
            Duration::from_secs(5),
        );
        let rules: Vec<&str> = a.iter().map(|(_, a)| a.rule.as_str()).collect();
        assert_eq!(rules, vec!["consumer_lag", "service_down"]);
    }

    fn stale_subjects(c: &RulesConfig, ages: &[(&str, f64)]) -> Vec<String> {
        let now_s = marketprism_core::model::now_ns() as f64 / 1e9;
        let text: String = ages
            .iter()
            .map(|(kind, age)| {
                format!(
                    "marketprism_collector_last_event_timestamp_seconds{{exchange=\"binance\",market=\"spot\",type=\"{kind}\"}} {}\n",
                    now_s - age
                )
            })
            .collect();
        let samples = parse_prometheus(&text);
        evaluate(c, &[], &[], &samples, &[], Duration::from_secs(5))
            .into_iter()
            .filter(|(_, a)| a.rule == "data_stale")
            .map(|(_, a)| a.subject)
            .collect()
    }

    /// Issue 16 item 5: in normal operation the only snapshot is the one at start, funding
    /// moves on its schedule and liquidations are rare; none of that is staleness.
    #[test]
    fn freshness_is_judged_per_type() {
        let normal = [
            ("book_snapshot", 3600.0),
            ("book_delta", 1.0),
            ("trade", 2.0),
            ("funding_rate", 1800.0),
            ("liquidation", 7200.0),
            ("long_short_ratio", 400.0),
            ("status", 9999.0),
        ];
        let c = RulesConfig::default();
        assert_eq!(stale_subjects(&c, &normal), Vec::<String>::new());
        // A stalled delta stream is stale; so is an unknown type past `freshness_secs`.
        assert_eq!(
            stale_subjects(
                &c,
                &[("book_delta", 90.0), ("custom", 90.0), ("trade", 90.0)]
            ),
            ["binance/spot/book_delta", "binance/spot/custom"]
        );
        // Configurable per type: a longer limit for deltas, and snapshots judged after all.
        let mut c = RulesConfig::default();
        c.freshness_by_type.insert("book_delta".into(), 120.0);
        c.freshness_by_type.insert("book_snapshot".into(), 600.0);
        assert_eq!(
            stale_subjects(&c, &[("book_delta", 90.0), ("book_snapshot", 3600.0)]),
            ["binance/spot/book_snapshot"]
        );
    }
}
