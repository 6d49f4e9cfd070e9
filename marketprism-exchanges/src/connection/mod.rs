//! Connection supervision: reconnect with capped exponential backoff and jitter, proactive
//! rotation with overlap, and the hand-over between the old and the new session.
//!
//! Rotation (before Binance's 24 h cut, or on `serverShutdown` / OKX `notice`): a second
//! session is opened with the same subscriptions while the first keeps streaming. Until the
//! hand-over, only the new session's trades are forwarded, de-duplicated by trade id against
//! the old session's; once the new session is live (plus a short grace period) the old one is
//! closed and the new one emits a fresh book snapshot per synced book. No trade is lost or
//! duplicated across the switch, and consumers never see two interleaved books.

mod session;

use std::{collections::HashSet, time::Duration};

use compact_str::CompactString;
use marketprism_core::model::{MarketEvent, Symbol};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

pub(crate) use session::SessionParams;

use crate::{ExchangeError, capture::CaptureRecord};

/// Capped exponential backoff with full jitter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// Delay before attempt `attempt` (0-based): uniform in [0.5, 1] × min(cap, base × 2^attempt).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(16));
        self.jittered(exp.min(self.cap))
    }

    /// `d` scaled by a random factor in [0.5, 1] so that many clients do not retry in lockstep.
    pub(crate) fn jittered(&self, d: Duration) -> Duration {
        d.mul_f64(0.5 + unit_random() * 0.5)
    }
}

/// A uniform value in [0, 1) for retry jitter, without a random-number crate: std's
/// `RandomState` is seeded from the OS and differs for every instance.
fn unit_random() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Sends capture records to the writer task (bounded: backpressure, never loss).
#[derive(Clone)]
pub(crate) struct CaptureTx(pub(crate) mpsc::Sender<CaptureRecord>);

impl CaptureTx {
    pub(crate) async fn send(&self, record: CaptureRecord) {
        if self.0.send(record).await.is_err() {
            tracing::error!("capture writer has stopped; capture is incomplete");
        }
    }
}

/// Session → supervisor.
pub(crate) enum SessionMsg {
    Events(u64, Vec<MarketEvent>),
    /// First market-data frame received after subscribing.
    Live(u64),
    /// The snapshots asked for by [`SessionCmd::EmitBooks`] have been sent.
    BooksEmitted(u64),
    /// The exchange announced a disconnect.
    Rotate(u64, String),
    Ended(u64, Result<(), ExchangeError>),
}

/// Supervisor → session.
pub(crate) enum SessionCmd {
    EmitBooks,
    Close,
}

struct Handle {
    id: u64,
    cmd: mpsc::Sender<SessionCmd>,
    started: Instant,
}

/// Supervision settings.
#[derive(Clone, Copy)]
pub(crate) struct SupervisorConfig {
    pub(crate) rotate_after: Option<Duration>,
    pub(crate) overlap_grace: Duration,
    pub(crate) backoff: Backoff,
}

