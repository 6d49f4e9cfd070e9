//! Market-data payloads other than the book: trades, book ticker, tickers, klines, mark
//! price, liquidations. Field letters are Binance's; the doc comment of each struct shows a
//! real corpus line (shortened) and links the docs page.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::de;

/// `<symbol>@trade` (spot; USDⓈ-M/COIN-M also serve it with `X` and without `M`).
///
/// ```json
/// {"e":"trade","E":1639351062244,"s":"ETHUSDT","t":705291099,"p":"4149.74000000","q":"0.43870000","b":7038593583,"a":7038593613,"T":1639351062243,"m":true,"M":true}
/// {"e":"trade","E":1596034530241,"T":1596034530235,"s":"ETHUSDT","t":73701056,"p":"2366.55","q":"0.070","X":"INSURANCE_FUND","m":true}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#trade-streams>
#[derive(Debug, Deserialize)]
pub(crate) struct TradeMsg<'a> {
    /// Event time (ms).
    #[serde(rename = "E")]
    pub(crate) event_time: i64,
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// Trade id.
    #[serde(rename = "t")]
    pub(crate) trade_id: u64,
    /// Price.
    #[serde(rename = "p", deserialize_with = "de::decimal")]
    pub(crate) price: Decimal,
    /// Quantity.
    #[serde(rename = "q", deserialize_with = "de::decimal")]
    pub(crate) qty: Decimal,
    /// Trade time (ms).
    #[serde(rename = "T")]
    pub(crate) trade_time: Option<i64>,
    /// Buyer is the maker (so the taker sold).
    #[serde(rename = "m")]
    pub(crate) buyer_is_maker: bool,
    /// Futures execution type (`MARKET`, `INSURANCE_FUND`, `ADL`, `NA`).
    #[serde(rename = "X", default, borrow)]
    pub(crate) exec_type: Option<&'a str>,
}

/// `<symbol>@aggTrade`. USDⓈ-M frames have no `M`; one 2019 USDⓈ-M capture even lacks `a`.
///
/// ```json
/// {"e":"aggTrade","E":1633998523963,"s":"NKNUSDT","a":15683430,"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,"T":1633998523963,"m":false,"M":true}
/// {"e":"aggTrade","E":1626992741575,"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,"m":false}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#aggregate-trade-streams>
#[derive(Debug, Deserialize)]
pub(crate) struct AggTradeMsg<'a> {
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// Aggregate trade id.
    #[serde(rename = "a")]
    pub(crate) agg_id: Option<u64>,
    /// Price.
    #[serde(rename = "p", deserialize_with = "de::decimal")]
    pub(crate) price: Decimal,
    /// Quantity.
    #[serde(rename = "q", deserialize_with = "de::decimal")]
    pub(crate) qty: Decimal,
    /// First trade id.
    #[serde(rename = "f")]
    pub(crate) first_id: u64,
    /// Last trade id.
    #[serde(rename = "l")]
    pub(crate) last_id: u64,
    /// Trade time (ms).
    #[serde(rename = "T")]
    pub(crate) trade_time: i64,
    /// Buyer is the maker.
    #[serde(rename = "m")]
    pub(crate) buyer_is_maker: bool,
}

/// `<symbol>@bookTicker`. Spot has no `e`, `E` or `T`; futures have all three.
///
/// ```json
/// {"u":499869768,"s":"NKNUSDT","b":"0.35210000","B":"672.00000000","a":"0.35260000","A":"3199.00000000"}
/// {"e":"bookTicker","u":600859600576,"s":"SUSHIUSDT","b":"7.6110","B":"2","a":"7.6120","A":"297","T":1626992741012,"E":1626992741017}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#individual-symbol-book-ticker-streams>
#[derive(Debug, Deserialize)]
pub(crate) struct BookTickerMsg<'a> {
    /// Order-book update id.
    #[serde(rename = "u")]
    pub(crate) update_id: u64,
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// Best bid price.
    #[serde(rename = "b", deserialize_with = "de::decimal")]
    pub(crate) bid_price: Decimal,
    /// Best bid quantity.
    #[serde(rename = "B", deserialize_with = "de::decimal")]
    pub(crate) bid_qty: Decimal,
    /// Best ask price.
    #[serde(rename = "a", deserialize_with = "de::decimal")]
    pub(crate) ask_price: Decimal,
    /// Best ask quantity.
    #[serde(rename = "A", deserialize_with = "de::decimal")]
    pub(crate) ask_qty: Decimal,
    /// Event time (futures).
    #[serde(rename = "E")]
    pub(crate) event_time: Option<i64>,
    /// Transaction time (futures).
    #[serde(rename = "T")]
    pub(crate) transaction_time: Option<i64>,
}

