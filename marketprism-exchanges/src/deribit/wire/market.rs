//! Market-data notifications other than books: trades, ticker, quote, chart, index prices,
//! volatility index and perpetual interest.
//!
//! Docs: <https://docs.deribit.com/subscriptions/market-data/tradesinstrument_nameinterval>,
//! <https://docs.deribit.com/subscriptions/market-data/tickerinstrument_nameinterval>,
//! <https://docs.deribit.com/subscriptions/market-data/quoteinstrument_name>,
//! <https://docs.deribit.com/subscriptions/market-data/charttradesinstrument_nameresolution>,
//! <https://docs.deribit.com/subscriptions/market-data/deribit_price_indexindex_name>,
//! <https://docs.deribit.com/subscriptions/market-data/deribit_volatility_indexindex_name>,
//! <https://docs.deribit.com/subscriptions/market-data/perpetualinstrument_nameinterval>.

use rust_decimal::Decimal;
use serde::Deserialize;

use super::num;

/// One element of the `data` array of `trades.{instrument}.{interval}`.
///
/// ```json
/// {"trade_seq":40781986,"trade_id":"66460463","timestamp":1584058044032,"tick_direction":3,
///  "price":4469.5,"liquidation":"T","instrument_name":"BTC-PERPETUAL","index_price":4805.41,
///  "direction":"sell","amount":1120}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct TradeData<'a> {
    /// Trade id (a string on the wire).
    #[serde(borrow)]
    pub(crate) trade_id: &'a str,
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Price.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) price: Decimal,
    /// Amount (USD for inverse futures, coin for options and linear instruments).
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) amount: Decimal,
    /// Taker direction: `buy` or `sell`.
    #[serde(borrow)]
    pub(crate) direction: &'a str,
    /// Instrument.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// Who was liquidated: `M` maker, `T` taker, `MT` both.
    #[serde(borrow, default)]
    pub(crate) liquidation: Option<&'a str>,
}

/// `data` of `ticker.{instrument}.{interval}`. Option-only and perpetual-only fields are
/// optional; many values are `null` on quiet instruments.
///
/// ```json
/// {"timestamp":1654161785818,"stats":{"volume_usd":545442610.0,"volume":17945.19644566,
///  "price_change":-5.4014,"low":29265.5,"high":31903.5},"state":"open",
///  "open_interest":559791310,"mark_price":29932.79,"last_price":29931.0,
///  "instrument_name":"BTC-PERPETUAL","index_price":29930.44,"funding_8h":0.00000255,
///  "current_funding":0.0,"best_bid_price":29930.5,"best_bid_amount":149910.0,
///  "best_ask_price":29931.0,"best_ask_amount":62850.0}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct TickerData<'a> {
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Instrument.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// Last trade price (`null` when never traded).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) last_price: Option<Decimal>,
    /// Best bid (`0.0` with amount `0.0` when there is none).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) best_bid_price: Option<Decimal>,
    /// Size at the best bid.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) best_bid_amount: Option<Decimal>,
    /// Best ask.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) best_ask_price: Option<Decimal>,
    /// Size at the best ask.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) best_ask_amount: Option<Decimal>,
    /// Mark price.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) mark_price: Option<Decimal>,
    /// Index price.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) index_price: Option<Decimal>,
    /// Open interest (USD for inverse futures, coin for options/linear).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) open_interest: Option<Decimal>,
    /// 24 h statistics.
    #[serde(default)]
    pub(crate) stats: Option<Stats>,
    /// Perpetuals: current funding.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) current_funding: Option<Decimal>,
    /// Perpetuals: funding over the last 8 hours.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) funding_8h: Option<Decimal>,
    /// Options: forward/underlying price.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) underlying_price: Option<Decimal>,
    /// Options: underlying future or index name.
    #[serde(borrow, default)]
    pub(crate) underlying_index: Option<&'a str>,
    /// Options: mark IV (percent).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) mark_iv: Option<Decimal>,
    /// Options: bid IV (percent; `0.0` without a bid).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) bid_iv: Option<Decimal>,
    /// Options: ask IV (percent; `0.0` without an ask).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) ask_iv: Option<Decimal>,
    /// Options: greeks.
    #[serde(default)]
    pub(crate) greeks: Option<Greeks>,
}

