//! `public/get_instruments` → [`Instrument`]s.
//!
//! Mapping (docs: <https://docs.deribit.com/api-reference/market-data/public-get_instruments>):
//!
//! | kind / settlement_period | market | example |
//! |---|---|---|
//! | `future` / `perpetual` | perpetual | `BTC-PERPETUAL` → `BTC-USD-PERP`, `BTC_USDC-PERPETUAL` → `BTC-USDC-PERP` |
//! | `future` / other | future | `BTC-24JUN22` → `BTC-USD-20220624` |
//! | `option` | option | `ETH-30JUL21-2800-C` → `ETH-USD-20210730-2800-C`, `MATIC_USDC-9MAR24-1d02-C` → `MATIC-USDC-20240309-1d02-C` |
//! | `spot` | spot | `BTC_USDC` → `BTC-USDC` |
//!
//! The quote of the normalized symbol is the currency prices and strikes are expressed in:
//! `counter_currency` when present; otherwise `quote_currency`, except for inverse options
//! whose `quote_currency` is the coin itself (their strikes are in USD). Combos
//! (`future_combo`, `option_combo`) have no normalized form and are skipped.

use marketprism_core::model::{ExchangeId, Instrument, MarketType, OptionType, ms_to_ns};

use super::wire::rest::{InstrumentData, Response};
use crate::ExchangeError;

/// Parses one `public/get_instruments` response body.
///
/// ```
/// use marketprism_exchanges::deribit::parse_instruments;
/// let body = r#"{"jsonrpc":"2.0","result":[{"tick_size":0.5,"settlement_period":"perpetual",
///   "quote_currency":"USD","min_trade_amount":10.0,"kind":"future","instrument_name":"BTC-PERPETUAL",
///   "expiration_timestamp":32503708800000,"contract_size":10.0,"base_currency":"BTC"}]}"#;
/// let instruments = parse_instruments(body)?;
/// assert_eq!(instruments[0].symbol.as_str(), "BTC-USD-PERP");
/// # Ok::<_, marketprism_exchanges::ExchangeError>(())
/// ```
pub fn parse_instruments(body: &str) -> Result<Vec<Instrument>, ExchangeError> {
    let response: Response<'_, Vec<InstrumentData<'_>>> =
        serde_json::from_str(body).map_err(|source| ExchangeError::Malformed {
            exchange: ExchangeId::DERIBIT,
            what: "get_instruments",
            source,
        })?;
    if let Some(e) = response.error {
        return Err(ExchangeError::Invalid {
            exchange: ExchangeId::DERIBIT,
            what: "get_instruments",
            detail: format!("error {}: {}", e.code, e.message),
        });
    }
    let list = response.result.unwrap_or_default();
    let mut out = Vec::with_capacity(list.len());
    for data in &list {
        if let Some(instrument) = to_instrument(data)? {
            out.push(instrument);
        }
    }
    Ok(out)
}

/// One instrument; `Ok(None)` for kinds without a normalized form (combos).
fn to_instrument(d: &InstrumentData<'_>) -> Result<Option<Instrument>, ExchangeError> {
    let market = match (d.kind, d.settlement_period) {
        ("future", Some("perpetual")) => MarketType::Perpetual,
        ("future", _) => MarketType::Future,
        ("option", _) => MarketType::Option,
        ("spot", _) => MarketType::Spot,
        _ => return Ok(None),
    };
    let quote = match d.counter_currency {
        Some(counter) => counter,
        None if market == MarketType::Option && d.quote_currency == d.base_currency => "USD",
        None => d.quote_currency,
    };
    let mut i = Instrument::new(
        ExchangeId::DERIBIT,
        market,
        d.instrument_name,
        d.base_currency,
        quote,
    )
    .with_tick_size(d.tick_size);
    if let Some(lot) = d.min_trade_amount {
        i = i.with_lot_size(lot);
    }
    if market != MarketType::Spot {
        // Inverse instruments of older responses carry no settlement currency: they settle
        // in the coin.
        i = i.with_settle(d.settlement_currency.unwrap_or(d.base_currency));
        if let Some(size) = d.contract_size {
            i = i.with_contract_size(size);
        }
    }
    if matches!(market, MarketType::Future | MarketType::Option) {
        let expiry = d
            .expiration_timestamp
            .ok_or_else(|| invalid(d, "no expiration_timestamp"))?;
        i = i.with_expiry(ms_to_ns(expiry));
    }
    if market == MarketType::Option {
        let strike = d
            .strike
            .ok_or_else(|| invalid(d, "option without strike"))?;
        let option_type = match d.option_type {
            Some("call") => OptionType::Call,
            Some("put") => OptionType::Put,
            _ => return Err(invalid(d, "option_type is not call/put")),
        };
        i = i.with_option(strike, option_type);
    }
    Ok(Some(i))
}

