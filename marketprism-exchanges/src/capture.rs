//! Raw capture and replay.
//!
//! A capture is a JSON-lines file; every line is one [`CaptureRecord`] with the local receive
//! time in nanoseconds. The format is documented in `docs/capture-format.md`:
//!
//! ```json
//! {"kind":"instruments","ts":1715000000000000000,"venue":"okx","body":"{\"code\":\"0\",\"data\":[...]}"}
//! {"kind":"ws","ts":1715000000100000000,"venue":"okx","conn":"okx#1.1","frame":"{\"arg\":{...},\"data\":[...]}"}
//! {"kind":"rest","ts":1715000000200000000,"venue":"binance-spot","conn":"binance-spot#1.1","request":{"type":"depth_snapshot","native_symbol":"BTCUSDT"},"body":"{...}"}
//! {"kind":"disconnected","ts":1715000000300000000,"venue":"okx","conn":"okx#1.1","reason":"stalled"}
//! ```
//!
//! [`replay`] runs a capture through the same normalizers as the live path (one per
//! connection, as live), so books, gaps and resyncs come out exactly as they would have.
//! Venues are found by [`Exchange::name`]: [`replay`] knows the built-ins,
//! [`replay_with`] takes the list (add your own [`Exchange`]s to
//! [`builtin_exchanges`](crate::builtin_exchanges)).

use std::{
    collections::HashMap,
    io::{BufRead, Write},
    sync::Arc,
};

use marketprism_core::model::{MarketEvent, TimestampNs};
use serde::{Deserialize, Serialize};

use crate::{Exchange, ExchangeError, InstrumentMap, Normalizer, Output, RestKind, find_exchange};

/// One line of a capture file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaptureRecord {
    /// An instruments response (one per request of the venue's instrument list).
    Instruments {
        /// Local receive time (ns).
        ts: TimestampNs,
        /// Venue ([`Exchange::name`]).
        venue: Arc<str>,
        /// Raw body.
        body: String,
    },
    /// A WebSocket text frame.
    Ws {
        /// Local receive time (ns).
        ts: TimestampNs,
        /// Venue ([`Exchange::name`]).
        venue: Arc<str>,
        /// Connection id (frames of one connection share one normalizer in replay).
        conn: String,
        /// The raw frame text.
        frame: String,
    },
    /// A REST response consumed by a connection's normalizer (depth snapshot, polling).
    Rest {
        /// Local receive time (ns).
        ts: TimestampNs,
        /// Venue ([`Exchange::name`]).
        venue: Arc<str>,
        /// Connection id (`poll` for polling tasks).
        conn: String,
        /// What was requested.
        request: RestKind,
        /// Raw body.
        body: String,
    },
    /// A connection ended unexpectedly (its books become unsynced).
    Disconnected {
        /// Local time (ns).
        ts: TimestampNs,
        /// Venue ([`Exchange::name`]).
        venue: Arc<str>,
        /// Connection id.
        conn: String,
        /// Why.
        reason: String,
    },
}

/// Writes capture records as JSON lines.
pub struct CaptureWriter<W: Write> {
    out: W,
}

impl<W: Write> CaptureWriter<W> {
    /// Wraps a writer (use a `BufWriter` for files).
    pub fn new(out: W) -> Self {
        CaptureWriter { out }
    }

    /// Appends one record.
    pub fn write(&mut self, record: &CaptureRecord) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// What a replay saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    /// Lines read.
    pub lines: u64,
    /// Events produced.
    pub events: u64,
    /// Lines or frames that failed (reported through the error callback).
    pub errors: u64,
}

/// Replays a capture of the built-in venues: every produced event goes to `on_event`, every
/// per-line failure (bad line, unknown venue, malformed frame, unknown instrument) to
/// `on_error` with its 1-based line number; the replay goes on after errors.
///
/// ```
/// use marketprism_exchanges::capture::replay;
/// let capture = "";
/// let stats = replay(capture.as_bytes(), Some(1000), |_| {}, |_, _| {})?;
/// assert_eq!(stats.lines, 0);
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn replay<R: BufRead>(
    input: R,
    book_depth: Option<usize>,
    on_event: impl FnMut(&MarketEvent),
    on_error: impl FnMut(u64, &ExchangeError),
) -> std::io::Result<ReplayStats> {
    replay_with(
        input,
        &crate::builtin_exchanges(),
        book_depth,
        on_event,
        on_error,
    )
}

