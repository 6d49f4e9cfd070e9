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

use std::{
    collections::HashMap,
    io::{BufRead, Write},
};

use marketprism_core::model::{MarketEvent, TimestampNs};
use serde::{Deserialize, Serialize};

use crate::{ExchangeError, InstrumentMap, Normalizer, Output, RestKind, Venue, ops::Ops};

/// One line of a capture file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaptureRecord {
    /// An instruments response (one per request of the venue's instrument list).
    Instruments {
        /// Local receive time (ns).
        ts: TimestampNs,
        /// Venue.
        venue: Venue,
        /// Raw body.
        body: String,
    },
    /// A WebSocket text frame.
    Ws {
        /// Local receive time (ns).
        ts: TimestampNs,
        /// Venue.
        venue: Venue,
        /// Connection id (frames of one connection share one normalizer in replay).
        conn: String,
        /// The raw frame text.
        frame: String,
    },
    /// A REST response consumed by a connection's normalizer (depth snapshot, polling).
    Rest {
        /// Local receive time (ns).
        ts: TimestampNs,
        /// Venue.
        venue: Venue,
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
        /// Venue.
        venue: Venue,
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

/// Replays a capture: every produced event goes to `on_event`, every per-line failure
/// (bad line, malformed frame, unknown instrument) to `on_error` with its 1-based line number;
/// the replay goes on after errors.
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
    mut on_event: impl FnMut(&MarketEvent),
    mut on_error: impl FnMut(u64, &ExchangeError),
) -> std::io::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    let mut instruments: HashMap<Venue, InstrumentMap> = HashMap::new();
    let mut normalizers: HashMap<(Venue, String), Box<dyn Normalizer>> = HashMap::new();
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
        let result = match record {
            CaptureRecord::Instruments { venue, body, .. } => {
                (Ops::for_venue(venue).parse_instruments)(&body)
                    .map(|list| instruments.entry(venue).or_default().extend(list))
            }
            CaptureRecord::Ws {
                ts,
                venue,
                conn,
                frame,
            } => normalizer(&mut normalizers, &instruments, venue, conn, book_depth)
                .on_frame(&frame, ts, &mut out)
                .map(drop),
            CaptureRecord::Rest {
                ts,
                venue,
                conn,
                request,
                body,
            } => normalizer(&mut normalizers, &instruments, venue, conn, book_depth)
                .on_rest(&request, &body, ts, &mut out),
            CaptureRecord::Disconnected {
                ts, venue, conn, ..
            } => {
                normalizer(&mut normalizers, &instruments, venue, conn, book_depth)
                    .on_disconnect(ts, &mut out);
                Ok(())
            }
        };
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

fn normalizer<'a>(
    normalizers: &'a mut HashMap<(Venue, String), Box<dyn Normalizer>>,
    instruments: &HashMap<Venue, InstrumentMap>,
    venue: Venue,
    conn: String,
    book_depth: Option<usize>,
) -> &'a mut Box<dyn Normalizer> {
    normalizers.entry((venue, conn)).or_insert_with(|| {
        (Ops::for_venue(venue).normalizer)(
            instruments.get(&venue).cloned().unwrap_or_default(),
            book_depth,
        )
    })
}
