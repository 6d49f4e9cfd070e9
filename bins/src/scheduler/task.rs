//! Tasks and runs.

use chrono::{DateTime, TimeZone, Utc};
use croner::{
    Cron,
    parser::{CronParser, Seconds},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A scheduled task. It calls an endpoint of a *discovered* service (`target_service` +
/// `target_endpoint`, a path) or publishes to a NATS subject — never an arbitrary URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Id (`[A-Za-z0-9_-]`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// Cron expression, UTC: 5 fields (minute granularity) or 6 (leading seconds).
    pub cron_expression: String,
    /// Disabled tasks only run on demand.
    pub enabled: bool,
    /// Service name as registered in discovery.
    pub target_service: Option<String>,
    /// Path on that service (`/api/v1/...`).
    pub target_endpoint: Option<String>,
    /// HTTP method.
    pub method: String,
    /// NATS subject to publish to (instead of an HTTP call).
    pub nats_subject: Option<String>,
    /// JSON body / message.
    pub payload: Option<Value>,
    /// Run time limit.
    pub timeout_secs: u64,
    /// A built-in task (retention, archive): can be edited or disabled, comes back if deleted.
    pub builtin: bool,
    /// Created (ms since epoch).
    pub created_at_ms: i64,
    /// Last changed (ms since epoch).
    pub updated_at_ms: i64,
}

/// The body of `POST /api/v1/scheduler/tasks` and `PUT .../tasks/{id}` (the seeds' shape).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// Optional id (generated when absent).
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Cron expression.
    pub cron_expression: Option<String>,
    /// Enabled (default true).
    pub enabled: Option<bool>,
    /// Target service.
    pub target_service: Option<String>,
    /// Target path.
    pub target_endpoint: Option<String>,
    /// HTTP method (default POST).
    pub method: Option<String>,
    /// NATS subject.
    pub nats_subject: Option<String>,
    /// Payload.
    pub payload: Option<Value>,
    /// Timeout (default 30 s).
    pub timeout_secs: Option<u64>,
}

impl TaskInput {
    /// Applies the input over `base` (update) or over empty defaults (create).
    pub fn apply(self, base: Option<Task>, now_ms: i64) -> Result<Task, String> {
        let mut t = base.unwrap_or_else(|| Task {
            id: self.id.clone().unwrap_or_else(new_id),
            name: String::new(),
            cron_expression: String::new(),
            enabled: true,
            target_service: None,
            target_endpoint: None,
            method: "POST".into(),
            nats_subject: None,
            payload: None,
            timeout_secs: 30,
            builtin: false,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        });
        if let Some(v) = self.name {
            t.name = v;
        }
        if let Some(v) = self.cron_expression {
            t.cron_expression = v;
        }
        if let Some(v) = self.enabled {
            t.enabled = v;
        }
        if self.target_service.is_some() || self.target_endpoint.is_some() {
            t.target_service = self.target_service.or(t.target_service);
            t.target_endpoint = self.target_endpoint.or(t.target_endpoint);
            t.nats_subject = None;
        }
        if let Some(v) = self.nats_subject {
            t.nats_subject = Some(v);
            t.target_service = None;
            t.target_endpoint = None;
        }
        if let Some(v) = self.method {
            t.method = v.to_ascii_uppercase();
        }
        if self.payload.is_some() {
            t.payload = self.payload;
        }
        if let Some(v) = self.timeout_secs {
            t.timeout_secs = v;
        }
        if t.name.is_empty() {
            t.name = t.id.clone();
        }
        t.updated_at_ms = now_ms;
        t.validate()?;
        Ok(t)
    }
}

