//! Replay mode: stream the lines of corpus files (JSON lines, as recorded) to every
//! connection, paced by the recorded timestamps divided by the speed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use super::Shared;
use super::market::{Update, UpdateKind};

/// One recorded frame: its text, the symbol it names (if found) and its timestamp (ms).
#[derive(Debug, Clone)]
pub(crate) struct Line {
    text: Arc<str>,
    symbol: Arc<str>,
    ts_ms: Option<i64>,
}

/// Reads `files` (REST bodies, files named `rest_*`, are skipped).
pub(crate) fn load(files: &[PathBuf]) -> std::io::Result<Vec<Line>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)?;
        for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            out.push(Line {
                text: Arc::from(l),
                symbol: Arc::from(symbol_of(&v).unwrap_or_default()),
                ts_ms: ts_of(&v),
            });
        }
    }
    Ok(out)
}

fn data(v: &Value) -> &Value {
    let d = v
        .get("data")
        .or_else(|| v.pointer("/params/data"))
        .unwrap_or(v);
    match d {
        Value::Array(a) => a.first().unwrap_or(d),
        _ => d,
    }
}

fn symbol_of(v: &Value) -> Option<String> {
    let d = data(v);
    for k in ["s", "instId", "instrument_name"] {
        if let Some(s) = d.get(k).and_then(Value::as_str) {
            return Some(s.to_owned());
        }
    }
    v.pointer("/arg/instId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn ts_of(v: &Value) -> Option<i64> {
    let d = data(v);
    for k in ["E", "T", "ts", "timestamp"] {
        match d.get(k) {
            Some(Value::Number(n)) => return n.as_i64(),
            Some(Value::String(s)) => return s.parse().ok(),
            _ => {}
        }
    }
    None
}

/// Streams `lines` in order, pacing by timestamp differences (capped at 1 s) / `speed`
/// (10 ms / `speed` when a line has no timestamp), then stops.
pub(crate) async fn run(shared: Arc<Shared>, lines: Vec<Line>, speed: f64) {
    let speed = if speed > 0.0 { speed } else { 1.0 };
    let mut prev: Option<i64> = None;
    for line in lines {
        let gap_ms = match (prev, line.ts_ms) {
            (Some(p), Some(t)) if t >= p => ((t - p) as f64).min(1000.0) / speed,
            _ => 10.0 / speed,
        };
        if line.ts_ms.is_some() {
            prev = line.ts_ms;
        }
        tokio::select! {
            _ = shared.cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs_f64(gap_ms / 1000.0)) => {}
        }
        while shared.paused.load(Ordering::Relaxed) {
            tokio::select! {
                _ = shared.cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        shared.replayed.fetch_add(1, Ordering::Relaxed);
        let ts_ms = line.ts_ms.unwrap_or_else(super::now_ms);
        shared.publish(vec![Update {
            symbol: line.symbol,
            ts_ms,
            kind: UpdateKind::Raw(line.text),
        }]);
    }
}