/// `24hrTicker`, `24hrMiniTicker` and the rolling-window `1hTicker`/`4hTicker`/`1dTicker`:
/// one struct, the optional fields are absent from the smaller variants.
///
/// ```json
/// {"e":"24hrTicker","E":1653812650349,"s":"ETHUSDT","p":"28.23000000","P":"1.600","w":"1781.16275609","x":"1764.61000000","c":"1792.84000000","Q":"0.55720000","b":"1792.83000000","B":"1.62740000","a":"1792.84000000","A":"20.29140000","o":"1764.61000000","h":"1808.98000000","l":"1748.94000000","v":"471703.53110000","q":"840180761.51358100","O":1653726250344,"C":1653812650344,"F":841094172,"L":841646650,"n":552479}
/// {"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#individual-symbol-ticker-streams>
#[derive(Debug, Deserialize)]
pub(crate) struct TickerMsg<'a> {
    /// Event time (ms).
    #[serde(rename = "E")]
    pub(crate) event_time: i64,
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// Last price.
    #[serde(rename = "c", deserialize_with = "de::decimal")]
    pub(crate) last: Decimal,
    /// Open price of the window.
    #[serde(rename = "o", default, deserialize_with = "de::opt_decimal")]
    pub(crate) open: Option<Decimal>,
    /// High.
    #[serde(rename = "h", default, deserialize_with = "de::opt_decimal")]
    pub(crate) high: Option<Decimal>,
    /// Low.
    #[serde(rename = "l", default, deserialize_with = "de::opt_decimal")]
    pub(crate) low: Option<Decimal>,
    /// Base volume (contracts on COIN-M).
    #[serde(rename = "v", default, deserialize_with = "de::opt_decimal")]
    pub(crate) volume: Option<Decimal>,
    /// Quote volume (base-asset volume on COIN-M).
    #[serde(rename = "q", default, deserialize_with = "de::opt_decimal")]
    pub(crate) quote_volume: Option<Decimal>,
    /// Best bid (spot 24 h ticker only).
    #[serde(rename = "b", default, deserialize_with = "de::opt_decimal")]
    pub(crate) best_bid: Option<Decimal>,
    /// Best ask (spot 24 h ticker only).
    #[serde(rename = "a", default, deserialize_with = "de::opt_decimal")]
    pub(crate) best_ask: Option<Decimal>,
}

/// `<symbol>@kline_<interval>`.
///
/// ```json
/// {"e":"kline","E":1633998523963,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":19862761,"L":19862790,"o":"0.35270000","c":"0.35280000","h":"0.35280000","l":"0.35220000","v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000","Q":"20.46240000","B":"0"}}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#klinecandlestick-streams-for-utc>
#[derive(Debug, Deserialize)]
pub(crate) struct KlineMsg<'a> {
    /// Event time (ms).
    #[serde(rename = "E")]
    pub(crate) event_time: i64,
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// The candle.
    #[serde(rename = "k", borrow)]
    pub(crate) k: KlineBody<'a>,
}

/// The `k` object of a kline event.
#[derive(Debug, Deserialize)]
pub(crate) struct KlineBody<'a> {
    /// Open time (ms).
    #[serde(rename = "t")]
    pub(crate) open_time: i64,
    /// Interval (`1m`, `1M`, ...).
    #[serde(rename = "i")]
    pub(crate) interval: &'a str,
    /// Open.
    #[serde(rename = "o", deserialize_with = "de::decimal")]
    pub(crate) open: Decimal,
    /// Close (last so far).
    #[serde(rename = "c", deserialize_with = "de::decimal")]
    pub(crate) close: Decimal,
    /// High.
    #[serde(rename = "h", deserialize_with = "de::decimal")]
    pub(crate) high: Decimal,
    /// Low.
    #[serde(rename = "l", deserialize_with = "de::decimal")]
    pub(crate) low: Decimal,
    /// Volume (base; contracts on COIN-M).
    #[serde(rename = "v", deserialize_with = "de::decimal")]
    pub(crate) volume: Decimal,
    /// Quote volume (base-asset volume on COIN-M).
    #[serde(rename = "q", default, deserialize_with = "de::opt_decimal")]
    pub(crate) quote_volume: Option<Decimal>,
    /// Candle closed.
    #[serde(rename = "x")]
    pub(crate) closed: bool,
}