impl Task {
    /// Checks id, cron expression and target.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty()
            || self.id.len() > 128
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "invalid id `{}`: use [A-Za-z0-9_-]{{1,128}}",
                self.id
            ));
        }
        // The interval limit is the service's (`scheduler.min_interval_secs`), checked by the API.
        check_cron(&self.cron_expression, 0)?;
        match (
            &self.target_service,
            &self.target_endpoint,
            &self.nats_subject,
        ) {
            (Some(s), Some(p), None) => {
                if s.is_empty() || s.contains('/') || s.contains(':') {
                    return Err(format!("invalid target_service `{s}`: a service name"));
                }
                if !p.starts_with('/') || p.contains("://") || p.contains("..") || p.contains('@') {
                    return Err(format!(
                        "invalid target_endpoint `{p}`: a path on the service, starting with /"
                    ));
                }
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&self.method.as_str()) {
                    return Err(format!("invalid method `{}`", self.method));
                }
            }
            (None, None, Some(subject)) => {
                marketprism_core::subject::SubjectPattern::new(subject)
                    .ok()
                    .filter(|p| p.is_literal())
                    .ok_or_else(|| format!("invalid nats_subject `{subject}`"))?;
            }
            _ => {
                return Err(
                    "a task needs either target_service + target_endpoint or nats_subject".into(),
                );
            }
        }
        if self.timeout_secs == 0 || self.timeout_secs > 86_400 {
            return Err("timeout_secs must be 1..=86400".into());
        }
        Ok(())
    }

    /// Fire times in `(after, until]`, at most `max`.
    pub fn fire_times(&self, after_ms: i64, until_ms: i64, max: usize) -> Vec<i64> {
        let Ok(cron) = parse_cron(&self.cron_expression) else {
            return Vec::new();
        };
        let Some(mut t) = Utc.timestamp_millis_opt(after_ms).single() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while out.len() < max {
            match cron.find_next_occurrence(&t, false) {
                Ok(next) if next.timestamp_millis() <= until_ms => {
                    out.push(next.timestamp_millis());
                    t = next;
                }
                _ => break,
            }
        }
        out
    }

    /// The next fire time after now (ms).
    pub fn next_fire(&self, now: DateTime<Utc>) -> Option<i64> {
        let cron = parse_cron(&self.cron_expression).ok()?;
        cron.find_next_occurrence(&now, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

/// The default shortest time between two firings of a task (`scheduler.min_interval_secs`):
/// a task calls another service, and a schedule of every second is a load generator.
pub(super) const MIN_CRON_INTERVAL_SECS: u64 = 10;

/// How far ahead a schedule must fire at least once (`0 0 30 2 *`, February 30th, never does).
pub(super) const MAX_CRON_HORIZON_DAYS: i64 = 5 * 366;

/// Parses a 5- or 6-field cron expression (or `@daily` & co).
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expr)
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

/// Parses `expr` ([`parse_cron`]) and checks that it fires within `MAX_CRON_HORIZON_DAYS`
/// and never more often than every `min_interval_secs`: what a task may be given.
pub fn check_cron(expr: &str, min_interval_secs: u64) -> Result<Cron, String> {
    let min_interval = i64::try_from(min_interval_secs).unwrap_or(i64::MAX);
    let cron = parse_cron(expr)?;
    let now = Utc::now();
    let horizon = now + chrono::Duration::days(MAX_CRON_HORIZON_DAYS);
    let never = || {
        format!("cron expression `{expr}` never fires (not within {MAX_CRON_HORIZON_DAYS} days)")
    };
    let first = cron
        .find_next_occurrence(&now, false)
        .map_err(|_| never())?;
    if first > horizon {
        return Err(never());
    }
    // The closest pair among the next firings (enough to see any seconds or minute field).
    let mut prev = first;
    for _ in 0..64 * usize::from(min_interval > 0) {
        let Ok(next) = cron.find_next_occurrence(&prev, false) else {
            break;
        };
        if (next - prev).num_seconds() < min_interval {
            return Err(format!(
                "cron expression `{expr}` fires every {} s; the minimum interval is {min_interval} s (scheduler.min_interval_secs)",
                (next - prev).num_seconds()
            ));
        }
        prev = next;
    }
    Ok(cron)
}

/// A random id.
pub(super) fn new_id() -> String {
    format!("task-{:016x}", rand::random::<u64>())
}

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run id.
    pub run_id: String,
    /// Task.
    pub task_id: String,
    /// The cron time it was for (ms); `None` for "run now".
    pub scheduled_for_ms: Option<i64>,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Started (ms).
    pub started_at_ms: i64,
    /// Finished (ms).
    pub finished_at_ms: Option<i64>,
    /// Duration (ms).
    pub duration_ms: Option<i64>,
    /// `running`, `success`, `failed`, `cancelled`, `timeout`.
    pub status: String,
    /// Error text.
    pub error: Option<String>,
    /// HTTP status of the call.
    pub http_status: Option<u16>,
    /// Scheduler instance that ran it.
    pub instance: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_five_and_six_fields_in_utc() {
        let t = TaskInput {
            id: Some("t1".into()),
            cron_expression: Some("0 2 * * *".into()),
            target_service: Some("data-storage-service".into()),
            target_endpoint: Some("/api/v1/storage/lifecycle/cleanup".into()),
            ..TaskInput::default()
        }
        .apply(None, 0)
        .expect("valid");
        // 1970-01-01T02:00:00Z and the day after.
        assert_eq!(
            t.fire_times(0, 2 * 86_400_000, 10),
            vec![7_200_000, 93_600_000]
        );
        let mut s = t.clone();
        s.cron_expression = "*/15 * * * * *".into();
        assert_eq!(s.fire_times(0, 60_000, 10).len(), 4);
    }

    #[test]
    fn refuses_urls_and_bad_cron() {
        let bad = |svc: &str, path: &str| {
            TaskInput {
                cron_expression: Some("* * * * *".into()),
                target_service: Some(svc.into()),
                target_endpoint: Some(path.into()),
                ..TaskInput::default()
            }
            .apply(None, 0)
            .is_err()
        };
        assert!(bad("http://evil", "/x"));
        assert!(bad("svc", "http://evil/x"));
        assert!(bad("svc", "x"));
        assert!(!bad("svc", "/api/v1/x"));
        let cron = TaskInput {
            cron_expression: Some("61 * * * *".into()),
            nats_subject: Some("control.x".into()),
            ..TaskInput::default()
        };
        assert!(cron.apply(None, 0).is_err());
    }
}
