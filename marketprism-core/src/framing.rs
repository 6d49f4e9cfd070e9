//! How events travel on the message bus (NATS JetStream and core subscriptions).
//!
//! A message carries either
//!
//! - **one event**: the payload is the event's JSON ([`MarketEvent`](crate::model::MarketEvent)),
//!   no header needed — what a publisher sends when only one event of a subject is waiting; or
//! - **several events of one subject**: the payload is their JSON, one per line (each line
//!   ends with `\n`), and the header [`EVENTS_HEADER`] holds how many there are. A publisher
//!   sends this when several events of the subject were waiting together (natural batching:
//!   under load, one message instead of many, so the server stores, acks and delivers once).
//!
//! Every consumer reads both forms: [`event_ranges`] gives the byte range of each event.
//! JSON text never contains a raw newline inside a value (serializers escape it), so the line
//! split is exact; a single event may still be pretty-printed, since without the header the
//! whole payload is one event.
//!
//! ```
//! use marketprism_core::framing::{EVENTS_HEADER, event_ranges};
//! let one = br#"{"type":"trade"}"#;
//! assert_eq!(event_ranges(one, None).collect::<Vec<_>>(), [0..16]);
//! let two = b"{\"a\":1}\n{\"b\":2}\n";
//! let ranges: Vec<_> = event_ranges(two, Some("2")).collect();
//! assert_eq!(ranges, [0..7, 8..15]);
//! assert_eq!(EVENTS_HEADER, "MarketPrism-Events");
//! ```

use std::ops::Range;

/// The header naming how many events a message carries (absent: one).
pub const EVENTS_HEADER: &str = "MarketPrism-Events";

/// The byte ranges of the events in a message `payload`, given its [`EVENTS_HEADER`] value:
/// without the header the whole payload (one event); with it, each non-empty line.
pub fn event_ranges<'a>(payload: &'a [u8], events_header: Option<&str>) -> EventRanges<'a> {
    EventRanges {
        payload,
        at: 0,
        lines: events_header.is_some(),
    }
}

/// Iterator of [`event_ranges`].
#[derive(Debug, Clone)]
pub struct EventRanges<'a> {
    payload: &'a [u8],
    at: usize,
    lines: bool,
}

impl Iterator for EventRanges<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if !self.lines {
            // One event: the whole payload, once.
            let whole = (self.at == 0).then_some(0..self.payload.len());
            self.at = self.payload.len().max(1);
            return whole;
        }
        while self.at < self.payload.len() {
            let start = self.at;
            let rest = self.payload.get(start..)?;
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(self.payload.len(), |i| start + i);
            self.at = end + 1;
            if end > start {
                return Some(start..end);
            }
        }
        None
    }
}

/// Appends `event_json` as one line of a several-event payload.
///
/// ```
/// let mut payload = Vec::new();
/// marketprism_core::framing::push_line(&mut payload, br#"{"a":1}"#);
/// marketprism_core::framing::push_line(&mut payload, br#"{"b":2}"#);
/// assert_eq!(payload, b"{\"a\":1}\n{\"b\":2}\n");
/// ```
pub fn push_line(payload: &mut Vec<u8>, event_json: &[u8]) {
    payload.extend_from_slice(event_json);
    payload.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_is_the_whole_payload_even_with_newlines() {
        let pretty = b"{\n  \"a\": 1\n}";
        let ranges: Vec<_> = event_ranges(pretty, None).collect();
        assert_eq!(ranges, std::slice::from_ref(&(0..12)));
    }

    #[test]
    fn lines_skip_empty_ones_and_take_an_unterminated_last_line() {
        let p = b"\n{\"a\":1}\n\n{\"b\":2}";
        assert_eq!(
            event_ranges(p, Some("2")).collect::<Vec<_>>(),
            [1..8, 10..17]
        );
        assert_eq!(event_ranges(b"", Some("0")).count(), 0);
        assert_eq!(event_ranges(b"\n\n", Some("1")).count(), 0);
    }

    #[test]
    fn an_empty_single_payload_is_one_empty_event() {
        // The consumer then fails to decode it and dead-letters the message.
        let ranges: Vec<_> = event_ranges(b"", None).collect();
        assert_eq!(ranges, std::slice::from_ref(&(0..0)));
    }
}