/// `stats` of a ticker.
///
/// ```json
/// {"volume_usd":23223070.0,"volume":754.95506101,"price_change":-5.5392,"low":29592.5,"high":32248.0}
/// ```
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Stats {
    /// 24 h volume in base coin.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) volume: Option<Decimal>,
    /// 24 h volume in USD.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) volume_usd: Option<Decimal>,
    /// 24 h volume in the quote/counter currency (2022+ frames).
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) volume_notional: Option<Decimal>,
    /// 24 h low.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) low: Option<Decimal>,
    /// 24 h high.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) high: Option<Decimal>,
}

/// `greeks` of an option ticker.
///
/// ```json
/// {"vega":0.20072,"theta":-1.64029,"rho":0.01188,"gamma":0.0002,"delta":0.03127}
/// ```
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Greeks {
    /// Delta.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) delta: Option<Decimal>,
    /// Gamma.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) gamma: Option<Decimal>,
    /// Vega.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) vega: Option<Decimal>,
    /// Theta.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) theta: Option<Decimal>,
    /// Rho.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) rho: Option<Decimal>,
}

/// `data` of `quote.{instrument}`.
///
/// ```json
/// {"timestamp":1654012570801,"instrument_name":"BTC-30SEP22","best_bid_price":32499.0,
///  "best_bid_amount":2370.0,"best_ask_price":32503.5,"best_ask_amount":2400.0}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct QuoteData<'a> {
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Instrument.
    #[serde(borrow)]
    pub(crate) instrument_name: &'a str,
    /// Best bid.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) best_bid_price: Decimal,
    /// Size at the best bid.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) best_bid_amount: Decimal,
    /// Best ask.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) best_ask_price: Decimal,
    /// Size at the best ask.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) best_ask_amount: Decimal,
}

/// `data` of `chart.trades.{instrument}.{resolution}` (the instrument is in the channel).
///
/// ```json
/// {"volume":0.00172302,"tick":1677628800000,"open":23215.0,"low":23215.0,"high":23215.0,
///  "cost":40.0,"close":23215.0}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct ChartData {
    /// Candle open time (ms).
    pub(crate) tick: i64,
    /// Open.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) open: Decimal,
    /// High.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) high: Decimal,
    /// Low.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) low: Decimal,
    /// Close (last so far).
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) close: Decimal,
    /// Volume in base coin.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) volume: Decimal,
    /// Volume in quote (USD) terms.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) cost: Option<Decimal>,
}

/// `data` of `deribit_price_index.{index_name}`.
///
/// ```json
/// {"timestamp":1535098298227,"price":6521.17,"index_name":"btc_usd"}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct PriceIndexData<'a> {
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Index value.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) price: Decimal,
    /// Index name, e.g. `btc_usd`.
    #[serde(borrow)]
    pub(crate) index_name: &'a str,
}

/// `data` of `deribit_volatility_index.{index_name}` (DVOL).
///
/// ```json
/// {"volatility":129.36,"timestamp":1619777946007,"index_name":"btc_usd"}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct VolIndexData<'a> {
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Index value.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) volatility: Decimal,
    /// Index name, e.g. `btc_usd`.
    #[serde(borrow)]
    pub(crate) index_name: &'a str,
}

