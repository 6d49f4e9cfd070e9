//! REST bodies polled for channels without a WebSocket stream: open interest and the
//! long/short ratio statistics.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::de;

/// `GET /fapi/v1/openInterest` (USDⓈ-M, base units) and `GET /dapi/v1/openInterest` (COIN-M,
/// contracts; adds `pair` and `contractType`). Key order varies between docs and live.
///
/// ```json
/// {"symbol":"BTCUSDT","openInterest":"84617.188","time":1654336844754}
/// {"openInterest":"10659.509","symbol":"BTCUSDT","time":1589437530011}
/// ```
///
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Open-Interest>
#[derive(Debug, Deserialize)]
pub(crate) struct OpenInterestBody<'a> {
    /// Symbol.
    pub(crate) symbol: &'a str,
    /// Open interest.
    #[serde(rename = "openInterest", deserialize_with = "de::decimal")]
    pub(crate) open_interest: Decimal,
    /// Time (ms).
    pub(crate) time: i64,
}

/// One record of `GET /futures/data/{topLongShortPositionRatio, topLongShortAccountRatio,
/// globalLongShortAccountRatio}`. USDⓈ-M names the shares `longAccount`/`shortAccount` for all
/// three and sends `timestamp` as a string; COIN-M uses `pair`, `longPosition`/`shortPosition`
/// for the position ratio and a numeric `timestamp`.
///
/// ```json
/// [{"symbol":"BTCUSDT","longShortRatio":"1.4342","longAccount":"0.5891","shortAccount":"0.4108","timestamp":"1583139600000"}]
/// [{"pair":"BTCUSD","longShortRatio":"0.7869","longPosition":"0.6442","shortPosition":"0.4404","timestamp":1592870400000}]
/// ```
///
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Top-Trader-Long-Short-Ratio>,
/// <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Top-Trader-Long-Short-Ratio>
#[derive(Debug, Deserialize)]
pub(crate) struct RatioRecord {
    /// Long/short ratio.
    #[serde(rename = "longShortRatio", deserialize_with = "de::decimal")]
    pub(crate) ratio: Decimal,
    /// Long share (accounts).
    #[serde(rename = "longAccount", default, deserialize_with = "de::opt_decimal")]
    pub(crate) long_account: Option<Decimal>,
    /// Short share (accounts).
    #[serde(rename = "shortAccount", default, deserialize_with = "de::opt_decimal")]
    pub(crate) short_account: Option<Decimal>,
    /// Long share (positions, COIN-M).
    #[serde(rename = "longPosition", default, deserialize_with = "de::opt_decimal")]
    pub(crate) long_position: Option<Decimal>,
    /// Short share (positions, COIN-M).
    #[serde(
        rename = "shortPosition",
        default,
        deserialize_with = "de::opt_decimal"
    )]
    pub(crate) short_position: Option<Decimal>,
    /// Statistics time (ms), a number or a numeric string.
    #[serde(deserialize_with = "de::i64_lenient")]
    pub(crate) timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_interest_any_key_order() {
        for body in [
            r#"{"symbol":"BTCUSDT","openInterest":"84617.188","time":1654336844754}"#,
            r#"{"openInterest":"84617.188","symbol":"BTCUSDT","time":1654336844754}"#,
        ] {
            let oi: OpenInterestBody<'_> = serde_json::from_str(body).expect("json");
            assert_eq!((oi.symbol, oi.time), ("BTCUSDT", 1654336844754));
            assert_eq!(oi.open_interest.to_string(), "84617.188");
        }
    }

    #[test]
    fn ratio_records() {
        let r: Vec<RatioRecord> = serde_json::from_str(
            r#"[{"symbol":"BTCUSDT","longShortRatio":"1.4342","longAccount":"0.5891","shortAccount":"0.4108","timestamp":"1583139600000"}]"#,
        )
        .expect("json");
        assert_eq!(r[0].timestamp, 1583139600000);
        assert_eq!(
            r[0].long_account.map(|d| d.to_string()).as_deref(),
            Some("0.5891")
        );
        let r: Vec<RatioRecord> = serde_json::from_str(
            r#"[{"pair":"BTCUSD","longShortRatio":"0.7869","longPosition":"0.6442","shortPosition":"0.4404","timestamp":1592870400000}]"#,
        )
        .expect("json");
        assert_eq!(
            r[0].short_position.map(|d| d.to_string()).as_deref(),
            Some("0.4404")
        );
    }
}
