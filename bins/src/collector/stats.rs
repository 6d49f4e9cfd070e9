//! Per-connection and per-market statistics of the collector, fed by every event it forwards.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use marketprism_core::model::{MarketEvent, StatusKind, now_ns};
use serde::Serialize;

/// One exchange market as the collector sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MarketStats {
    /// Exchange (`binance`, `okx`, `deribit`).
    pub exchange: String,
    /// Market (`spot`, `perpetual`, ...).
    pub market: String,
    /// Connections by id: state, since when, last reason.
    pub connections: BTreeMap<String, ConnectionStats>,
    /// Events forwarded.
    pub events_total: u64,
    /// Events per second over the last rate window.
    pub events_per_sec: f64,
    /// Seconds since the last event (any type); `None` before the first.
    pub last_message_age_secs: Option<f64>,
    /// Book resyncs.
    pub resyncs: u64,
    /// Sequence gaps detected.
    pub gaps: u64,
    /// Last event time (ns) per event type, for data-freshness checks.
    pub last_event_ns: BTreeMap<&'static str, i64>,
    #[serde(skip)]
    last_instant: Option<Instant>,
    #[serde(skip)]
    rate_mark: (u64, Option<Instant>),
}

/// One connection.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStats {
    /// `connected` or `disconnected`.
    pub state: &'static str,
    /// Since (ns).
    pub since_ns: i64,
    /// Why it went down, when it did.
    pub reason: Option<String>,
    /// Times it (re)connected.
    pub connects: u64,
}

/// Shared collector statistics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    markets: BTreeMap<(&'static str, &'static str), MarketStats>,
    published: u64,
    publish_failures: u64,
    /// When publishing started failing (cleared by the next successful publish).
    failing_since: Option<Instant>,
    state: String,
    last_error: Option<String>,
}

/// The `/api/v1/collector/status` body.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// `starting`, `running`, `retrying`, `stopped`.
    pub state: String,
    /// Last error (start or publish).
    pub last_error: Option<String>,
    /// Events published downstream.
    pub published: u64,
    /// Publish attempts that failed (and were retried).
    pub publish_failures: u64,
    /// Events per second, all markets.
    pub events_per_sec: f64,
    /// Open connections.
    pub connections_up: usize,
    /// Markets seen.
    pub markets: usize,
}

impl Inner {
    fn market(&mut self, exchange: &'static str, market: &'static str) -> &mut MarketStats {
        self.markets
            .entry((exchange, market))
            .or_insert_with(|| MarketStats {
                exchange: exchange.to_owned(),
                market: market.to_owned(),
                ..MarketStats::default()
            })
    }
}

impl MarketStats {
    /// Applies a status event (connection state, resyncs, gaps).
    fn status(&mut self, kind: &StatusKind, now: i64) {
        match kind {
            StatusKind::Connected { connection } => {
                let c = self
                    .connections
                    .entry(connection.clone())
                    .or_insert(ConnectionStats {
                        state: "connected",
                        since_ns: now,
                        reason: None,
                        connects: 0,
                    });
                c.state = "connected";
                c.since_ns = now;
                c.connects += 1;
            }
            StatusKind::Disconnected { connection, reason } => {
                let c = self
                    .connections
                    .entry(connection.clone())
                    .or_insert(ConnectionStats {
                        state: "disconnected",
                        since_ns: now,
                        reason: None,
                        connects: 0,
                    });
                c.state = "disconnected";
                c.since_ns = now;
                c.reason = Some(reason.clone());
            }
            StatusKind::BookResync { .. } => {
                self.resyncs += 1;
                metrics::counter!("marketprism_collector_resyncs_total",
                    "exchange" => self.exchange.clone(), "market" => self.market.clone())
                .increment(1);
            }
            StatusKind::Gap { .. } => {
                self.gaps += 1;
                metrics::counter!("marketprism_collector_gaps_total",
                    "exchange" => self.exchange.clone(), "market" => self.market.clone())
                .increment(1);
            }
            // A status kind newer than these counters: still visible in the event stream.
            other => tracing::debug!(
                status = other.as_str(),
                exchange = %self.exchange,
                "status event without a collector counter"
            ),
        }
    }
}