/// Replays a capture, resolving each record's venue name among `exchanges` (see
/// [`find_exchange`]); records of other venues are reported to `on_error`.
///
/// ```
/// use std::sync::Arc;
/// use marketprism_exchanges::{builtin_exchanges, capture::replay_with, Exchange};
/// let exchanges: Vec<Arc<dyn Exchange>> = builtin_exchanges(); // plus your own
/// let capture = r#"{"kind":"ws","ts":1,"venue":"kraken","conn":"kraken#1.1","frame":"{}"}"#;
/// let mut errors = 0;
/// let stats = replay_with(capture.as_bytes(), &exchanges, None, |_| {}, |_, _| errors += 1)?;
/// assert_eq!((stats.errors, errors), (1, 1));
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn replay_with<R: BufRead>(
    input: R,
    exchanges: &[Arc<dyn Exchange>],
    book_depth: Option<usize>,
    mut on_event: impl FnMut(&MarketEvent),
    mut on_error: impl FnMut(u64, &ExchangeError),
) -> std::io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    let mut instruments: HashMap<Arc<str>, InstrumentMap> = HashMap::new();
    let mut normalizers: HashMap<(Arc<str>, String), Box<dyn Normalizer>> = HashMap::new();
    let mut out = Output::new();
    for line in input.lines() {
        let line = line?;
        stats.lines += 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: CaptureRecord = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(source) => {
                stats.errors += 1;
                // A bad capture line belongs to no exchange: report the JSON error as such.
                on_error(
                    stats.lines,
                    &ExchangeError::Core(marketprism_core::Error::Json(source)),
                );
                continue;
            }
        };
        out.clear();
        let result = find_exchange(exchanges, record.venue())
            .ok_or_else(|| {
                ExchangeError::Core(marketprism_core::Error::UnknownName {
                    what: "venue",
                    name: record.venue().to_owned(),
                })
            })
            .and_then(|exchange| {
                apply(
                    record,
                    &**exchange,
                    &mut instruments,
                    &mut normalizers,
                    book_depth,
                    &mut out,
                )
            });
        if let Err(e) = result {
            stats.errors += 1;
            on_error(stats.lines, &e);
        }
        for event in &out.events {
            stats.events += 1;
            on_event(event);
        }
    }
    Ok(stats)
}

impl CaptureRecord {
    /// The venue name of the record.
    pub fn venue(&self) -> &str {
        match self {
            CaptureRecord::Instruments { venue, .. }
            | CaptureRecord::Ws { venue, .. }
            | CaptureRecord::Rest { venue, .. }
            | CaptureRecord::Disconnected { venue, .. } => venue,
        }
    }
}

type Normalizers = HashMap<(Arc<str>, String), Box<dyn Normalizer>>;

/// Feeds one record to its connection's normalizer (created on first use, as live).
fn apply(
    record: CaptureRecord,
    exchange: &dyn Exchange,
    instruments: &mut HashMap<Arc<str>, InstrumentMap>,
    normalizers: &mut Normalizers,
    book_depth: Option<usize>,
    out: &mut Output,
) -> Result<(), ExchangeError> {
    let ctx = (exchange, book_depth);
    match record {
        CaptureRecord::Instruments { venue, body, .. } => exchange
            .parse_instruments(&body)
            .map(|list| instruments.entry(venue).or_default().extend(list)),
        CaptureRecord::Ws {
            ts,
            venue,
            conn,
            frame,
        } => connection_normalizer(normalizers, instruments, ctx, venue, conn)
            .on_frame(&frame, ts, out)
            .map(drop),
        CaptureRecord::Rest {
            ts,
            venue,
            conn,
            request,
            body,
        } => connection_normalizer(normalizers, instruments, ctx, venue, conn)
            .on_rest(&request, &body, ts, out),
        CaptureRecord::Disconnected {
            ts, venue, conn, ..
        } => {
            connection_normalizer(normalizers, instruments, ctx, venue, conn)
                .on_disconnect(ts, out);
            Ok(())
        }
    }
}

fn connection_normalizer<'a>(
    normalizers: &'a mut Normalizers,
    instruments: &HashMap<Arc<str>, InstrumentMap>,
    (exchange, book_depth): (&dyn Exchange, Option<usize>),
    venue: Arc<str>,
    conn: String,
) -> &'a mut Box<dyn Normalizer> {
    normalizers
        .entry((venue, conn))
        .or_insert_with_key(|(venue, _)| {
            exchange.normalizer(
                instruments.get(venue).cloned().unwrap_or_default(),
                book_depth,
            )
        })
}