/// A currency's Deribit index (price index and DVOL) as an instrument of market
/// [`MarketType::Index`], so a subscription can name the currency: `BTC`, `btc`, `btc_usd`,
/// `BTC-USD` and `BTC-DVOL` all give native `btc_usd`, symbol `BTC-USD`. `None` unless a
/// listed instrument has that base currency (the index list is derived from the instrument
/// endpoint, never hand-written).
///
/// ```
/// use marketprism_core::model::{ExchangeId, Instrument, MarketType};
/// use marketprism_exchanges::{InstrumentMap, deribit::index_instrument};
/// let map = InstrumentMap::from_iter([
///     Instrument::new(ExchangeId::DERIBIT, MarketType::Perpetual, "BTC-PERPETUAL", "BTC", "USD"),
/// ]);
/// let btc = index_instrument(&map, "BTC").expect("listed currency");
/// assert_eq!((btc.native_symbol.as_str(), btc.symbol.as_str()), ("btc_usd", "BTC-USD"));
/// assert_eq!(index_instrument(&map, "btc_usd").map(|i| i.native_symbol), Some("btc_usd".into()));
/// assert!(index_instrument(&map, "ETH").is_none());
/// ```
pub fn index_instrument(instruments: &crate::InstrumentMap, symbol: &str) -> Option<Instrument> {
    let upper = symbol.to_ascii_uppercase();
    let currency = ["-DVOL", "-USD", "_USD"]
        .iter()
        .find_map(|suffix| upper.strip_suffix(suffix))
        .unwrap_or(&upper);
    if currency.is_empty() || !currency.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    instruments.iter().any(|i| i.base == currency).then(|| {
        Instrument::new(
            ExchangeId::DERIBIT,
            MarketType::Index,
            format!("{}_usd", currency.to_ascii_lowercase()),
            currency,
            "USD",
        )
    })
}

fn invalid(d: &InstrumentData<'_>, why: &str) -> ExchangeError {
    ExchangeError::Invalid {
        exchange: ExchangeId::DERIBIT,
        what: "instrument",
        detail: format!("{}: {why}", d.instrument_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let body = r#"{"jsonrpc":"2.0","result":[
          {"tick_size":1.0,"settlement_period":"perpetual","settlement_currency":"USDC","quote_currency":"USDC","min_trade_amount":0.001,"kind":"future","instrument_name":"BTC_USDC-PERPETUAL","expiration_timestamp":32503708800000,"counter_currency":"USDC","contract_size":0.001,"base_currency":"BTC"},
          {"tick_size":0.5,"settlement_period":"month","quote_currency":"USD","min_trade_amount":10.0,"kind":"future","instrument_name":"BTC-24JUN22","expiration_timestamp":1656057600000,"contract_size":10.0,"base_currency":"BTC"},
          {"tick_size":0.0005,"strike":2800.0,"settlement_period":"month","quote_currency":"ETH","option_type":"call","min_trade_amount":1,"kind":"option","instrument_name":"ETH-30JUL21-2800-C","expiration_timestamp":1627632000000,"contract_size":1.0,"base_currency":"ETH"},
          {"tick_size":0.0001,"quote_currency":"USDC","min_trade_amount":0.0001,"kind":"spot","instrument_name":"BTC_USDC","base_currency":"BTC","counter_currency":"USDC","contract_size":0.0001},
          {"tick_size":0.5,"settlement_period":"month","quote_currency":"USD","min_trade_amount":10,"kind":"future_combo","instrument_name":"BTC-FS-30SEP22_PERP","expiration_timestamp":1664524800000,"contract_size":10,"base_currency":"BTC"}
        ]}"#;
        let v = parse_instruments(body).expect("parse");
        let symbols: Vec<&str> = v.iter().map(|i| i.symbol.as_str()).collect();
        assert_eq!(
            symbols,
            [
                "BTC-USDC-PERP",
                "BTC-USD-20220624",
                "ETH-USD-20210730-2800-C",
                "BTC-USDC"
            ]
        );
        assert_eq!(v[0].settle.as_deref(), Some("USDC"));
        assert_eq!(v[1].settle.as_deref(), Some("BTC"));
        assert_eq!(
            v[1].contract_size.map(|d| d.to_string()),
            Some("10.0".to_owned())
        );
        assert_eq!(v[2].option_type, Some(OptionType::Call));
        assert_eq!(v[2].expiry, Some(1_627_632_000_000_000_000));
        assert_eq!(v[3].settle, None);
    }

    #[test]
    fn error_body_is_an_error() {
        let body = r#"{"jsonrpc":"2.0","error":{"message":"Invalid params","code":-32602}}"#;
        assert!(parse_instruments(body).is_err());
        assert!(parse_instruments("{").is_err());
    }
}
