//! REST (`https://www.deribit.com/api/v2/public/...`) response bodies. They are JSON-RPC
//! responses too: `{"jsonrpc":"2.0","result":..,"usIn":..}` or `{"jsonrpc":"2.0","error":{..}}`.
//!
//! Docs: <https://docs.deribit.com/api-reference/market-data/public-get_order_book>,
//! <https://docs.deribit.com/api-reference/market-data/public-get_book_summary_by_currency>,
//! <https://docs.deribit.com/api-reference/market-data/public-get_volatility_index_data>,
//! <https://docs.deribit.com/api-reference/market-data/public-get_instruments>.

use rust_decimal::Decimal;
use serde::Deserialize;

use super::RpcError;
use super::num::{self, Num};

/// A REST response: `result` or `error`.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>, 'de: 'a"))]
pub(crate) struct Response<'a, T> {
    /// The answer.
    #[serde(default = "Option::default")]
    pub(crate) result: Option<T>,
    /// The error, when the call failed.
    #[serde(borrow, default)]
    pub(crate) error: Option<RpcError<'a>>,
}

/// One element of the `public/get_book_summary_by_currency` / `_by_instrument` result.
///
/// ```json
/// {"volume":175.6,"underlying_price":29755.49,"underlying_index":"BTC-24JUN22",
///  "quote_currency":"BTC","open_interest":1124.7,"mark_price":0.05317014,
///  "instrument_name":"BTC-24JUN22-30000-C","creation_timestamp":1654338604906,..}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct BookSummary<'a> {
    /// Instrument.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// When the summary was made (ms).
    pub(crate) creation_timestamp: i64,
    /// Open interest (USD for inverse futures, coin for options/linear).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) open_interest: Option<Decimal>,
    /// Mark price.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) mark_price: Option<Decimal>,
    /// Options: mark IV, when present.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) mark_iv: Option<Decimal>,
    /// Options: underlying price.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) underlying_price: Option<Decimal>,
    /// Options: underlying future or index.
    #[serde(borrow, default)]
    pub(crate) underlying_index: Option<&'a str>,
    /// Perpetuals: current funding.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) current_funding: Option<Decimal>,
    /// Perpetuals: funding over the last 8 hours.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) funding_8h: Option<Decimal>,
}

/// `public/get_volatility_index_data` result.
///
/// ```json
/// {"data":[[1598019300000,0.210084879,0.212860821,0.210084879,0.212860821]],"continuation":null}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct VolIndexCandles {
    /// `[timestamp ms, open, high, low, close]`, oldest first.
    pub(crate) data: Vec<(i64, Num, Num, Num, Num)>,
}

