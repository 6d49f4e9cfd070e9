//! `exchangeInfo` parsing: spot `GET /api/v3/exchangeInfo`, USDⓈ-M `GET /fapi/v1/exchangeInfo`,
//! COIN-M `GET /dapi/v1/exchangeInfo`.
//!
//! Only symbols that trade now are kept (`status` — COIN-M: `contractStatus` — `TRADING`).
//! Futures `contractType` `PERPETUAL` (and `TRADIFI_PERPETUAL`) → perpetual; `CURRENT_QUARTER`,
//! `NEXT_QUARTER`, `CURRENT_MONTH`, `NEXT_MONTH` → future expiring at `deliveryDate`; other
//! types (e.g. an empty type while a contract settles) are skipped. Tick size comes from
//! `PRICE_FILTER.tickSize`, lot size from `LOT_SIZE.stepSize`, the COIN-M contract size from
//! `contractSize` (USD per contract).
//!
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-endpoints#exchange-information>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Exchange-Information>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/market-data/rest-api/Exchange-Information>

use std::borrow::Cow;

use marketprism_core::model::{ExchangeId, Instrument, MarketType, ms_to_ns};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::{ExchangeError, Venue, de};

/// The response body; only `symbols` matters.
#[derive(Debug, Deserialize)]
struct ExchangeInfo<'a> {
    #[serde(borrow)]
    symbols: Vec<SymbolInfo<'a>>,
}

/// One element of `symbols`.
///
/// ```json
/// {"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","quoteAsset":"BTC","filters":[{"filterType":"PRICE_FILTER","minPrice":"0.00001000","maxPrice":"922327.00000000","tickSize":"0.00001000"},{"filterType":"LOT_SIZE","minQty":"0.00010000","maxQty":"100000.00000000","stepSize":"0.00010000"}]}
/// {"symbol":"BTCUSD_PERP","pair":"BTCUSD","contractType":"PERPETUAL","deliveryDate":4133404800000,"contractStatus":"TRADING","contractSize":100,"marginAsset":"BTC","baseAsset":"BTC","quoteAsset":"USD","filters":[...]}
/// ```
#[derive(Debug, Deserialize)]
struct SymbolInfo<'a> {
    #[serde(borrow)]
    symbol: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "contractStatus", default, borrow)]
    contract_status: Option<Cow<'a, str>>,
    #[serde(rename = "baseAsset", borrow)]
    base: Cow<'a, str>,
    #[serde(rename = "quoteAsset", borrow)]
    quote: Cow<'a, str>,
    #[serde(rename = "marginAsset", default, borrow)]
    margin: Option<Cow<'a, str>>,
    #[serde(rename = "contractType", default, borrow)]
    contract_type: Option<Cow<'a, str>>,
    #[serde(rename = "deliveryDate", default)]
    delivery_date: Option<i64>,
    #[serde(rename = "contractSize", default, deserialize_with = "de::opt_decimal")]
    contract_size: Option<Decimal>,
    #[serde(default, borrow)]
    filters: Vec<Filter<'a>>,
}

/// One filter; only the two we use are read.
#[derive(Debug, Deserialize)]
struct Filter<'a> {
    #[serde(rename = "filterType", borrow)]
    filter_type: Cow<'a, str>,
    #[serde(rename = "tickSize", default, deserialize_with = "de::opt_decimal")]
    tick_size: Option<Decimal>,
    #[serde(rename = "stepSize", default, deserialize_with = "de::opt_decimal")]
    step_size: Option<Decimal>,
}

/// Parses an `exchangeInfo` body of `venue` into its tradable instruments.
pub(crate) fn parse_exchange_info(
    venue: Venue,
    body: &str,
) -> Result<Vec<Instrument>, ExchangeError> {
    let info: ExchangeInfo<'_> =
        serde_json::from_str(body).map_err(|source| ExchangeError::Malformed {
            exchange: ExchangeId::BINANCE,
            what: "exchangeInfo",
            source,
        })?;
    Ok(info
        .symbols
        .iter()
        .filter_map(|s| instrument(venue, s))
        .collect())
}

