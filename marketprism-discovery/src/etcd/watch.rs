//! The streaming `/v3/watch` answer: one JSON object per line, turned into [`WatchEvent`]s.

use serde_json::Value;

use super::{EtcdBackend, NAME, decode, parse_record};
use crate::{
    backend::{RemovalReason, WatchEvent},
    error::{DiscoveryError, Result},
};

const LINE_LIMIT: usize = 16 * 1024 * 1024;

/// Newline-delimited JSON over a streaming response body.
pub(super) struct Lines {
    pub(super) resp: reqwest::Response,
    pub(super) buf: Vec<u8>,
}

impl Lines {
    pub(super) async fn next(&mut self) -> Result<Option<Value>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(serde_json::from_slice(&line)?));
            }
            match self.resp.chunk().await {
                Ok(Some(chunk)) => {
                    self.buf.extend_from_slice(&chunk);
                    if self.buf.len() > LINE_LIMIT {
                        return Err(DiscoveryError::protocol(NAME, "watch line over 16 MiB"));
                    }
                }
                Ok(None) if self.buf.iter().all(u8::is_ascii_whitespace) => return Ok(None),
                Ok(None) => {
                    let rest = std::mem::take(&mut self.buf);
                    return Ok(Some(serde_json::from_slice(&rest)?));
                }
                Err(e) => return Err(DiscoveryError::unavailable(NAME, "watch stream broke", e)),
            }
        }
    }
}

pub(super) struct WatchState {
    pub(super) lines: Lines,
    pub(super) backend: EtcdBackend,
    pub(super) pending: std::collections::VecDeque<Result<WatchEvent>>,
    pub(super) done: bool,
}

pub(super) async fn watch_step(mut st: WatchState) -> Option<(Result<WatchEvent>, WatchState)> {
    loop {
        if let Some(ev) = st.pending.pop_front() {
            return Some((ev, st));
        }
        if st.done {
            return None;
        }
        let msg = match st.lines.next().await {
            Ok(Some(msg)) => msg,
            Ok(None) => return None,
            Err(e) => {
                st.done = true;
                return Some((Err(e), st));
            }
        };
        let result = &msg["result"];
        if msg.get("error").is_some() || result["canceled"].as_bool() == Some(true) {
            st.done = true;
            let why = if msg.get("error").is_some() {
                &msg["error"]
            } else {
                &result["cancel_reason"]
            };
            st.pending.push_back(Err(DiscoveryError::Unavailable {
                backend: NAME,
                message: format!("watch cancelled: {why}"),
                source: None,
            }));
            continue;
        }
        for ev in result["events"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let item = event(&st.backend, ev).await;
            st.pending.push_back(item);
        }
    }
}

async fn event(backend: &EtcdBackend, ev: &Value) -> Result<WatchEvent> {
    if ev["type"].as_str() == Some("DELETE") {
        let key = String::from_utf8(decode(&ev["kv"]["key"])?)
            .map_err(|_| DiscoveryError::protocol(NAME, "non-UTF-8 key"))?;
        let rest = key.strip_prefix(&backend.base).unwrap_or(&key);
        let (service, id) = rest.split_once('/').unwrap_or((rest, ""));
        let reason = match parse_record(&ev["prev_kv"]) {
            Ok(prev) if !prev.etcd_lease.is_empty() => {
                if backend.lease_alive(&prev.etcd_lease).await? {
                    RemovalReason::Deregistered
                } else {
                    RemovalReason::Expired
                }
            }
            _ => RemovalReason::Unknown,
        };
        return Ok(WatchEvent::Removed {
            service: service.to_owned(),
            id: id.to_owned(),
            reason,
        });
    }
    // PUT events carry no `type` field.
    Ok(WatchEvent::Put(parse_record(&ev["kv"])?.instance))
}
