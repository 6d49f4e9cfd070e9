//! Bybit v5 public WebSocket and REST messages, as sent on the wire.
//!
//! Numbers arrive as JSON strings and are parsed straight into exact [`Decimal`]s.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope of every WebSocket frame: data pushes carry `topic`, `type`, `ts` and `data`;
/// control answers carry `op`, `success` and `ret_msg`.
///
/// Data push (<https://bybit-exchange.github.io/docs/v5/websocket/public/trade>):
///
/// ```json
/// {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[...]}
/// ```
///
/// Subscribe acknowledgement and pong
/// (<https://bybit-exchange.github.io/docs/v5/ws/connect>):
///
/// ```json
/// {"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","op":"subscribe"}
/// {"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}
/// {"op":"pong","args":["1672304486868"],"conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a"}
/// ```
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    /// `publicTrade.BTCUSDT`, `orderbook.50.BTCUSDT`.
    pub topic: Option<String>,
    /// `snapshot` or `delta`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Time the system generated the push (ms).
    pub ts: Option<i64>,
    /// Matching-engine time of the book data (ms; order book only).
    pub cts: Option<i64>,
    /// The payload, parsed per topic.
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    /// Control frames: `subscribe`, `unsubscribe`, `ping`, `pong`.
    pub op: Option<String>,
    /// Control frames: whether the request succeeded.
    pub success: Option<bool>,
    /// Control frames: a message (`subscribe`, `pong`, or the error).
    pub ret_msg: Option<String>,
}

/// One public trade (`publicTrade.{symbol}`, `data` is an array of these).
///
/// <https://bybit-exchange.github.io/docs/v5/websocket/public/trade>:
///
/// ```json
/// {"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",
///  "i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct PublicTrade {
    /// Trade time (ms).
    #[serde(rename = "T")]
    pub time: i64,
    /// Symbol (`BTCUSDT`).
    #[serde(rename = "s")]
    pub symbol: String,
    /// Taker side: `Buy` or `Sell`.
    #[serde(rename = "S")]
    pub side: String,
    /// Size.
    #[serde(rename = "v")]
    pub size: Decimal,
    /// Price.
    #[serde(rename = "p")]
    pub price: Decimal,
    /// Trade id.
    #[serde(rename = "i")]
    pub id: String,
    /// Price direction (`PlusTick`, `ZeroPlusTick`, `MinusTick`, `ZeroMinusTick`).
    #[serde(rename = "L", default)]
    pub tick_direction: Option<String>,
    /// Block trade.
    #[serde(rename = "BT", default)]
    pub block_trade: bool,
}

/// Order-book data (`orderbook.{depth}.{symbol}`), for `type` `snapshot` and `delta`.
///
/// <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>:
///
/// ```json
/// {"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],
///  "a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724}
/// ```
///
/// A snapshot replaces the book (the server re-sends one with `u = 1` when it restarts the
/// stream); deltas follow with `u` increasing by exactly 1; size `"0"` deletes the level.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderBookData {
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Bids `[price, size]`, best first in snapshots.
    #[serde(rename = "b")]
    pub bids: Vec<(Decimal, Decimal)>,
    /// Asks `[price, size]`, best first in snapshots.
    #[serde(rename = "a")]
    pub asks: Vec<(Decimal, Decimal)>,
    /// Update id: consecutive per symbol and stream.
    #[serde(rename = "u")]
    pub update_id: u64,
    /// Cross sequence (comparable across depths; not consecutive).
    #[serde(default)]
    pub seq: u64,
}

/// `GET /v5/market/instruments-info?category=spot`
/// (<https://bybit-exchange.github.io/docs/v5/market/instrument>):
///
/// ```json
/// {"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT",
///  "baseCoin":"BTC","quoteCoin":"USDT","status":"Trading",
///  "lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.00000001"},
///  "priceFilter":{"tickSize":"0.01"}}]}}
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentsResponse {
    /// 0 on success.
    pub ret_code: i64,
    /// Error message.
    #[serde(default)]
    pub ret_msg: String,
    /// The list.
    pub result: Option<InstrumentsResult>,
}

/// `result` of [`InstrumentsResponse`].
#[derive(Debug, Deserialize)]
pub struct InstrumentsResult {
    /// Instruments.
    #[serde(default)]
    pub list: Vec<SpotInstrument>,
}

/// One spot instrument.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpotInstrument {
    /// `BTCUSDT`.
    pub symbol: String,
    /// `BTC`.
    pub base_coin: String,
    /// `USDT`.
    pub quote_coin: String,
    /// `Trading` when listed and trading.
    pub status: String,
    /// Size precision.
    pub lot_size_filter: Option<LotSizeFilter>,
    /// Price precision.
    pub price_filter: Option<PriceFilter>,
}

/// `lotSizeFilter`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotSizeFilter {
    /// Smallest size increment.
    pub base_precision: Option<Decimal>,
}

/// `priceFilter`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFilter {
    /// Smallest price increment.
    pub tick_size: Option<Decimal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_frame_from_the_docs() {
        let raw = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}"#;
        let frame: Frame<'_> = serde_json::from_str(raw).expect("frame");
        assert_eq!(frame.topic.as_deref(), Some("publicTrade.BTCUSDT"));
        let data = frame.data.expect("data").get();
        let trades: Vec<PublicTrade> = serde_json::from_str(data).expect("trades");
        assert_eq!(trades[0].price, Decimal::new(1_657_850, 2));
        assert_eq!(trades[0].price.to_string(), "16578.50");
        assert_eq!(trades[0].size, Decimal::new(1, 3));
        assert_eq!(trades[0].side, "Buy");
    }

    #[test]
    fn book_frame_from_the_docs() {
        let raw = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#;
        let frame: Frame<'_> = serde_json::from_str(raw).expect("frame");
        assert_eq!(frame.kind.as_deref(), Some("snapshot"));
        assert_eq!(frame.cts, Some(1_672_304_484_976));
        let book: OrderBookData =
            serde_json::from_str(frame.data.expect("data").get()).expect("book");
        assert_eq!(book.update_id, 18_521_288);
        assert_eq!(
            book.bids[0],
            (Decimal::new(1_649_350, 2), Decimal::new(6, 3))
        );
        assert_eq!(book.asks.len(), 2);
    }

    #[test]
    fn control_frames_from_the_docs() {
        let ack = r#"{"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b","op":"subscribe"}"#;
        let frame: Frame<'_> = serde_json::from_str(ack).expect("ack");
        assert_eq!(
            (frame.op.as_deref(), frame.success),
            (Some("subscribe"), Some(true))
        );
        let pong = r#"{"op":"pong","args":["1672304486868"],"conn_id":"0970e817"}"#;
        let frame: Frame<'_> = serde_json::from_str(pong).expect("pong");
        assert_eq!(frame.op.as_deref(), Some("pong"));
    }

    #[test]
    fn instruments_from_the_docs() {
        let raw = r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","innovation":"0","status":"Trading","marginTrading":"both","lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.00000001","minOrderQty":"0.000048","maxOrderQty":"71.73956243","minOrderAmt":"1","maxOrderAmt":"2000000"},"priceFilter":{"tickSize":"0.01"}}],"nextPageCursor":""},"retExtInfo":{},"time":1672712468011}"#;
        let r: InstrumentsResponse = serde_json::from_str(raw).expect("instruments");
        let list = r.result.expect("result").list;
        assert_eq!(list[0].base_coin, "BTC");
        let tick = list[0].price_filter.as_ref().and_then(|p| p.tick_size);
        assert_eq!(tick, Some(Decimal::new(1, 2)));
    }
}