/// Runs sessions for one connection group until `cancel`, forwarding events to `output`.
pub(crate) async fn supervise(
    params: SessionParams,
    config: SupervisorConfig,
    output: mpsc::Sender<MarketEvent>,
    cancel: CancellationToken,
) {
    let (to_sup, mut from_sessions) = mpsc::channel::<SessionMsg>(256);
    let mut next_id = 0u64;
    let spawn = |next_id: &mut u64| {
        *next_id += 1;
        let (cmd_tx, cmd_rx) = mpsc::channel(4);
        let id = *next_id;
        tokio::spawn(session::run_session(
            id,
            params.clone(),
            to_sup.clone(),
            cmd_rx,
        ));
        Handle {
            id,
            cmd: cmd_tx,
            started: Instant::now(),
        }
    };

    let mut current: Option<Handle> = Some(spawn(&mut next_id));
    let mut pending: Option<Handle> = None;
    let mut attempt: u32 = 0;
    let mut reconnect_at: Option<Instant> = None;
    let mut cutover_at: Option<Instant> = None;
    let mut dedup = TradeDedup::default();
    // After a hand-over, the new session's non-trade events wait for its book snapshots.
    let mut awaiting_books: Option<u64> = None;
    let far = Duration::from_secs(86_400 * 365);

    loop {
        let rotate_at = match (&current, &pending, config.rotate_after) {
            (Some(c), None, Some(after)) => c.started + after,
            _ => Instant::now() + far,
        };
        tokio::select! {
            _ = cancel.cancelled() => {
                for h in current.iter().chain(pending.iter()) {
                    let _ = h.cmd.send(SessionCmd::Close).await;
                }
                return;
            }
            Some(msg) = from_sessions.recv() => match msg {
                SessionMsg::Events(id, events) => {
                    let from_current = current.as_ref().is_some_and(|h| h.id == id);
                    for event in events {
                        let forward = match &event {
                            MarketEvent::Trade(t) => dedup.first_sighting(&t.symbol, &t.trade_id),
                            // During an overlap only the current session speaks for books and
                            // state; after a hand-over, the new one starts with its snapshots.
                            MarketEvent::BookSnapshot(_) => from_current,
                            _ => from_current && awaiting_books != Some(id),
                        };
                        if forward && output.send(event).await.is_err() {
                            cancel.cancel();
                        }
                    }
                }
                SessionMsg::BooksEmitted(id) => {
                    if awaiting_books == Some(id) {
                        awaiting_books = None;
                    }
                }
                SessionMsg::Live(id) => {
                    if current.as_ref().is_some_and(|h| h.id == id) {
                        attempt = 0;
                    }
                    if pending.as_ref().is_some_and(|h| h.id == id) {
                        cutover_at = Some(Instant::now() + config.overlap_grace);
                    }
                }
                SessionMsg::Rotate(id, reason) => {
                    if current.as_ref().is_some_and(|h| h.id == id) && pending.is_none() {
                        tracing::info!(%reason, "exchange asked to reconnect; rotating with overlap");
                        dedup.start();
                        pending = Some(spawn(&mut next_id));
                    }
                }
                SessionMsg::Ended(id, result) => {
                    if let Err(e) = &result {
                        tracing::warn!(session = id, error = %e, "session ended");
                        metrics::counter!("marketprism_connection_drops_total").increment(1);
                    }
                    if current.as_ref().is_some_and(|h| h.id == id) {
                        current = None;
                        if let Some(p) = pending.take() {
                            // The old session died during an overlap: hand over at once.
                            let _ = p.cmd.send(SessionCmd::EmitBooks).await;
                            awaiting_books = Some(p.id);
                            current = Some(p);
                            cutover_at = None;
                            dedup.finish_soon();
                        } else {
                            let delay = config.backoff.delay(attempt);
                            attempt = attempt.saturating_add(1);
                            reconnect_at = Some(Instant::now() + delay);
                        }
                    } else if pending.as_ref().is_some_and(|h| h.id == id) {
                        // The new session failed; try the rotation again after a backoff.
                        pending = None;
                        cutover_at = None;
                        dedup.stop();
                    }
                }
            },
            _ = tokio::time::sleep_until(reconnect_at.unwrap_or_else(|| Instant::now() + far)), if reconnect_at.is_some() => {
                reconnect_at = None;
                current = Some(spawn(&mut next_id));
            }
            _ = tokio::time::sleep_until(cutover_at.unwrap_or_else(|| Instant::now() + far)), if cutover_at.is_some() => {
                cutover_at = None;
                if let Some(new) = pending.take() {
                    if let Some(old) = current.take() {
                        let _ = old.cmd.send(SessionCmd::Close).await;
                    }
                    let _ = new.cmd.send(SessionCmd::EmitBooks).await;
                    awaiting_books = Some(new.id);
                    current = Some(new);
                    dedup.finish_soon();
                }
            }
            _ = tokio::time::sleep_until(rotate_at), if config.rotate_after.is_some() && current.is_some() && pending.is_none() => {
                tracing::info!("connection lifetime reached; rotating with overlap");
                dedup.start();
                pending = Some(spawn(&mut next_id));
            }
        }
    }
}

/// Trade de-duplication across an overlap window. Outside a window every trade passes with
/// no lookup (the hot path); inside, ids seen from either session are remembered.
#[derive(Default)]
struct TradeDedup {
    active: bool,
    until: Option<Instant>,
    seen: HashSet<(Symbol, CompactString)>,
}

impl TradeDedup {
    fn start(&mut self) {
        self.active = true;
        self.until = None;
    }

    /// Keep de-duplicating a little after the hand-over: late frames of the old session.
    fn finish_soon(&mut self) {
        self.until = Some(Instant::now() + Duration::from_secs(5));
    }

    fn stop(&mut self) {
        self.active = false;
        self.until = None;
        self.seen.clear();
    }

    fn first_sighting(&mut self, symbol: &Symbol, id: &CompactString) -> bool {
        if !self.active {
            return true;
        }
        if self.until.is_some_and(|u| Instant::now() > u) {
            self.stop();
            return true;
        }
        self.seen.insert((symbol.clone(), id.clone()))
    }
}

/// Shared handles a running stream keeps.
pub(crate) struct Running {
    pub(crate) cancel: CancellationToken,
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Supervisors close their sessions on cancel; anything left (polls) is aborted.
        self.cancel.cancel();
        for task in &self.tasks {
            if task.is_finished() {
                continue;
            }
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let b = Backoff::default();
        for attempt in 0..40 {
            let d = b.delay(attempt);
            assert!(d <= b.cap, "{d:?}");
            let nominal = b.base.saturating_mul(1 << attempt.min(16)).min(b.cap);
            assert!(
                d >= nominal / 2,
                "attempt {attempt}: {d:?} < half of {nominal:?}"
            );
        }
    }

    #[test]
    fn dedup_only_inside_window() {
        let mut d = TradeDedup::default();
        let s = Symbol::new("BTC-USDT");
        let id = CompactString::new("1");
        assert!(d.first_sighting(&s, &id));
        assert!(
            d.first_sighting(&s, &id),
            "outside a window nothing is filtered"
        );
        d.start();
        assert!(d.first_sighting(&s, &id));
        assert!(!d.first_sighting(&s, &id), "duplicate inside the window");
        d.stop();
        assert!(d.first_sighting(&s, &id));
    }
}