impl Stats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records events read from the exchange stream: metrics and counters once per
    /// (exchange, market, type) group of the batch, not per event (the hot path).
    pub fn observe_all(&self, events: &[MarketEvent]) {
        type Group = ((&'static str, &'static str, &'static str), u64);
        let mut groups: Vec<Group> = Vec::new();
        for event in events {
            let key = (
                event.exchange().as_str(),
                event.market().as_str(),
                event.kind().as_str(),
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => groups.push((key, 1)),
            }
        }
        let now = now_ns();
        for &((exchange, market, kind), n) in &groups {
            metrics::counter!("marketprism_collector_events_total",
                "exchange" => exchange, "market" => market, "type" => kind)
            .increment(n);
            metrics::gauge!("marketprism_collector_last_event_timestamp_seconds",
                "exchange" => exchange, "market" => market, "type" => kind)
            .set(now as f64 / 1e9);
        }
        let mut inner = self.lock();
        let at = Instant::now();
        for &((exchange, market, kind), n) in &groups {
            let m = inner.market(exchange, market);
            m.events_total += n;
            m.last_instant = Some(at);
            m.last_event_ns.insert(kind, now);
        }
        for event in events {
            if let MarketEvent::Status(s) = event {
                let (exchange, market) = (event.exchange().as_str(), event.market().as_str());
                inner.market(exchange, market).status(&s.kind, now);
            }
        }
    }

    /// Records a published batch.
    pub fn published(&self, n: usize) {
        metrics::counter!("marketprism_collector_published_total").increment(n as u64);
        let mut inner = self.lock();
        inner.published += n as u64;
        inner.failing_since = None;
        if inner.state == "retrying" {
            inner.state = "running".into();
        }
    }

    /// Records a failed publish attempt.
    pub fn publish_failed(&self, error: String) {
        metrics::counter!("marketprism_collector_publish_failures_total").increment(1);
        let mut inner = self.lock();
        inner.publish_failures += 1;
        inner.failing_since.get_or_insert_with(Instant::now);
        inner.state = "retrying".into();
        inner.last_error = Some(error);
    }

    /// How long publishing has been failing without a success in between (`None`: it is not).
    pub fn publish_failing_for(&self) -> Option<std::time::Duration> {
        self.lock().failing_since.map(|t| t.elapsed())
    }

    /// Sets the state (and optionally the last error).
    pub fn set_state(&self, state: &str, error: Option<String>) {
        let mut inner = self.lock();
        inner.state = state.to_owned();
        if error.is_some() {
            inner.last_error = error;
        }
    }

    /// Recomputes the per-market rates (call every second or so).
    pub fn tick(&self) {
        let now = Instant::now();
        let mut inner = self.lock();
        for m in inner.markets.values_mut() {
            if let (before, Some(at)) = m.rate_mark {
                let dt = now.duration_since(at).as_secs_f64();
                if dt > 0.0 {
                    m.events_per_sec = (m.events_total - before) as f64 / dt;
                }
            }
            m.rate_mark = (m.events_total, Some(now));
            let up = m
                .connections
                .values()
                .filter(|c| c.state == "connected")
                .count();
            metrics::gauge!("marketprism_collector_connections",
                "exchange" => m.exchange.clone(), "market" => m.market.clone())
            .set(up as f64);
        }
    }

    /// Per-market statistics.
    pub fn markets(&self) -> Vec<MarketStats> {
        let inner = self.lock();
        inner
            .markets
            .values()
            .map(|m| {
                let mut m = m.clone();
                m.last_message_age_secs = m.last_instant.map(|t| t.elapsed().as_secs_f64());
                m
            })
            .collect()
    }

    /// The status summary.
    pub fn report(&self) -> StatusReport {
        let inner = self.lock();
        StatusReport {
            state: if inner.state.is_empty() {
                "starting".into()
            } else {
                inner.state.clone()
            },
            last_error: inner.last_error.clone(),
            published: inner.published,
            publish_failures: inner.publish_failures,
            events_per_sec: inner.markets.values().map(|m| m.events_per_sec).sum(),
            connections_up: inner
                .markets
                .values()
                .flat_map(|m| m.connections.values())
                .filter(|c| c.state == "connected")
                .count(),
            markets: inner.markets.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_failing_for_runs_from_the_first_failure_to_the_next_success() {
        let stats = Stats::default();
        assert_eq!(stats.publish_failing_for(), None);
        stats.publish_failed("down".into());
        let first = stats.publish_failing_for().expect("failing");
        stats.publish_failed("still down".into());
        assert!(stats.publish_failing_for().expect("failing") >= first);
        stats.published(1);
        assert_eq!(stats.publish_failing_for(), None);
    }
}
