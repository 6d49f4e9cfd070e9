//! Event identity: what makes two events "the same event".
//!
//! The identity is the JetStream `Nats-Msg-Id` (so republishing an event within the stream's
//! duplicate window is dropped by the server) and the deduplication key of every store (the
//! ClickHouse `ReplacingMergeTree` sorting key, the embedded store's primary key). Because the
//! identity is derived from the event's content and never from when or how often it was sent,
//! any number of redeliveries collapse to one stored row.
//!
//! | event | identity after `{kind}:{exchange}:{market}:{symbol}` |
//! |---|---|
//! | trade, liquidation | `{trade_id}` / `{exchange_ts}:{side}:{price}:{size}` |
//! | book delta, book snapshot | `{sequence}` |
//! | top-N book image (`top_n = Some(n)`) | `{sequence}:top{n}` (same for every collector: the image of one sequence is one event) |
//! | kline | `{interval}:{open_ts}:{exchange_ts}` |
//! | long/short ratio | `{ratio kind}:{period}:{exchange_ts}` |
//! | status | `{status kind}:{exchange_ts}:{connection or detail}` |
//! | every other (BBO, ticker, funding, mark price, open interest, option summary, DVOL) | `{exchange_ts}` |
//!
//! ```
//! use marketprism_core::model::*;
//! use marketprism_storage::identity::event_id;
//! let trade = MarketEvent::Trade(Trade {
//!     exchange: ExchangeId::BINANCE, market: MarketType::Spot, symbol: Symbol::new("BTC-USDT"),
//!     trade_id: "42".into(), side: Side::Buy, price: "1".parse()?, size: "2".parse()?,
//!     exchange_ts: 1, local_ts: 2,
//! });
//! assert_eq!(event_id(&trade), "trade:binance:spot:BTC-USDT:42");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;

use marketprism_core::{
    model::{MarketEvent, RatioKind, Side, StatusKind},
    subject::ALL_SYMBOLS_TOKEN,
};

/// The identity string of `event`; see the module docs.
pub fn event_id(event: &MarketEvent) -> String {
    let mut s = String::with_capacity(64);
    write_event_id(event, &mut s);
    s
}

/// Writes the identity of `event` into `buf` (cleared first).
pub fn write_event_id(event: &MarketEvent, buf: &mut String) {
    buf.clear();
    let symbol = event.symbol().map_or(ALL_SYMBOLS_TOKEN, |s| s.as_str());
    // Writing to a String cannot fail.
    let _ = write!(
        buf,
        "{}:{}:{}:{}:",
        event.kind(),
        event.exchange(),
        event.market(),
        symbol
    );
    let _ = match event {
        MarketEvent::Trade(t) => write!(buf, "{}", t.trade_id),
        MarketEvent::Liquidation(l) => write!(
            buf,
            "{}:{}:{}:{}",
            l.exchange_ts,
            side_str(l.side),
            l.price,
            l.size
        ),
        MarketEvent::BookDelta(d) => write!(buf, "{}", d.sequence),
        MarketEvent::BookSnapshot(s) => match s.top_n {
            Some(n) => write!(buf, "{}:top{n}", s.sequence),
            None => write!(buf, "{}", s.sequence),
        },
        MarketEvent::Kline(k) => write!(buf, "{}:{}:{}", k.interval, k.open_ts, k.exchange_ts),
        MarketEvent::LongShortRatio(r) => write!(
            buf,
            "{}:{}:{}",
            ratio_kind_str(r.kind),
            r.period,
            r.exchange_ts
        ),
        MarketEvent::Status(st) => write!(
            buf,
            "{}:{}:{}",
            st.kind.as_str(),
            st.exchange_ts,
            status_detail(&st.kind)
        ),
        other => write!(buf, "{}", other.exchange_ts()),
    };
}

/// The detail that distinguishes two status events of the same kind at the same time.
pub fn status_detail(kind: &StatusKind) -> String {
    match kind {
        StatusKind::Connected { connection } => connection.clone(),
        StatusKind::Disconnected { connection, .. } => connection.clone(),
        StatusKind::Gap { expected, received } => format!("{expected}-{received}"),
        StatusKind::BookResync { reason } => reason.clone(),
        // A kind newer than this code: its full JSON form still tells two events apart.
        other => serde_json::to_string(other).unwrap_or_else(|_| other.as_str().to_owned()),
    }
}

/// `buy` / `sell`.
pub const fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// The snake_case name of a ratio kind, as in JSON.
pub const fn ratio_kind_str(kind: RatioKind) -> &'static str {
    kind.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketprism_core::model::*;

    #[test]
    fn ids_distinguish_and_repeat() {
        let d = |seq: u64, ts: i64| {
            MarketEvent::BookDelta(BookDelta {
                exchange: ExchangeId::OKX,
                market: MarketType::Perpetual,
                symbol: Symbol::new("BTC-USDT-PERP"),
                prev_sequence: seq - 1,
                sequence: seq,
                bids: vec![],
                asks: vec![],
                exchange_ts: ts,
                local_ts: ts,
            })
        };
        assert_eq!(
            event_id(&d(5, 1)),
            "book_delta:okx:perpetual:BTC-USDT-PERP:5"
        );
        assert_eq!(event_id(&d(5, 1)), event_id(&d(5, 2)));
        assert_ne!(event_id(&d(5, 1)), event_id(&d(6, 1)));
        let s = MarketEvent::Status(Status::new(
            ExchangeId::BINANCE,
            MarketType::Spot,
            None,
            9,
            StatusKind::Connected {
                connection: "c1".into(),
            },
        ));
        assert_eq!(event_id(&s), "status:binance:spot:_all:connected:9:c1");
    }
}