/// `<symbol>@markPrice[@1s]` and `!markPrice@arr` elements (futures).
///
/// ```json
/// {"e":"markPriceUpdate","E":1617308820003,"s":"BTCUSDT","p":"58940.14924532","P":"58905.14663658","i":"58857.26693664","r":"0.00058455","T":1617321600000}
/// {"e":"markPriceUpdate","E":1609830121004,"s":"BTCBUSD_210129","p":"31799.27730000","P":"31235.82439517","i":"31307.03400000","r":"0.00000000","T":0}
/// ```
///
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Mark-Price-Stream>
#[derive(Debug, Deserialize)]
pub(crate) struct MarkPriceMsg<'a> {
    /// Event time (ms).
    #[serde(rename = "E")]
    pub(crate) event_time: i64,
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// Mark price.
    #[serde(rename = "p", deserialize_with = "de::decimal")]
    pub(crate) mark: Decimal,
    /// Index price (absent in some 2019 frames).
    #[serde(rename = "i", default, deserialize_with = "de::opt_decimal")]
    pub(crate) index: Option<Decimal>,
    /// Funding rate (`""` for COIN-M delivery contracts).
    #[serde(rename = "r", default, deserialize_with = "de::opt_decimal")]
    pub(crate) funding_rate: Option<Decimal>,
    /// Next funding time (ms; 0 for delivery contracts).
    #[serde(rename = "T", default)]
    pub(crate) next_funding_time: Option<i64>,
}

/// `<symbol>@forceOrder` and `!forceOrder@arr` (futures).
///
/// ```json
/// {"e":"forceOrder","E":1584059031426,"o":{"s":"BTCUSDT","S":"BUY","o":"LIMIT","f":"IOC","q":"0.014","p":"4793.91","ap":"4706.04","X":"FILLED","l":"0.015","z":"0.014","T":1584059031421}}
/// ```
///
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Liquidation-Order-Streams>
#[derive(Debug, Deserialize)]
pub(crate) struct ForceOrderMsg<'a> {
    /// The liquidation order.
    #[serde(rename = "o", borrow)]
    pub(crate) order: ForceOrderBody<'a>,
}

/// The `o` object of a forceOrder event.
#[derive(Debug, Deserialize)]
pub(crate) struct ForceOrderBody<'a> {
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// Side of the liquidation order (`BUY`/`SELL`).
    #[serde(rename = "S")]
    pub(crate) side: &'a str,
    /// Original quantity.
    #[serde(rename = "q", deserialize_with = "de::decimal")]
    pub(crate) qty: Decimal,
    /// Order (bankruptcy) price.
    #[serde(rename = "p", deserialize_with = "de::decimal")]
    pub(crate) price: Decimal,
    /// Average fill price.
    #[serde(rename = "ap", default, deserialize_with = "de::opt_decimal")]
    pub(crate) avg_price: Option<Decimal>,
    /// Accumulated filled quantity.
    #[serde(rename = "z", default, deserialize_with = "de::opt_decimal")]
    pub(crate) filled: Option<Decimal>,
    /// Trade time (ms).
    #[serde(rename = "T")]
    pub(crate) trade_time: i64,
}

