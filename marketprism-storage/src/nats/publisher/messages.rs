//! From a batch of events to the messages that carry them: grouped by subject (or, in the
//! bulk layout, by venue for the stream and by subject for the live copies), in batch order
//! within a group, each message bounded in events and bytes.

use std::collections::HashMap;

use bytes::Bytes;
use marketprism_core::{framing::push_line, model::MarketEvent, subject::write_subject};

use super::PublisherConfig;
use crate::{
    Result,
    identity::write_event_id,
    nats::{NatsConfig, venue_of},
};

/// One message ready to send.
pub(super) struct Prepared {
    pub(super) subject: String,
    /// `Nats-Msg-Id` (empty for live copies, which JetStream never sees).
    pub(super) id: String,
    pub(super) payload: Bytes,
    /// Events in the payload (above 1: JSON lines with the count header).
    pub(super) events: usize,
}

/// A batch as messages: `stored` go to JetStream and are acked; `live` (the `Bulk` layout
/// only) are the per-symbol copies for core NATS subscribers.
pub(super) struct Messages {
    pub(super) stored: Vec<Prepared>,
    pub(super) live: Vec<Prepared>,
}

/// A message being filled with the events of one group.
struct Filling {
    subject: String,
    first: usize,
    last: usize,
    events: usize,
    /// The events as JSON lines.
    payload: Vec<u8>,
}

impl Filling {
    fn finish(mut self, events: &[MarketEvent], with_id: bool) -> Prepared {
        let mut id = String::new();
        if with_id {
            id.reserve(64);
            if let Some(first) = events.get(self.first) {
                write_event_id(first, &mut id);
            }
        }
        if self.events == 1 {
            // One event: plain JSON, no header, its own identity.
            self.payload.pop();
        } else if let Some(last) = events.get(self.last).filter(|_| with_id) {
            id.push_str("..");
            write_event_id(last, &mut id);
            id.push('#');
            id.push_str(&self.events.to_string());
        }
        Prepared {
            subject: self.subject,
            id,
            payload: Bytes::from(self.payload),
            events: self.events,
        }
    }
}

/// Messages being filled, one open message per group key.
#[derive(Default)]
struct Groups {
    filling: Vec<Filling>,
    /// Group key → its message still open for more events.
    open: HashMap<String, usize>,
}

impl Groups {
    /// Adds event `i` (its JSON in `json`) to the open message of `key`, or opens one on the
    /// subject `subject()`.
    fn push(
        &mut self,
        config: &PublisherConfig,
        key: &str,
        subject: impl FnOnce() -> String,
        i: usize,
        json: &[u8],
    ) {
        let max_events = config.max_events_per_message.max(1);
        let fits = |m: &Filling| {
            m.events < max_events && m.payload.len() + json.len() < config.max_message_bytes
        };
        match self.open.get(key).copied() {
            Some(at) if self.filling.get(at).is_some_and(fits) => {
                if let Some(m) = self.filling.get_mut(at) {
                    push_line(&mut m.payload, json);
                    m.events += 1;
                    m.last = i;
                }
            }
            _ => {
                let mut payload = Vec::with_capacity(json.len() + 1);
                push_line(&mut payload, json);
                if max_events > 1 {
                    match self.open.get_mut(key) {
                        Some(at) => *at = self.filling.len(),
                        None => {
                            self.open.insert(key.to_owned(), self.filling.len());
                        }
                    }
                }
                self.filling.push(Filling {
                    subject: subject(),
                    first: i,
                    last: i,
                    events: 1,
                    payload,
                });
            }
        }
    }

    fn finish(self, events: &[MarketEvent], with_id: bool) -> Vec<Prepared> {
        self.filling
            .into_iter()
            .map(|m| m.finish(events, with_id))
            .collect()
    }
}

/// Groups `events` into messages as `nats.layout` asks, each up to
/// `max_events_per_message` events and `max_message_bytes`.
pub(super) fn prepare(
    nats: &NatsConfig,
    config: &PublisherConfig,
    events: &[MarketEvent],
) -> Result<Messages> {
    let bulk = nats.layout.is_bulk();
    let per_symbol = nats.layout.has_symbol_subjects();
    let mut by_subject = Groups::default();
    let mut by_venue = Groups::default();
    let mut subject = String::with_capacity(64);
    let mut json = Vec::with_capacity(512);
    for (i, e) in events.iter().enumerate() {
        write_subject(e, &mut subject);
        json.clear();
        serde_json::to_writer(&mut json, e)?;
        if per_symbol {
            by_subject.push(config, &subject, || nats.subject_for(&subject), i, &json);
        }
        if bulk {
            let bulk_subject = || nats.bulk_subject_of(&subject);
            by_venue.push(config, venue_of(&subject), bulk_subject, i, &json);
        }
    }
    Ok(if bulk {
        Messages {
            stored: by_venue.finish(events, true),
            live: by_subject.finish(events, false),
        }
    } else {
        Messages {
            stored: by_subject.finish(events, true),
            live: Vec::new(),
        }
    })
}
