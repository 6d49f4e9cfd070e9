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
//! | kline | `{interval}:{open_ts}:{closed}:{high}:{low}:{close}:{volume}` (its content: Deribit's candles carry no time of their own, so a time would differ between collectors) |
//! | long/short ratio | `{ratio kind}:{period}:{exchange_ts}` |
//! | BBO with a sequence (Binance `u`, OKX `seqId`) | `s{sequence}` |
//! | status | `{status kind}:{exchange_ts}:{connection or detail}` |
//! | every other (BBO without sequence, ticker, funding, mark price, open interest, option summary, DVOL) | `{exchange_ts}` |
//!
//! Every part must be the same whichever connection or collector received the event, so
//! that redundant collectors (`collector.assignment.redundancy = 2`) produce one stored copy.
//! That rules out local time: Binance spot `bookTicker` carries no time at all, so its
//! `exchange_ts` is the receive time and differs between collectors. Its update id `u` names
//! the book state the quote was taken from (one id, one quote), so a BBO with a sequence is
//! identified by it. Status events are each collector's own observations (its connections,
//! its takeovers) and are meant to differ.
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
        // Content, not time: an update that changes nothing is the same event, and Deribit's
        // candles have no exchange time (each collector would stamp its own receive time).
        MarketEvent::Kline(k) => write!(
            buf,
            "{}:{}:{}:{}:{}:{}:{}",
            k.interval,
            k.open_ts,
            if k.closed { "c" } else { "o" },
            k.high,
            k.low,
            k.close,
            k.volume
        ),
        MarketEvent::LongShortRatio(r) => write!(
            buf,
            "{}:{}:{}",
            ratio_kind_str(r.kind),
            r.period,
            r.exchange_ts
        ),
        MarketEvent::Bbo(b) => match b.sequence {
            Some(seq) => write!(buf, "s{seq}"),
            None => write!(buf, "{}", b.exchange_ts),
        },
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
        StatusKind::Takeover {
            from,
            dark_since_ns,
        } => format!("{from}:{dark_since_ns}"),
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

    #[test]
    fn kline_identity_is_its_content_not_its_receive_time() {
        let k = |exchange_ts: i64, close: &str| {
            MarketEvent::Kline(Kline {
                exchange: ExchangeId::DERIBIT,
                market: MarketType::Perpetual,
                symbol: Symbol::new("BTC-USD-PERP"),
                interval: "1".into(),
                open_ts: 1_654_079_340_000_000_000,
                open: "31595.5".parse().expect("decimal"),
                high: "31600".parse().expect("decimal"),
                low: "31595.5".parse().expect("decimal"),
                close: close.parse().expect("decimal"),
                volume: "0.02120555".parse().expect("decimal"),
                quote_volume: None,
                closed: false,
                exchange_ts,
                local_ts: exchange_ts,
            })
        };
        // Two collectors receiving the same candle update at different times.
        assert_eq!(event_id(&k(1, "31600")), event_id(&k(2, "31600")));
        assert_eq!(
            event_id(&k(1, "31600")),
            "kline:deribit:perpetual:BTC-USD-PERP:1:1654079340000000000:o:31600:31595.5:31600:0.02120555"
        );
        // A changed candle is another event.
        assert_ne!(event_id(&k(1, "31600")), event_id(&k(1, "31598")));
    }

    #[test]
    fn a_quote_is_identified_by_its_update_id_not_by_when_it_arrived() {
        // Binance spot bookTicker: no exchange time, so each collector stamps its own.
        let bbo = |seq: Option<u64>, ts: i64| {
            MarketEvent::Bbo(Bbo {
                exchange: ExchangeId::BINANCE,
                market: MarketType::Spot,
                symbol: Symbol::new("BTC-USDT"),
                bid_price: "1".parse().expect("decimal"),
                bid_size: "1".parse().expect("decimal"),
                ask_price: "2".parse().expect("decimal"),
                ask_size: "1".parse().expect("decimal"),
                sequence: seq,
                exchange_ts: ts,
                local_ts: ts,
            })
        };
        assert_eq!(event_id(&bbo(Some(7), 1)), "bbo:binance:spot:BTC-USDT:s7");
        assert_eq!(event_id(&bbo(Some(7), 1)), event_id(&bbo(Some(7), 2)));
        assert_ne!(event_id(&bbo(Some(7), 1)), event_id(&bbo(Some(8), 1)));
        assert_eq!(event_id(&bbo(None, 5)), "bbo:binance:spot:BTC-USDT:5");
    }
}
