//! Elements of the non-book public channels.

use std::fmt;

use rust_decimal::Decimal;
use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, SeqAccess, Visitor},
};

use super::{LenientI64, WireSide, opt_i64};
use crate::de::{Dec, decimal, opt_decimal};

/// `trades` / `trades-all` element
/// (<https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-trades-channel>).
///
/// ```json
/// {"instId":"BTC-USDT","tradeId":"338476307","px":"30236","sz":"0.0002","side":"buy","ts":"1652459224818"}
/// ```
/// (trades.jsonl line 3; current docs add `count`, `source`, `seqId`, ignored here)
#[derive(Debug, Deserialize)]
pub(crate) struct TradeData<'a> {
    /// Instrument.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Trade id.
    #[serde(borrow, rename = "tradeId")]
    pub(crate) trade_id: &'a str,
    /// Price.
    #[serde(deserialize_with = "decimal")]
    pub(crate) px: Decimal,
    /// Size: base currency for spot, contracts for derivatives.
    #[serde(deserialize_with = "decimal")]
    pub(crate) sz: Decimal,
    /// Taker side.
    pub(crate) side: WireSide,
    /// Trade time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
}

/// `tickers` element
/// (<https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-tickers-channel>).
///
/// ```json
/// {"instType":"SPOT","instId":"BTC-USDT","last":"30236","lastSz":"0.0002","askPx":"30228.7","askSz":"1.55896972",
///  "bidPx":"30228.6","bidSz":"0.23393","open24h":"29700.4","high24h":"31073","low24h":"28020.3",
///  "sodUtc0":"29028.8","sodUtc8":"30337.7","volCcy24h":"525802090.62716611","vol24h":"17602.13085371","ts":"1652459224956"}
/// ```
/// (tickers.jsonl line 3; options send `"bidPx":""` when there is no bid)
#[derive(Debug, Deserialize)]
pub(crate) struct TickerData<'a> {
    /// Instrument.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Last traded price.
    #[serde(default, deserialize_with = "opt_decimal")]
    pub(crate) last: Option<Decimal>,
    /// Best ask.
    #[serde(default, rename = "askPx", deserialize_with = "opt_decimal")]
    pub(crate) ask_px: Option<Decimal>,
    /// Best bid.
    #[serde(default, rename = "bidPx", deserialize_with = "opt_decimal")]
    pub(crate) bid_px: Option<Decimal>,
    /// Open 24 h ago.
    #[serde(default, rename = "open24h", deserialize_with = "opt_decimal")]
    pub(crate) open_24h: Option<Decimal>,
    /// 24 h high.
    #[serde(default, rename = "high24h", deserialize_with = "opt_decimal")]
    pub(crate) high_24h: Option<Decimal>,
    /// 24 h low.
    #[serde(default, rename = "low24h", deserialize_with = "opt_decimal")]
    pub(crate) low_24h: Option<Decimal>,
    /// 24 h volume: base currency for spot, contracts for derivatives.
    #[serde(default, rename = "vol24h", deserialize_with = "opt_decimal")]
    pub(crate) vol_24h: Option<Decimal>,
    /// 24 h volume: quote currency for spot, base currency for derivatives.
    #[serde(default, rename = "volCcy24h", deserialize_with = "opt_decimal")]
    pub(crate) vol_ccy_24h: Option<Decimal>,
    /// Exchange time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
}

