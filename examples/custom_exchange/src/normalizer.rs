//! Bybit frames → normalized events, with the order-book rules of
//! <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>:
//!
//! * a `snapshot` replaces the book (also when the server restarts the stream with `u = 1`);
//! * a `delta` must carry `u ==` the previous `u` + 1. Anything else is a lost message:
//!   [`Gap`](StatusKind::Gap) + [`BookResync`](StatusKind::BookResync) statuses, the delta is
//!   **not** applied, the book is dropped and [`Action::Resubscribe`] asks for a fresh snapshot
//!   of that one symbol. Deltas before the next snapshot are dropped;
//! * size `"0"` deletes a level; a book that would be crossed is resynced instead of emitted.
//!
//! Emitted `sequence`s are Bybit's `u`, so `BookDelta::prev_sequence` chains to the previous
//! event of the symbol.

use std::collections::HashMap;

use marketprism_core::{
    book::OrderBook,
    model::{
        BookDelta, BookSnapshot, ExchangeId, Instrument, Level, MarketEvent, MarketType, Side,
        Status, StatusKind, Symbol, TimestampNs, Trade, ms_to_ns,
    },
};
use marketprism_exchanges::{
    Action, Channel, ExchangeError, FrameKind, InstrumentMap, Normalizer, Output, RestKind,
};
use serde::de::DeserializeOwned;

use crate::wire::{Frame, OrderBookData, PublicTrade};

/// One symbol's book.
#[derive(Debug)]
struct Book {
    book: OrderBook,
    symbol: Symbol,
    market: MarketType,
    synced: bool,
}

/// The Bybit spot normalizer: trades, and one book per symbol checked on every delta.
#[derive(Debug)]
pub struct BybitNormalizer {
    id: ExchangeId,
    instruments: InstrumentMap,
    depth: Option<usize>,
    books: HashMap<String, Book>,
}

impl BybitNormalizer {
    /// A normalizer over `instruments`, emitting snapshots of at most `depth` levels per side.
    pub fn new(id: ExchangeId, instruments: InstrumentMap, depth: Option<usize>) -> Self {
        BybitNormalizer {
            id,
            instruments,
            depth,
            books: HashMap::new(),
        }
    }

    fn parse<T: DeserializeOwned>(
        &self,
        what: &'static str,
        raw: &str,
    ) -> Result<T, ExchangeError> {
        serde_json::from_str(raw).map_err(|source| ExchangeError::Malformed {
            exchange: self.id,
            what,
            source,
        })
    }

    fn instrument(&self, native: &str) -> Result<&Instrument, ExchangeError> {
        self.instruments
            .by_native(native)
            .map(|i| &**i)
            .ok_or_else(|| ExchangeError::UnknownInstrument {
                exchange: self.id,
                native_symbol: native.to_owned(),
            })
    }

    fn trades(
        &self,
        data: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let trades: Vec<PublicTrade> = self.parse("publicTrade", data)?;
        // Validate everything before emitting anything: a bad frame leaves no events.
        let mut events = Vec::with_capacity(trades.len());
        for t in trades {
            let inst = self.instrument(&t.symbol)?;
            let side = match t.side.as_str() {
                "Buy" => Side::Buy,
                "Sell" => Side::Sell,
                other => {
                    return Err(ExchangeError::Invalid {
                        exchange: self.id,
                        what: "publicTrade",
                        detail: format!("side `{other}`"),
                    });
                }
            };
            events.push(MarketEvent::Trade(Trade {
                exchange: self.id,
                market: inst.market,
                symbol: inst.symbol.clone(),
                trade_id: t.id.as_str().into(),
                side,
                price: t.price,
                size: t.size,
                exchange_ts: ms_to_ns(t.time),
                local_ts,
            }));
        }
        out.events.extend(events);
        Ok(())
    }

