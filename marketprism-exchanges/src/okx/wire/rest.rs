//! REST response bodies: `{"code":"0","msg":"","data":[..]}`.

use std::borrow::Cow;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::{LenientI64, opt_i64};
use crate::de::{Dec, opt_decimal};

/// The REST envelope. `code` is `"0"` on success; otherwise `msg` says why and `data` is
/// usually empty.
///
/// ```json
/// {"code":"0","msg":"","data":[{"asks":[["29692.5","0.10951348","0","5"]],"bids":[...],"ts":"1654328918680"}]}
/// ```
/// (rest_books.jsonl line 1, shortened)
#[derive(Debug, Deserialize)]
pub(crate) struct RestResponse<'a, D> {
    /// `"0"` on success.
    #[serde(borrow)]
    pub(crate) code: Cow<'a, str>,
    /// Error text.
    #[serde(default, borrow)]
    pub(crate) msg: Cow<'a, str>,
    /// The elements.
    #[serde(default = "Vec::new")]
    pub(crate) data: Vec<D>,
}

/// One instrument of `GET /api/v5/public/instruments`
/// (<https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments>).
///
/// ```json
/// {"alias":"","baseCcy":"","category":"1","ctMult":"0.1","ctType":"","ctVal":"1","ctValCcy":"BTC",
///  "expTime":"1652515200000","instId":"BTC-USD-220514-22000-C","instType":"OPTION","lever":"",
///  "listTime":"1652344257065","lotSz":"1","minSz":"1","optType":"C","quoteCcy":"","settleCcy":"BTC",
///  "state":"live","stk":"22000","tickSz":"0.0005","uly":"BTC-USD"}
/// ```
/// (rest_instruments.jsonl line 4, shortened; current docs add `instFamily`)
#[derive(Debug, Deserialize)]
pub(crate) struct InstrumentData<'a> {
    /// `SPOT`, `MARGIN`, `SWAP`, `FUTURES`, `OPTION`.
    #[serde(borrow, rename = "instType")]
    pub(crate) inst_type: &'a str,
    /// Instrument id.
    #[serde(borrow, rename = "instId")]
    pub(crate) inst_id: &'a str,
    /// Spot base currency.
    #[serde(default, borrow, rename = "baseCcy")]
    pub(crate) base_ccy: &'a str,
    /// Spot quote currency.
    #[serde(default, borrow, rename = "quoteCcy")]
    pub(crate) quote_ccy: &'a str,
    /// Settlement currency of derivatives.
    #[serde(default, borrow, rename = "settleCcy")]
    pub(crate) settle_ccy: &'a str,
    /// Underlying (`BTC-USD`).
    #[serde(default, borrow)]
    pub(crate) uly: &'a str,
    /// Instrument family (`BTC-USD`, `BTC-USD_UM`); newer than `uly`.
    #[serde(default, borrow, rename = "instFamily")]
    pub(crate) inst_family: &'a str,
    /// Contract value.
    #[serde(default, rename = "ctVal", deserialize_with = "opt_decimal")]
    pub(crate) ct_val: Option<Decimal>,
    /// Contract multiplier.
    #[serde(default, rename = "ctMult", deserialize_with = "opt_decimal")]
    pub(crate) ct_mult: Option<Decimal>,
    /// Tick size.
    #[serde(default, rename = "tickSz", deserialize_with = "opt_decimal")]
    pub(crate) tick_sz: Option<Decimal>,
    /// Lot size.
    #[serde(default, rename = "lotSz", deserialize_with = "opt_decimal")]
    pub(crate) lot_sz: Option<Decimal>,
    /// Expiry, ms.
    #[serde(default, rename = "expTime", deserialize_with = "opt_i64")]
    pub(crate) exp_time: Option<i64>,
    /// Strike.
    #[serde(default, deserialize_with = "opt_decimal")]
    pub(crate) stk: Option<Decimal>,
    /// `C` or `P`.
    #[serde(default, borrow, rename = "optType")]
    pub(crate) opt_type: &'a str,
}

/// A Rubik statistics row `[ts, ratio]`
/// (<https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-long-short-ratio>).
///
/// ```json
/// ["1701417600000","1.1739"]
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct RatioRow(pub(crate) LenientI64, pub(crate) Dec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_option() {
        let json = r#"{"alias":"","baseCcy":"","category":"1","ctMult":"0.1","ctType":"","ctVal":"1","ctValCcy":"BTC","expTime":"1652515200000","instId":"BTC-USD-220514-22000-C","instType":"OPTION","lever":"","listTime":"1652344257065","lotSz":"1","minSz":"1","optType":"C","quoteCcy":"","settleCcy":"BTC","state":"live","stk":"22000","tickSz":"0.0005","uly":"BTC-USD"}"#;
        let i: InstrumentData<'_> = serde_json::from_str(json).expect("instrument");
        assert_eq!((i.inst_type, i.uly, i.opt_type), ("OPTION", "BTC-USD", "C"));
        assert_eq!(i.ct_mult.map(|d| d.to_string()).as_deref(), Some("0.1"));
        assert_eq!(i.exp_time, Some(1_652_515_200_000));
        assert_eq!(i.inst_family, "");
    }

    #[test]
    fn ratio_rows_and_error_body() {
        let body = r#"{"code":"0","msg":"","data":[["1701417600000","1.1739"],["1701417300000","0.1236"]]}"#;
        let r: RestResponse<'_, RatioRow> = serde_json::from_str(body).expect("ratio");
        assert_eq!(r.data.len(), 2);
        assert_eq!(r.data[0].0.0, 1_701_417_600_000);
        assert_eq!(r.data[1].1.0.to_string(), "0.1236");
        let e: RestResponse<'_, RatioRow> = serde_json::from_str(
            r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#,
        )
        .expect("error body");
        assert_eq!(
            (e.code.as_ref(), e.msg.as_ref()),
            ("51001", "Instrument ID does not exist")
        );
    }
}