/// `funding-rate` element (also the REST `GET /api/v5/public/funding-rate` element)
/// (<https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel>).
///
/// ```json
/// {"fundingRate":"0.0000734174532791","fundingTime":"1646323200000","instId":"BTC-USD-SWAP",
///  "instType":"SWAP","nextFundingRate":"0.0001163723201487"}
/// ```
/// (funding_rate.jsonl line 1; 2023+ frames add `ts`, `nextFundingTime`, ... and send
/// `"nextFundingRate":""`; a 2021 frame lacks `fundingRate`, line 5)
#[derive(Debug, Deserialize)]
pub(crate) struct FundingData<'a> {
    /// Instrument.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Rate of the current period, paid at `fundingTime`.
    #[serde(default, rename = "fundingRate", deserialize_with = "opt_decimal")]
    pub(crate) funding_rate: Option<Decimal>,
    /// Forecast rate of the next period (`""` since OKX stopped forecasting).
    #[serde(default, rename = "nextFundingRate", deserialize_with = "opt_decimal")]
    pub(crate) next_funding_rate: Option<Decimal>,
    /// Settlement time of `fundingRate`, ms.
    #[serde(default, rename = "fundingTime", deserialize_with = "opt_i64")]
    pub(crate) funding_time: Option<i64>,
    /// Push time, ms (absent before 2023).
    #[serde(default, deserialize_with = "opt_i64")]
    pub(crate) ts: Option<i64>,
}

/// `open-interest` element (also the REST `GET /api/v5/public/open-interest` element)
/// (<https://www.okx.com/docs-v5/en/#public-data-websocket-open-interest-channel>).
///
/// ```json
/// {"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"2216113.01000000309","oiCcy":"22161.1301000000309",
///  "oiUsd":"1939251795.54769270396321","ts":"1743041250440"}
/// ```
/// (open_interest.jsonl line 4)
#[derive(Debug, Deserialize)]
pub(crate) struct OpenInterestData<'a> {
    /// Instrument.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Open interest in contracts.
    #[serde(deserialize_with = "decimal")]
    pub(crate) oi: Decimal,
    /// Open interest valued in USD (current docs only).
    #[serde(default, rename = "oiUsd", deserialize_with = "opt_decimal")]
    pub(crate) oi_usd: Option<Decimal>,
    /// Exchange time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
}

/// `mark-price` element
/// (<https://www.okx.com/docs-v5/en/#public-data-websocket-mark-price-channel>).
///
/// ```json
/// {"instId":"FIL-USDT-220325","instType":"FUTURES","markPx":"36.232","ts":"1640131204676"}
/// ```
/// (mark_price.jsonl line 1)
#[derive(Debug, Deserialize)]
pub(crate) struct MarkPriceData<'a> {
    /// Instrument.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Mark price.
    #[serde(rename = "markPx", deserialize_with = "decimal")]
    pub(crate) mark_px: Decimal,
    /// Exchange time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
}

/// `index-tickers` element
/// (<https://www.okx.com/docs-v5/en/#public-data-websocket-index-tickers-channel>).
///
/// ```json
/// {"instId":"BTC-USD","idxPx":"64280","open24h":"63848.2","high24h":"64360.7","low24h":"63265.5",
///  "sodUtc0":"63465.3","sodUtc8":"64075.9","ts":"1785870839964"}
/// ```
/// (index_tickers.jsonl line 2)
#[derive(Debug, Deserialize)]
pub(crate) struct IndexTickerData<'a> {
    /// Index id (`BTC-USD`).
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Index price.
    #[serde(rename = "idxPx", deserialize_with = "decimal")]
    pub(crate) idx_px: Decimal,
    /// Exchange time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
}

/// `liquidation-orders` element
/// (<https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel>).
///
/// ```json
/// {"details":[{"bkLoss":"0","bkPx":"82655.7","ccy":"","posSide":"long","side":"sell","sz":"8.55","ts":"1791565600771"}],
///  "instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}
/// ```
/// (liquidation_orders.jsonl line 2)
#[derive(Debug, Deserialize)]
pub(crate) struct LiquidationData<'a> {
    /// Instrument.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// The liquidation orders.
    pub(crate) details: Vec<LiquidationDetail>,
}

/// One liquidation order of a [`LiquidationData`].
#[derive(Debug, Deserialize)]
pub(crate) struct LiquidationDetail {
    /// Bankruptcy price.
    #[serde(rename = "bkPx", deserialize_with = "decimal")]
    pub(crate) bk_px: Decimal,
    /// Order side (`sell` liquidates a long).
    pub(crate) side: WireSide,
    /// Size in contracts (base currency for margin).
    #[serde(deserialize_with = "decimal")]
    pub(crate) sz: Decimal,
    /// Time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
}