    fn book(
        &mut self,
        kind: &str,
        data: &str,
        ts_ms: i64,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let data: OrderBookData = self.parse("orderbook", data)?;
        let inst = self.instrument(&data.symbol)?;
        let (symbol, market) = (inst.symbol.clone(), inst.market);
        let levels = |v: &[(rust_decimal::Decimal, rust_decimal::Decimal)]| {
            v.iter()
                .map(|(p, s)| Level::new(*p, *s))
                .collect::<Vec<_>>()
        };
        let (bids, asks) = (levels(&data.bids), levels(&data.asks));
        let (id, depth) = (self.id, self.depth);
        let b = self
            .books
            .entry(data.symbol.clone())
            .or_insert_with(|| Book {
                book: OrderBook::new(),
                symbol,
                market,
                synced: false,
            });
        let exchange_ts = ms_to_ns(ts_ms);
        match kind {
            "snapshot" => {
                b.book.replace(data.update_id, &bids, &asks);
                if b.book.is_crossed() {
                    resync(
                        id,
                        b,
                        &data.symbol,
                        "crossed snapshot".into(),
                        None,
                        local_ts,
                        out,
                    );
                    return Ok(());
                }
                b.synced = true;
                let (bids, asks) = b.book.top(depth.unwrap_or(usize::MAX));
                out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
                    exchange: id,
                    market: b.market,
                    symbol: b.symbol.clone(),
                    sequence: data.update_id,
                    bids,
                    asks,
                    exchange_ts,
                    local_ts,
                    top_n: None,
                }));
            }
            "delta" => {
                if !b.synced {
                    // Waiting for the snapshot that follows a resync: already reported.
                    return Ok(());
                }
                let prev = b.book.sequence();
                let expected = prev.saturating_add(1);
                if data.update_id != expected {
                    let reason = format!("update id gap: u {} after {prev}", data.update_id);
                    let gap = Some((expected, data.update_id));
                    resync(id, b, &data.symbol, reason, gap, local_ts, out);
                    return Ok(());
                }
                b.book.apply_unchecked(data.update_id, &bids, &asks);
                if b.book.is_crossed() {
                    resync(
                        id,
                        b,
                        &data.symbol,
                        "delta crosses the book".into(),
                        None,
                        local_ts,
                        out,
                    );
                    return Ok(());
                }
                out.events.push(MarketEvent::BookDelta(BookDelta {
                    exchange: id,
                    market: b.market,
                    symbol: b.symbol.clone(),
                    prev_sequence: prev,
                    sequence: data.update_id,
                    bids,
                    asks,
                    exchange_ts,
                    local_ts,
                }));
            }
            other => {
                return Err(ExchangeError::Unsupported {
                    exchange: id,
                    detail: format!("orderbook type `{other}`"),
                });
            }
        }
        Ok(())
    }
}

/// Drops the book, reports why (with the gap when there is one) and asks for a resubscribe.
fn resync(
    id: ExchangeId,
    b: &mut Book,
    native: &str,
    reason: String,
    gap: Option<(u64, u64)>,
    local_ts: TimestampNs,
    out: &mut Output,
) {
    b.synced = false;
    b.book.replace(0, &[], &[]);
    let status = |kind| {
        MarketEvent::Status(Status::new(
            id,
            b.market,
            Some(b.symbol.clone()),
            local_ts,
            kind,
        ))
    };
    if let Some((expected, received)) = gap {
        out.events
            .push(status(StatusKind::Gap { expected, received }));
    }
    out.events.push(status(StatusKind::BookResync { reason }));
    out.actions.push(Action::Resubscribe {
        native_symbol: native.to_owned(),
        channel: Channel::Book,
    });
}