/// `data` of `perpetual.{instrument}.{interval}` (the instrument is in the channel).
///
/// ```json
/// {"interest":0.004999511380756577,"timestamp":1571386349530,"index_price":7872.88}
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct PerpetualData {
    /// Exchange time (ms).
    pub(crate) timestamp: i64,
    /// Current interest (funding) rate.
    #[serde(deserialize_with = "num::decimal")]
    pub(crate) interest: Decimal,
    /// Index price.
    #[serde(default, deserialize_with = "num::opt_decimal")]
    pub(crate) index_price: Option<Decimal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    /// trades.jsonl line 5 (liquidation, integer amount).
    #[test]
    fn trade() {
        let t: Vec<TradeData<'_>> = serde_json::from_str(
            r#"[{"trade_seq":40781986,"trade_id":"66460463","timestamp":1584058044032,"tick_direction":3,"price":4469.5,"liquidation":"T","instrument_name":"BTC-PERPETUAL","index_price":4805.41,"direction":"sell","amount":1120}]"#,
        )
        .expect("json");
        assert_eq!(t[0].trade_id, "66460463");
        assert_eq!(t[0].price, d("4469.5"));
        assert_eq!(t[0].amount, d("1120"));
        assert_eq!(t[0].liquidation, Some("T"));
    }

    /// ticker.jsonl line 183 (perpetual).
    #[test]
    fn ticker_perpetual() {
        let t: TickerData<'_> = serde_json::from_str(
            r#"{"timestamp":1654161785818,"stats":{"volume_usd":545442610.0,"volume":17945.19644566,"price_change":-5.4014,"low":29265.5,"high":31903.5},"state":"open","settlement_price":29945.69,"open_interest":559791310,"min_price":29485.31,"max_price":30383.34,"mark_price":29932.79,"last_price":29931.0,"instrument_name":"BTC-PERPETUAL","index_price":29930.44,"funding_8h":0.00000255,"estimated_delivery_price":29930.44,"current_funding":0.0,"best_bid_price":29930.5,"best_bid_amount":149910.0,"best_ask_price":29931.0,"best_ask_amount":62850.0}"#,
        )
        .expect("json");
        assert_eq!(t.funding_8h, Some(d("0.00000255")));
        assert_eq!(t.open_interest, Some(d("559791310")));
        assert_eq!(t.stats.and_then(|s| s.volume), Some(d("17945.19644566")));
    }

    /// ticker.jsonl line 187 (expired option: `"estimated_delivery_price":"expired"`).
    #[test]
    fn ticker_option_expired() {
        let t: TickerData<'_> = serde_json::from_str(
            r#"{"underlying_price":9724.48,"underlying_index":"SYN.BTC-8JUN20","timestamp":1591603200048,"stats":{"volume":2.5,"price_change":0.0,"low":0.0005,"high":0.0005},"state":"closed","open_interest":0.0,"mark_price":0.0,"mark_iv":70.0,"last_price":0.0005,"instrument_name":"BTC-8JUN20-8750-P","greeks":{"vega":0.0,"theta":0.0,"rho":0.0,"gamma":0.0,"delta":0.0},"estimated_delivery_price":"expired","delivery_price":9728.65,"bid_iv":0.0,"best_bid_price":0.0,"best_bid_amount":0.0,"ask_iv":500.0}"#,
        )
        .expect("json");
        assert_eq!(t.underlying_index, Some("SYN.BTC-8JUN20"));
        assert_eq!(t.ask_iv, Some(d("500")));
        assert!(t.greeks.is_some());
    }

    /// quote.jsonl line 1.
    #[test]
    fn quote() {
        let q: QuoteData<'_> = serde_json::from_str(
            r#"{"timestamp":1654012570801,"instrument_name":"BTC-30SEP22","best_bid_price":32499.0,"best_bid_amount":2370.0,"best_ask_price":32503.5,"best_ask_amount":2400.0}"#,
        )
        .expect("json");
        assert_eq!(q.best_ask_price, d("32503.5"));
    }

    /// chart.jsonl line 3.
    #[test]
    fn chart() {
        let c: ChartData = serde_json::from_str(
            r#"{"volume":0.1,"tick":1679559480000,"open":0.003,"low":0.003,"high":0.003,"cost":0.0003,"close":0.003}"#,
        )
        .expect("json");
        assert_eq!(c.cost, Some(d("0.0003")));
        assert_eq!(c.tick, 1_679_559_480_000);
    }

    /// index_price.jsonl line 1.
    #[test]
    fn price_index() {
        let p: PriceIndexData<'_> = serde_json::from_str(
            r#"{"timestamp":1535098298227,"price":6521.17,"index_name":"btc_usd"}"#,
        )
        .expect("json");
        assert_eq!(p.price, d("6521.17"));
    }

    /// Docs example of `deribit_volatility_index.btc_usd`.
    #[test]
    fn volatility_index() {
        let v: VolIndexData<'_> = serde_json::from_str(
            r#"{"volatility":129.36,"timestamp":1619777946007,"index_name":"btc_usd"}"#,
        )
        .expect("json");
        assert_eq!(v.volatility, d("129.36"));
    }

    /// Docs example of `perpetual.BTC-PERPETUAL.raw` data.
    #[test]
    fn perpetual() {
        let p: PerpetualData = serde_json::from_str(
            r#"{"interest":0.004999511380756577,"timestamp":1571386349530,"index_price":7872.88}"#,
        )
        .expect("json");
        assert_eq!(p.interest, d("0.004999511380756577"));
    }
}