fn instrument(venue: Venue, s: &SymbolInfo<'_>) -> Option<Instrument> {
    let status = s.contract_status.as_deref().or(s.status.as_deref());
    if status != Some("TRADING") {
        return None;
    }
    let market = match venue {
        Venue::BinanceSpot => MarketType::Spot,
        _ => match s.contract_type.as_deref()? {
            t if t.ends_with("PERPETUAL") => MarketType::Perpetual,
            "CURRENT_QUARTER" | "NEXT_QUARTER" | "CURRENT_MONTH" | "NEXT_MONTH" => {
                MarketType::Future
            }
            _ => return None,
        },
    };
    let mut inst = Instrument::new(
        ExchangeId::BINANCE,
        market,
        s.symbol.as_ref(),
        s.base.as_ref(),
        s.quote.as_ref(),
    );
    if market == MarketType::Future {
        inst = inst.with_expiry(ms_to_ns(s.delivery_date?));
    }
    if let Some(settle) = s.margin.as_deref() {
        inst = inst.with_settle(settle);
    }
    for f in &s.filters {
        match (f.filter_type.as_ref(), f.tick_size, f.step_size) {
            ("PRICE_FILTER", Some(tick), _) => inst = inst.with_tick_size(tick.normalize()),
            ("LOT_SIZE", _, Some(step)) => inst = inst.with_lot_size(step.normalize()),
            _ => {}
        }
    }
    if venue == Venue::BinanceCoinm {
        if let Some(cs) = s.contract_size {
            inst = inst.with_contract_size(cs);
        }
    } else if venue == Venue::BinanceUsdm {
        // USDⓈ-M quantities are in the base asset: one "contract" is one unit.
        inst = inst.with_contract_size(Decimal::ONE);
    }
    Some(inst)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOT: &str = include_str!("../../tests/fixtures/binance/exchangeInfo_spot.json");
    const USDM: &str = include_str!("../../tests/fixtures/binance/exchangeInfo_usdm.json");
    const COINM: &str = include_str!("../../tests/fixtures/binance/exchangeInfo_coinm.json");

    fn find<'a>(v: &'a [Instrument], native: &str) -> &'a Instrument {
        v.iter()
            .find(|i| i.native_symbol == native)
            .expect("instrument present")
    }

    #[test]
    fn spot_fixture() {
        let v = parse_exchange_info(Venue::BinanceSpot, SPOT).expect("parse");
        let i = find(&v, "NKNUSDT");
        assert_eq!(
            (i.symbol.as_str(), i.market),
            ("NKN-USDT", MarketType::Spot)
        );
        assert_eq!(i.tick_size, Some(Decimal::new(1, 4)));
        assert_eq!(i.lot_size, Some(Decimal::ONE));
        // BREAK status is skipped.
        assert!(!v.iter().any(|i| i.native_symbol == "HALTEDBTC"));
    }

    #[test]
    fn usdm_fixture() {
        let v = parse_exchange_info(Venue::BinanceUsdm, USDM).expect("parse");
        let p = find(&v, "BTCUSDT");
        assert_eq!(
            (p.symbol.as_str(), p.market),
            ("BTC-USDT-PERP", MarketType::Perpetual)
        );
        assert_eq!(p.settle.as_deref(), Some("USDT"));
        assert_eq!(p.tick_size, Some(Decimal::new(1, 1)));
        let f = find(&v, "BTCUSDT_220624");
        assert_eq!(
            (f.symbol.as_str(), f.market),
            ("BTC-USDT-20220624", MarketType::Future)
        );
        assert_eq!(f.expiry, Some(ms_to_ns(1656057600000)));
    }

    #[test]
    fn coinm_fixture() {
        let v = parse_exchange_info(Venue::BinanceCoinm, COINM).expect("parse");
        let p = find(&v, "BTCUSD_PERP");
        assert_eq!(
            (p.symbol.as_str(), p.market),
            ("BTC-USD-PERP", MarketType::Perpetual)
        );
        assert_eq!(
            (p.contract_size, p.settle.as_deref()),
            (Some(Decimal::from(100)), Some("BTC"))
        );
        let f = find(&v, "ETHUSD_260925");
        assert_eq!(
            (f.symbol.as_str(), f.contract_size),
            ("ETH-USD-20260925", Some(Decimal::from(10)))
        );
    }

    #[test]
    fn malformed_body_is_an_error() {
        assert!(parse_exchange_info(Venue::BinanceSpot, "{}").is_err());
        assert!(
            parse_exchange_info(Venue::BinanceSpot, r#"{"symbols":[]}"#)
                .is_ok_and(|v| v.is_empty())
        );
    }
}