impl Normalizer for BybitNormalizer {
    fn on_frame(
        &mut self,
        frame: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<FrameKind, ExchangeError> {
        let f: Frame<'_> =
            serde_json::from_str(frame).map_err(|source| ExchangeError::Malformed {
                exchange: self.id,
                what: "frame",
                source,
            })?;
        if let Some(op) = f.op.as_deref() {
            return Ok(match (op, f.success) {
                ("ping" | "pong", _) => FrameKind::Heartbeat,
                (_, Some(false)) => FrameKind::ExchangeError {
                    code: op.to_owned(),
                    message: f.ret_msg.unwrap_or_default(),
                },
                _ => FrameKind::SubscriptionAck,
            });
        }
        let (Some(topic), Some(data)) = (f.topic.as_deref(), f.data) else {
            return Err(ExchangeError::Unsupported {
                exchange: self.id,
                detail: "frame without topic or op".into(),
            });
        };
        if topic.starts_with("publicTrade.") {
            self.trades(data.get(), local_ts, out)?;
        } else if topic.starts_with("orderbook.") {
            let kind = f.kind.as_deref().unwrap_or_default();
            let ts = f.cts.or(f.ts).unwrap_or_default();
            self.book(kind, data.get(), ts, local_ts, out)?;
        } else {
            return Err(ExchangeError::Unsupported {
                exchange: self.id,
                detail: format!("topic `{topic}`"),
            });
        }
        Ok(FrameKind::Data)
    }

    /// Bybit spot needs no REST answers here (books sync from the WebSocket).
    fn on_rest(
        &mut self,
        kind: &RestKind,
        _body: &str,
        _local_ts: TimestampNs,
        _out: &mut Output,
    ) -> Result<(), ExchangeError> {
        Err(ExchangeError::Unsupported {
            exchange: self.id,
            detail: format!("REST answer {kind:?}"),
        })
    }

    fn on_disconnect(&mut self, local_ts: TimestampNs, out: &mut Output) {
        for b in self.books.values_mut().filter(|b| b.synced) {
            b.synced = false;
            b.book.replace(0, &[], &[]);
            out.events.push(MarketEvent::Status(Status::new(
                self.id,
                b.market,
                Some(b.symbol.clone()),
                local_ts,
                StatusKind::BookResync {
                    reason: "disconnected".into(),
                },
            )));
        }
    }

    fn emit_books(&mut self, local_ts: TimestampNs, out: &mut Output) {
        for b in self.books.values().filter(|b| b.synced) {
            let (bids, asks) = b.book.top(self.depth.unwrap_or(usize::MAX));
            out.events.push(MarketEvent::BookSnapshot(BookSnapshot {
                exchange: self.id,
                market: b.market,
                symbol: b.symbol.clone(),
                sequence: b.book.sequence(),
                bids,
                asks,
                exchange_ts: local_ts,
                local_ts,
                top_n: None,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> BybitNormalizer {
        let id = ExchangeId::new("bybit").expect("id");
        let mut map = InstrumentMap::new();
        map.insert(Instrument::new(
            id,
            MarketType::Spot,
            "BTCUSDT",
            "BTC",
            "USDT",
        ));
        BybitNormalizer::new(id, map, None)
    }

    fn book_frame(kind: &str, u: u64, bids: &str, asks: &str) -> String {
        format!(
            r#"{{"topic":"orderbook.50.BTCUSDT","type":"{kind}","ts":1672304484978,"data":{{"s":"BTCUSDT","b":{bids},"a":{asks},"u":{u},"seq":7961638724}},"cts":1672304484976}}"#
        )
    }

    #[test]
    fn deltas_chain_and_a_gap_resubscribes() {
        let mut n = normalizer();
        let mut out = Output::new();
        let snap = book_frame("snapshot", 10, r#"[["100.0","1"]]"#, r#"[["101.0","2"]]"#);
        assert_eq!(
            n.on_frame(&snap, 1, &mut out).expect("snapshot"),
            FrameKind::Data
        );
        let delta = book_frame("delta", 11, r#"[["100.0","0"],["99.5","3"]]"#, "[]");
        n.on_frame(&delta, 2, &mut out).expect("delta");
        match &out.events[..] {
            [MarketEvent::BookSnapshot(s), MarketEvent::BookDelta(d)] => {
                assert_eq!(s.sequence, 10);
                assert_eq!((d.prev_sequence, d.sequence), (10, 11));
            }
            other => panic!("{other:?}"),
        }
        out.clear();
        let gap = book_frame("delta", 13, "[]", r#"[["101.0","0"]]"#);
        n.on_frame(&gap, 3, &mut out).expect("gap");
        assert!(matches!(
            out.events[0],
            MarketEvent::Status(Status {
                kind: StatusKind::Gap {
                    expected: 12,
                    received: 13
                },
                ..
            })
        ));
        assert!(
            matches!(&out.events[1], MarketEvent::Status(s) if matches!(s.kind, StatusKind::BookResync { .. }))
        );
        assert_eq!(
            out.actions,
            [Action::Resubscribe {
                native_symbol: "BTCUSDT".into(),
                channel: Channel::Book
            }]
        );
        out.clear();
        // Deltas are dropped until the fresh snapshot (the server restarted with u = 1).
        n.on_frame(&book_frame("delta", 14, "[]", "[]"), 4, &mut out)
            .expect("dropped");
        assert!(out.events.is_empty());
        n.on_frame(
            &book_frame("snapshot", 1, r#"[["99.0","1"]]"#, "[]"),
            5,
            &mut out,
        )
        .expect("snap");
        n.on_frame(
            &book_frame("delta", 2, r#"[["98.0","1"]]"#, "[]"),
            6,
            &mut out,
        )
        .expect("delta");
        assert!(
            matches!(&out.events[1], MarketEvent::BookDelta(d) if d.prev_sequence == 1 && d.sequence == 2)
        );
    }

    #[test]
    fn trades_control_frames_and_bad_frames() {
        let mut n = normalizer();
        let mut out = Output::new();
        let trade = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Sell","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#;
        n.on_frame(trade, 9, &mut out).expect("trade");
        match &out.events[..] {
            [MarketEvent::Trade(t)] => {
                assert_eq!(t.side, Side::Sell);
                assert_eq!(t.price.to_string(), "16578.50");
                assert_eq!(t.exchange_ts, 1_672_304_486_865_000_000);
                assert_eq!(t.symbol.as_str(), "BTC-USDT");
            }
            other => panic!("{other:?}"),
        }
        let ack = r#"{"success":true,"ret_msg":"subscribe","conn_id":"c","op":"subscribe"}"#;
        assert_eq!(
            n.on_frame(ack, 1, &mut out).expect("ack"),
            FrameKind::SubscriptionAck
        );
        let pong = r#"{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}"#;
        assert_eq!(
            n.on_frame(pong, 1, &mut out).expect("pong"),
            FrameKind::Heartbeat
        );
        let err = r#"{"success":false,"ret_msg":"error:handler not found","conn_id":"c","op":"subscribe"}"#;
        assert!(matches!(
            n.on_frame(err, 1, &mut out),
            Ok(FrameKind::ExchangeError { .. })
        ));
        out.clear();
        let unknown = trade.replace("\"s\":\"BTCUSDT\"", "\"s\":\"XYZUSDT\"");
        assert!(n.on_frame(&unknown, 1, &mut out).is_err());
        assert!(n.on_frame("{not json", 1, &mut out).is_err());
        assert!(out.events.is_empty());
    }
}