/// One element of the `public/get_instruments` result.
///
/// ```json
/// {"tick_size":0.0005,"taker_commission":0.0003,"strike":40000.0,"settlement_period":"month",
///  "quote_currency":"BTC","option_type":"put","min_trade_amount":0.1,"maker_commission":0.0003,
///  "kind":"option","is_active":true,"instrument_name":"BTC-24SEP21-40000-P",
///  "expiration_timestamp":1632470400000,"creation_timestamp":1606129458000,
///  "contract_size":1.0,"block_trade_commission":0.00015,"base_currency":"BTC"}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct InstrumentData<'a> {
    /// Native name.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// `future`, `option`, `spot`, `future_combo`, `option_combo`.
    #[serde(borrow)]
    pub(crate) kind: &'a str,
    /// Underlying coin.
    #[serde(borrow)]
    pub(crate) base_currency: &'a str,
    /// Price currency (the coin itself for inverse options).
    #[serde(borrow)]
    pub(crate) quote_currency: &'a str,
    /// Strike/notional currency (2022+ responses; `USD` for inverse options).
    #[serde(borrow, default)]
    pub(crate) counter_currency: Option<&'a str>,
    /// Settlement currency (2022+ responses; absent for inverse instruments in older ones).
    #[serde(borrow, default)]
    pub(crate) settlement_currency: Option<&'a str>,
    /// `perpetual`, `day`, `week`, `month` (absent for spot).
    #[serde(borrow, default)]
    pub(crate) settlement_period: Option<&'a str>,
    /// Price increment.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) tick_size: Decimal,
    /// Minimum amount (USD for inverse futures, coin for options/linear).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) min_trade_amount: Option<Decimal>,
    /// Contract size.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) contract_size: Option<Decimal>,
    /// Expiry (ms); far future (`32503708800000`) for perpetuals.
    #[serde(default)]
    pub(crate) expiration_timestamp: Option<i64>,
    /// Options: strike.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) strike: Option<Decimal>,
    /// Options: `call` or `put`.
    #[serde(borrow, default)]
    pub(crate) option_type: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deribit::wire::GroupedBookData;

    /// rest_get_order_book.jsonl line 1 (shortened): the result has the grouped-book shape.
    #[test]
    fn order_book() {
        let r: Response<'_, GroupedBookData<'_>> = serde_json::from_str(
            r#"{"jsonrpc":"2.0","result":{"timestamp":1654245922403,"stats":{"volume_usd":10190920.0},"state":"open","instrument_name":"BTC-30SEP22","change_id":45305026640,"bids":[[30718.5,2290.0]],"best_bid_price":30718.5,"asks":[[30723.0,3000.0]]},"usIn":1654245922540414,"usOut":1654245922540910,"usDiff":496,"testnet":false}"#,
        )
        .expect("json");
        let book = r.result.expect("result");
        assert_eq!(book.change_id, 45_305_026_640);
        assert_eq!(book.bids.0[0].price.to_string(), "30718.5");
    }

    /// rest_get_book_summary.jsonl line 2 (shortened; `null`s included).
    #[test]
    fn book_summary() {
        let r: Response<'_, Vec<BookSummary<'_>>> = serde_json::from_str(
            r#"{"jsonrpc":"2.0","result":[{"volume":0.0,"underlying_price":30236.72,"underlying_index":"BTC-30DEC22","quote_currency":"BTC","price_change":null,"open_interest":8.1,"mid_price":null,"mark_price":1.98432769,"instrument_name":"BTC-30DEC22-90000-P","creation_timestamp":1654338604906,"bid_price":null}],"usIn":1654338604904465}"#,
        )
        .expect("json");
        let s = &r.result.expect("result")[0];
        assert_eq!(
            s.open_interest.map(|d| d.to_string()),
            Some("8.1".to_owned())
        );
        assert_eq!(s.underlying_index, Some("BTC-30DEC22"));
    }

    /// Docs example of `public/get_volatility_index_data`.
    #[test]
    fn volatility_candles() {
        let r: Response<'_, VolIndexCandles> = serde_json::from_str(
            r#"{"jsonrpc":"2.0","id":1,"result":{"data":[[1598019300000,0.210084879,0.212860821,0.210084879,0.212860821]],"continuation":null}}"#,
        )
        .expect("json");
        let c = r.result.expect("result");
        assert_eq!(c.data[0].4.0.to_string(), "0.212860821");
    }

    /// Error body (errors.jsonl line 2).
    #[test]
    fn error_body() {
        let r: Response<'_, VolIndexCandles> = serde_json::from_str(
            r#"{"usOut":1703446335056501,"usIn":1703446335056492,"usDiff":9,"testnet":false,"jsonrpc":"2.0","error":{"message":"Invalid params","data":{"reason":"instrument not found","param":"instrument_name"},"code":-32602}}"#,
        )
        .expect("json");
        assert!(r.result.is_none());
        assert_eq!(r.error.map(|e| e.code), Some(-32602));
    }

    /// rest_get_instruments.jsonl, first element of line 1.
    #[test]
    fn instrument() {
        let i: InstrumentData<'_> = serde_json::from_str(
            r#"{"tick_size":0.0005,"taker_commission":0.0003,"strike":40000.0,"settlement_period":"month","quote_currency":"BTC","option_type":"put","min_trade_amount":0.1,"maker_commission":0.0003,"kind":"option","is_active":true,"instrument_name":"BTC-24SEP21-40000-P","expiration_timestamp":1632470400000,"creation_timestamp":1606129458000,"contract_size":1.0,"block_trade_commission":0.00015,"base_currency":"BTC"}"#,
        )
        .expect("json");
        assert_eq!(i.kind, "option");
        assert_eq!(i.strike.map(|d| d.to_string()), Some("40000.0".to_owned()));
        assert_eq!(i.option_type, Some("put"));
    }
}