/// A `candle<bar>` row: `[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]` (2022 frames:
/// the first 7) (<https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-candlesticks-channel>).
///
/// ```json
/// ["1597026383085","8533.02","8553.74","8527.17","8548.26","45247","529.5858061","5529.5858061","0"]
/// ["1654154580000","29930.7","29936.3","29930.7","29936.3","0.0111536","333.86246417"]
/// ```
/// (candles.jsonl lines 7 and 1)
#[derive(Debug)]
pub(crate) struct CandleRow {
    /// Open time, ms.
    pub(crate) ts: i64,
    /// Open.
    pub(crate) open: Decimal,
    /// High.
    pub(crate) high: Decimal,
    /// Low.
    pub(crate) low: Decimal,
    /// Close.
    pub(crate) close: Decimal,
    /// Volume: base for spot, contracts for derivatives.
    pub(crate) vol: Decimal,
    /// Volume in currency: quote for spot, base for derivatives.
    pub(crate) vol_ccy: Option<Decimal>,
    /// Volume in quote currency (9-element rows only).
    pub(crate) vol_ccy_quote: Option<Decimal>,
    /// `Some(true)` when the candle is final (9-element rows only).
    pub(crate) confirm: Option<bool>,
}

impl<'de> Deserialize<'de> for CandleRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CandleRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a candle row [ts, o, h, l, c, vol, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CandleRow, A::Error> {
                let LenientI64(ts) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let mut dec = |i: usize| -> Result<Decimal, A::Error> {
                    let Dec(v) = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                    Ok(v)
                };
                let (open, high, low, close, vol) = (dec(1)?, dec(2)?, dec(3)?, dec(4)?, dec(5)?);
                let vol_ccy = seq.next_element::<Dec>()?.map(|d| d.0);
                let vol_ccy_quote = seq.next_element::<Dec>()?.map(|d| d.0);
                let confirm = match seq.next_element::<&'de str>()? {
                    None => None,
                    Some("0") => Some(false),
                    Some("1") => Some(true),
                    Some(other) => {
                        return Err(de::Error::invalid_value(
                            de::Unexpected::Str(other),
                            &"\"0\" or \"1\"",
                        ));
                    }
                };
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(CandleRow {
                    ts,
                    open,
                    high,
                    low,
                    close,
                    vol,
                    vol_ccy,
                    vol_ccy_quote,
                    confirm,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn trade() {
        let json = r#"{"instId":"BTC-USDT","tradeId":"338476307","px":"30236","sz":"0.0002","side":"buy","ts":"1652459224818"}"#;
        let t: TradeData<'_> = serde_json::from_str(json).expect("trade");
        assert_eq!((t.inst_id, t.trade_id), ("BTC-USDT", "338476307"));
        assert_eq!(
            (t.px, t.sz, t.ts),
            (d("30236"), d("0.0002"), 1_652_459_224_818)
        );
        assert!(matches!(t.side, WireSide::Buy));
    }

    #[test]
    fn ticker_with_empty_bid() {
        let json = r#"{"instType":"OPTION","instId":"ETH-USD-220624-20000-C","last":"0.0025","lastSz":"0","askPx":"0.002","askSz":"20","bidPx":"","bidSz":"","open24h":"0.0025","high24h":"0.0025","low24h":"0.0025","sodUtc0":"0.0025","sodUtc8":"0.0025","volCcy24h":"0","vol24h":"0","ts":"1646003643199"}"#;
        let t: TickerData<'_> = serde_json::from_str(json).expect("ticker");
        assert_eq!(t.bid_px, None);
        assert_eq!(t.ask_px, Some(d("0.002")));
        assert_eq!(t.last, Some(d("0.0025")));
    }

    #[test]
    fn funding_old_new_and_missing_rate() {
        let old = r#"{"fundingRate":"0.0000734174532791","fundingTime":"1646323200000","instId":"BTC-USD-SWAP","instType":"SWAP","nextFundingRate":"0.0001163723201487"}"#;
        let f: FundingData<'_> = serde_json::from_str(old).expect("funding");
        assert_eq!(f.funding_rate, Some(d("0.0000734174532791")));
        assert_eq!(f.next_funding_rate, Some(d("0.0001163723201487")));
        assert_eq!((f.funding_time, f.ts), (Some(1_646_323_200_000), None));
        let no_rate = r#"{"fundingTime":"1640851200000","instId":"SOS-USDT-SWAP","instType":"SWAP","nextFundingRate":"0.0003"}"#;
        let f: FundingData<'_> = serde_json::from_str(no_rate).expect("funding");
        assert_eq!(f.funding_rate, None);
        let new = r#"{"fundingRate":"0.0001875391284828","fundingTime":"1700726400000","instId":"BTC-USD-SWAP","nextFundingRate":"","ts":"1700724675402"}"#;
        let f: FundingData<'_> = serde_json::from_str(new).expect("funding");
        assert_eq!((f.next_funding_rate, f.ts), (None, Some(1_700_724_675_402)));
    }

    #[test]
    fn open_interest_mark_index() {
        let oi: OpenInterestData<'_> = serde_json::from_str(r#"{"instId":"BTC-USDT-SWAP","instType":"SWAP","oi":"2216113.01000000309","oiCcy":"22161.1301000000309","oiUsd":"1939251795.54769270396321","ts":"1743041250440"}"#).expect("oi");
        assert_eq!(oi.oi, d("2216113.01000000309"));
        assert_eq!(oi.oi_usd, Some(d("1939251795.54769270396321")));
        let m: MarkPriceData<'_> = serde_json::from_str(r#"{"instId":"FIL-USDT-220325","instType":"FUTURES","markPx":"36.232","ts":"1640131204676"}"#).expect("mark");
        assert_eq!((m.mark_px, m.ts), (d("36.232"), 1_640_131_204_676));
        let i: IndexTickerData<'_> = serde_json::from_str(r#"{"instId":"BTC-USD","idxPx":"64280","open24h":"63848.2","high24h":"64360.7","low24h":"63265.5","sodUtc0":"63465.3","sodUtc8":"64075.9","ts":"1785870839964"}"#).expect("index");
        assert_eq!((i.inst_id, i.idx_px), ("BTC-USD", d("64280")));
    }

    #[test]
    fn liquidation() {
        let json = r#"{"details":[{"bkLoss":"0","bkPx":"82655.7","ccy":"","posSide":"long","side":"sell","sz":"8.55","ts":"1791565600771"}],"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}"#;
        let l: LiquidationData<'_> = serde_json::from_str(json).expect("liq");
        assert_eq!(l.inst_id, "BTC-USDT-SWAP");
        assert_eq!(l.details[0].bk_px, d("82655.7"));
        assert!(matches!(l.details[0].side, WireSide::Sell));
    }

    #[test]
    fn candle_rows() {
        let r: CandleRow = serde_json::from_str(r#"["1597026383085","8533.02","8553.74","8527.17","8548.26","45247","529.5858061","5529.5858061","0"]"#).expect("row");
        assert_eq!(r.ts, 1_597_026_383_085);
        assert_eq!(r.close, d("8548.26"));
        assert_eq!(r.vol_ccy_quote, Some(d("5529.5858061")));
        assert_eq!(r.confirm, Some(false));
        let r: CandleRow = serde_json::from_str(r#"["1654154580000","29930.7","29936.3","29930.7","29936.3","0.0111536","333.86246417"]"#).expect("row");
        assert_eq!(
            (r.vol_ccy, r.vol_ccy_quote, r.confirm),
            (Some(d("333.86246417")), None, None)
        );
        assert!(serde_json::from_str::<CandleRow>(r#"["1","2"]"#).is_err());
    }
}
