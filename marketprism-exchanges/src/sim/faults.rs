//! Faults the simulator can inject, at start (config) or at run time (`POST /_sim/faults`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Shared, lock};

/// A fault to inject. JSON form: `{"type":"drop","conn":3}`, `{"type":"gap","symbol":"BTCUSDT","skip":5}`,
/// `{"type":"rest_rate_limit","status":429,"retry_after_s":1,"count":2}` …; `conn: null` (or absent)
/// means every connection, `symbol: null` every symbol.
///
/// ```
/// use marketprism_exchanges::sim::Fault;
/// let f: Fault = serde_json::from_str(r#"{"type":"stall","duration_ms":500}"#).unwrap();
/// assert_eq!(f, Fault::Stall { conn: None, duration_ms: 500 });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fault {
    /// Drop connections abruptly (no close frame): one connection, those subscribed to a
    /// symbol, or all.
    Drop {
        /// Connection id (see `/_sim/stats`).
        #[serde(default)]
        conn: Option<u64>,
        /// Only connections subscribed to this native symbol.
        #[serde(default)]
        symbol: Option<String>,
    },
    /// The next diff of the symbol skips `skip` sequence ids (as if messages were lost); the
    /// truth book is unaffected.
    Gap {
        /// Native symbol (all symbols when absent).
        #[serde(default)]
        symbol: Option<String>,
        /// Ids to skip.
        skip: u64,
    },
    /// Stop sending anything (data, pings, pongs, heartbeats) and stop reading for a while.
    Stall {
        /// Connection id (all when absent).
        #[serde(default)]
        conn: Option<u64>,
        /// Duration.
        duration_ms: u64,
    },
    /// Send one frame that is not valid JSON.
    Malformed {
        /// Connection id (all when absent).
        #[serde(default)]
        conn: Option<u64>,
    },
    /// Answer the next `count` REST calls with `status` (429 or 418) and `Retry-After`.
    RestRateLimit {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds.
        retry_after_s: u64,
        /// Number of calls to reject.
        count: u64,
    },
    /// Announce a shutdown (Binance `serverShutdown`, OKX `notice` 64008, Deribit
    /// `platform_state` maintenance), then close after the configured grace period.
    Shutdown {
        /// Connection id (all when absent).
        #[serde(default)]
        conn: Option<u64>,
    },
    /// Close connections once they are `ms` old (existing ones included).
    MaxLifetime {
        /// Maximum connection age.
        ms: u64,
    },
}

/// A command to one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConnCmd {
    Drop,
    Stall(Duration),
    Malformed,
    Shutdown,
}

/// Pending REST rejections.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RestFault {
    pub(crate) status: u16,
    pub(crate) retry_after_s: u64,
    pub(crate) remaining: u64,
}

/// Applies `fault`; returns how many connections (or symbols, REST calls) it targets.
pub(crate) fn inject(shared: &Shared, fault: &Fault) -> usize {
    shared
        .faults_injected
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(?fault, "sim: injecting fault");
    let to_conns = |conn: Option<u64>, symbol: Option<&str>, cmd: ConnCmd| -> usize {
        let conns = lock(&shared.conns);
        let mut n = 0;
        for (id, entry) in conns.iter() {
            if conn.is_some_and(|c| c != *id) {
                continue;
            }
            if symbol.is_some_and(|s| !lock(&entry.info).symbols.contains(s)) {
                continue;
            }
            if entry.cmd.try_send(cmd).is_ok() {
                n += 1;
            }
        }
        n
    };
    match fault {
        Fault::Drop { conn, symbol } => to_conns(*conn, symbol.as_deref(), ConnCmd::Drop),
        Fault::Stall { conn, duration_ms } => to_conns(
            *conn,
            None,
            ConnCmd::Stall(Duration::from_millis(*duration_ms)),
        ),
        Fault::Malformed { conn } => to_conns(*conn, None, ConnCmd::Malformed),
        Fault::Shutdown { conn } => to_conns(*conn, None, ConnCmd::Shutdown),
        Fault::Gap { symbol, skip } => {
            let mut m = lock(&shared.market);
            m.inject_gap(symbol.as_deref(), *skip);
            m.symbols
                .iter()
                .filter(|s| symbol.as_deref().is_none_or(|x| x == &*s.symbol))
                .count()
        }
        Fault::RestRateLimit {
            status,
            retry_after_s,
            count,
        } => {
            *lock(&shared.rest_fault) = Some(RestFault {
                status: *status,
                retry_after_s: *retry_after_s,
                remaining: *count,
            });
            *count as usize
        }
        Fault::MaxLifetime { ms } => {
            shared
                .lifetime
                .send_replace(Some(Duration::from_millis(*ms)));
            lock(&shared.conns).len()
        }
    }
}

/// Takes one pending REST rejection, if any.
pub(crate) fn take_rest_fault(shared: &Shared) -> Option<RestFault> {
    let mut f = lock(&shared.rest_fault);
    let cur = (*f)?;
    if cur.remaining <= 1 {
        *f = None;
    } else {
        *f = Some(RestFault {
            remaining: cur.remaining - 1,
            ..cur
        });
    }
    (cur.remaining > 0).then_some(cur)
}