/// Spot `<symbol>@avgPrice` — recognized (its symbol checked), mapped to no event (the
/// model has no "average price" event; it is neither a mark nor an index price).
///
/// ```json
/// {"e":"avgPrice","E":1693907033000,"s":"BTCUSDT","i":"5m","w":"25776.86000000","T":1693907032213}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#average-price>
#[derive(Debug, Deserialize)]
pub(crate) struct AvgPriceMsg<'a> {
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a, T: Deserialize<'a>>(s: &'a str) -> T {
        serde_json::from_str(s).expect("valid json")
    }

    #[test]
    fn trade() {
        let t: TradeMsg<'_> = parse(
            r#"{"e":"trade","E":1639351062244,"s":"ETHUSDT","t":705291099,"p":"4149.74000000","q":"0.43870000","b":7038593583,"a":7038593613,"T":1639351062243,"m":true,"M":true}"#,
        );
        assert_eq!(
            (t.symbol, t.trade_id, t.trade_time),
            ("ETHUSDT", 705291099, Some(1639351062243))
        );
        assert_eq!(t.price.to_string(), "4149.74000000");
        assert!(t.buyer_is_maker && t.exec_type.is_none());
        let t: TradeMsg<'_> = parse(
            r#"{"e":"trade","E":1596034530241,"T":1596034530235,"s":"ETHUSDT","t":73701056,"p":"2366.55","q":"0.070","X":"INSURANCE_FUND","m":true}"#,
        );
        assert_eq!(t.exec_type, Some("INSURANCE_FUND"));
    }

    #[test]
    fn agg_trade() {
        let t: AggTradeMsg<'_> = parse(
            r#"{"e":"aggTrade","E":1626992741575,"a":16599292,"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,"m":false}"#,
        );
        assert_eq!(
            (t.agg_id, t.first_id, t.last_id),
            (Some(16599292), 23961322, 23961322)
        );
        assert_eq!(t.price.to_string(), "1.01100");
    }

    #[test]
    fn book_ticker() {
        let b: BookTickerMsg<'_> = parse(
            r#"{"u":499869768,"s":"NKNUSDT","b":"0.35210000","B":"672.00000000","a":"0.35260000","A":"3199.00000000"}"#,
        );
        assert_eq!((b.update_id, b.event_time), (499869768, None));
        assert_eq!(b.ask_qty.to_string(), "3199.00000000");
        let b: BookTickerMsg<'_> = parse(
            r#"{"e":"bookTicker","u":600859600576,"s":"SUSHIUSDT","b":"7.6110","B":"2","a":"7.6120","A":"297","T":1626992741012,"E":1626992741017}"#,
        );
        assert_eq!(
            (b.transaction_time, b.event_time),
            (Some(1626992741012), Some(1626992741017))
        );
    }

    #[test]
    fn tickers() {
        let t: TickerMsg<'_> = parse(
            r#"{"e":"24hrTicker","E":1653812650349,"s":"ETHUSDT","p":"28.23000000","P":"1.600","w":"1781.16275609","x":"1764.61000000","c":"1792.84000000","Q":"0.55720000","b":"1792.83000000","B":"1.62740000","a":"1792.84000000","A":"20.29140000","o":"1764.61000000","h":"1808.98000000","l":"1748.94000000","v":"471703.53110000","q":"840180761.51358100","O":1653726250344,"C":1653812650344,"F":841094172,"L":841646650,"n":552479}"#,
        );
        assert_eq!(
            t.best_bid.map(|d| d.to_string()).as_deref(),
            Some("1792.83000000")
        );
        assert_eq!(
            t.low.map(|d| d.to_string()).as_deref(),
            Some("1748.94000000")
        );
        let t: TickerMsg<'_> = parse(
            r#"{"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}"#,
        );
        assert_eq!(t.best_ask, None);
        assert_eq!(t.quote_volume, Some(Decimal::from(18)));
    }

    #[test]
    fn kline() {
        let k: KlineMsg<'_> = parse(
            r#"{"e":"kline","E":1633998523963,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":19862761,"L":19862790,"o":"0.35270000","c":"0.35280000","h":"0.35280000","l":"0.35220000","v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000","Q":"20.46240000","B":"0"}}"#,
        );
        assert_eq!(
            (k.k.interval, k.k.open_time, k.k.closed),
            ("1m", 1633998480000, false)
        );
        assert_eq!(k.k.low.to_string(), "0.35220000");
    }

    #[test]
    fn mark_price() {
        let m: MarkPriceMsg<'_> = parse(
            r#"{"e":"markPriceUpdate","E":1609830121004,"s":"BTCBUSD_210129","p":"31799.27730000","P":"31235.82439517","i":"31307.03400000","r":"0.00000000","T":0}"#,
        );
        assert_eq!(m.next_funding_time, Some(0));
        assert_eq!(
            m.index.map(|d| d.to_string()).as_deref(),
            Some("31307.03400000")
        );
        let m: MarkPriceMsg<'_> = parse(
            r#"{"e":"markPriceUpdate","E":1596095725000,"s":"BTCUSD_201225","p":"10934.62615417","P":"10962.17178236","i":"10933.62615417","r":"","T":0}"#,
        );
        assert_eq!(m.funding_rate, None);
    }

    #[test]
    fn force_order() {
        let f: ForceOrderMsg<'_> = parse(
            r#"{"e":"forceOrder","E":1584059031426,"o":{"s":"BTCUSDT","S":"BUY","o":"LIMIT","f":"IOC","q":"0.014","p":"4793.91","ap":"4706.04","X":"FILLED","l":"0.015","z":"0.014","T":1584059031421}}"#,
        );
        assert_eq!((f.order.symbol, f.order.side), ("BTCUSDT", "BUY"));
        assert_eq!(
            f.order.avg_price.map(|d| d.to_string()).as_deref(),
            Some("4706.04")
        );
    }

    #[test]
    fn avg_price() {
        let a: AvgPriceMsg<'_> = parse(
            r#"{"e":"avgPrice","E":1693907033000,"s":"BTCUSDT","i":"5m","w":"25776.86000000","T":1693907032213}"#,
        );
        assert_eq!(a.symbol, "BTCUSDT");
    }
}
