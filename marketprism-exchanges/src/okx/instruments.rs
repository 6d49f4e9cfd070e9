//! `GET /api/v5/public/instruments?instType=SPOT|SWAP|FUTURES|OPTION` into [`Instrument`]s
//! (<https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments>).
//!
//! * SPOT → [`MarketType::Spot`], base/quote from `baseCcy`/`quoteCcy`.
//! * SWAP → [`MarketType::Perpetual`], FUTURES → [`MarketType::Future`], OPTION →
//!   [`MarketType::Option`]: base/quote from the instrument family (`instFamily`, else `uly`,
//!   else the `instId` minus its suffix), split at the first `-`. The family, not `uly`, because
//!   OKX lists USD-margined linear futures (`BTC-USD_UM-261030`, family `BTC-USD_UM`) beside the
//!   inverse ones (`BTC-USD-261030`) with the same `uly`: the family keeps their normalized
//!   symbols apart (`BTC-USD_UM-20261030` vs `BTC-USD-20261030`).
//! * contract size = `ctVal × ctMult` (`ctMult` defaults to 1); expiry from `expTime` (ms), or
//!   from the `YYMMDD` code of the `instId` when `expTime` is empty; strike `stk`; `optType` C/P.
//!
//! Normalized symbols come from [`Instrument::new`] and its `with_*` builders:
//! `BTC-USDT-SWAP` → `BTC-USDT-PERP`, `BTC-USD-220527` → `BTC-USD-20220527`,
//! `BTC-USD-261225-60000-C` → `BTC-USD-20261225-60000-C`.

use marketprism_core::model::{ExchangeId, Instrument, MarketType, OptionType, ms_to_ns};

use super::wire::rest::{InstrumentData, RestResponse};
use crate::ExchangeError;

/// Parses one instruments response body. A body with a non-zero `code` is an error; an
/// instrument of a type we do not map (`MARGIN`) is skipped, and so is (with a warning) one
/// whose fields do not make sense, so that one odd listing does not block the other thousand.
pub(crate) fn parse_instruments(body: &str) -> Result<Vec<Instrument>, ExchangeError> {
    let resp: RestResponse<'_, InstrumentData<'_>> =
        serde_json::from_str(body).map_err(|source| ExchangeError::Malformed {
            exchange: ExchangeId::OKX,
            what: "instruments",
            source,
        })?;
    if resp.code != "0" {
        return Err(ExchangeError::Invalid {
            exchange: ExchangeId::OKX,
            what: "instruments",
            detail: format!("code {}: {}", resp.code, resp.msg),
        });
    }
    let mut out = Vec::with_capacity(resp.data.len());
    for d in &resp.data {
        match instrument(d) {
            Ok(Some(i)) => out.push(i),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "okx: skipping instrument"),
        }
    }
    Ok(out)
}

fn invalid(d: &InstrumentData<'_>, detail: &str) -> ExchangeError {
    ExchangeError::Invalid {
        exchange: ExchangeId::OKX,
        what: "instrument",
        detail: format!("{}: {detail}", d.inst_id),
    }
}

fn instrument(d: &InstrumentData<'_>) -> Result<Option<Instrument>, ExchangeError> {
    let market = match d.inst_type {
        "SPOT" => MarketType::Spot,
        "SWAP" => MarketType::Perpetual,
        "FUTURES" => MarketType::Future,
        "OPTION" => MarketType::Option,
        _ => return Ok(None),
    };
    let mut i = if market == MarketType::Spot {
        if d.base_ccy.is_empty() || d.quote_ccy.is_empty() {
            return Err(invalid(d, "spot instrument without baseCcy/quoteCcy"));
        }
        Instrument::new(ExchangeId::OKX, market, d.inst_id, d.base_ccy, d.quote_ccy)
    } else {
        let family = [d.inst_family, d.uly]
            .into_iter()
            .find(|f| !f.is_empty())
            .or_else(|| family_from_id(d.inst_id, market))
            .ok_or_else(|| invalid(d, "no instFamily/uly"))?;
        let (base, quote) = family
            .split_once('-')
            .filter(|(b, q)| !b.is_empty() && !q.is_empty())
            .ok_or_else(|| invalid(d, "family is not BASE-QUOTE"))?;
        let mut i = Instrument::new(ExchangeId::OKX, market, d.inst_id, base, quote);
        if !d.settle_ccy.is_empty() {
            i = i.with_settle(d.settle_ccy);
        }
        if let Some(v) = d.ct_val {
            i = i.with_contract_size(v * d.ct_mult.unwrap_or(rust_decimal::Decimal::ONE));
        }
        i
    };
    if let Some(t) = d.tick_sz {
        i = i.with_tick_size(t);
    }
    if let Some(l) = d.lot_sz {
        i = i.with_lot_size(l);
    }
    if matches!(market, MarketType::Future | MarketType::Option) {
        let expiry = d
            .exp_time
            .map(ms_to_ns)
            .or_else(|| expiry_from_id(d.inst_id, market))
            .ok_or_else(|| invalid(d, "no expTime"))?;
        i = i.with_expiry(expiry);
    }
    if market == MarketType::Option {
        let strike = d.stk.ok_or_else(|| invalid(d, "option without stk"))?;
        let kind = match d.opt_type {
            "C" => OptionType::Call,
            "P" => OptionType::Put,
            _ => return Err(invalid(d, "optType is not C/P")),
        };
        i = i.with_option(strike, kind);
    }
    Ok(Some(i))
}

/// The family part of a derivative id: `BTC-USD-SWAP` → `BTC-USD`, `BTC-USD-220527` →
/// `BTC-USD`, `BTC-USD-220527-30000-C` → `BTC-USD`.
fn family_from_id(inst_id: &str, market: MarketType) -> Option<&str> {
    let suffix_parts = if market == MarketType::Option { 3 } else { 1 };
    let mut end = inst_id.len();
    for _ in 0..suffix_parts {
        end = inst_id[..end].rfind('-')?;
    }
    Some(&inst_id[..end])
}

/// 00:00 UTC of the `YYMMDD` code of a future/option id (OKX expiries are 08:00 UTC; only the
/// date enters the normalized symbol).
fn expiry_from_id(inst_id: &str, market: MarketType) -> Option<i64> {
    let code = match market {
        MarketType::Option => inst_id.rsplit('-').nth(2)?,
        _ => inst_id.rsplit('-').next()?,
    };
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| code[r].parse::<u32>().ok();
    let (yy, mm, dd) = (n(0..2)?, n(2..4)?, n(4..6)?);
    Some(Instrument::date_ns(2000 + i64::from(yy), mm, dd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Instrument {
        let body = format!(r#"{{"code":"0","msg":"","data":[{json}]}}"#);
        let mut v = parse_instruments(&body).expect("parse");
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn kinds_and_symbols() {
        let spot = one(
            r#"{"baseCcy":"BTC","ctMult":"","ctVal":"","expTime":"","instId":"BTC-USDT","instType":"SPOT","lotSz":"0.00000001","optType":"","quoteCcy":"USDT","settleCcy":"","stk":"","tickSz":"0.1","uly":""}"#,
        );
        assert_eq!(
            (spot.symbol.as_str(), spot.market),
            ("BTC-USDT", MarketType::Spot)
        );
        assert_eq!(spot.contract_size, None);
        assert_eq!(
            spot.lot_size.map(|d| d.to_string()).as_deref(),
            Some("0.00000001")
        );
        let swap = one(
            r#"{"baseCcy":"","ctMult":"1","ctType":"linear","ctVal":"10","ctValCcy":"ZRX","expTime":"","instId":"ZRX-USDT-SWAP","instType":"SWAP","lotSz":"1","optType":"","quoteCcy":"","settleCcy":"USDT","stk":"","tickSz":"0.0001","uly":"ZRX-USDT"}"#,
        );
        assert_eq!(swap.symbol.as_str(), "ZRX-USDT-PERP");
        assert_eq!(swap.settle.as_deref(), Some("USDT"));
        assert_eq!(
            swap.contract_size.map(|d| d.to_string()).as_deref(),
            Some("10")
        );
        let fut = one(
            r#"{"ctMult":"1","ctVal":"100","ctValCcy":"USD","expTime":"1653638400000","instId":"BTC-USD-220527","instType":"FUTURES","lotSz":"1","optType":"","settleCcy":"BTC","stk":"","tickSz":"0.1","uly":"BTC-USD"}"#,
        );
        assert_eq!(fut.symbol.as_str(), "BTC-USD-20220527");
        assert_eq!(fut.expiry, Some(1_653_638_400_000_000_000));
        let opt = one(
            r#"{"ctMult":"0.1","ctVal":"1","ctValCcy":"BTC","expTime":"1798185600000","instId":"BTC-USD-261225-60000-C","instType":"OPTION","lotSz":"1","optType":"C","settleCcy":"BTC","stk":"60000","tickSz":"0.0005","uly":"BTC-USD"}"#,
        );
        assert_eq!(opt.symbol.as_str(), "BTC-USD-20261225-60000-C");
        assert_eq!(
            opt.contract_size
                .map(|d| d.normalize().to_string())
                .as_deref(),
            Some("0.1")
        );
        assert_eq!(opt.option_type, Some(OptionType::Call));
    }

    #[test]
    fn family_beats_uly_and_fallbacks() {
        let um = one(
            r#"{"instType":"FUTURES","instId":"BTC-USD_UM-261030","settleCcy":"USD","ctVal":"0.01","ctMult":"1","uly":"BTC-USD","instFamily":"BTC-USD_UM","tickSz":"0.1","lotSz":"0.01","expTime":"1793347200000"}"#,
        );
        assert_eq!(um.symbol.as_str(), "BTC-USD_UM-20261030");
        let no_family = one(
            r#"{"instType":"OPTION","instId":"ETH-USD-220325-8800-P","stk":"8800","optType":"P","expTime":""}"#,
        );
        assert_eq!(no_family.symbol.as_str(), "ETH-USD-20220325-8800-P");
        assert_eq!(
            family_from_id("BTC-USD-SWAP", MarketType::Perpetual),
            Some("BTC-USD")
        );
    }

    #[test]
    fn errors_and_skips() {
        assert!(
            parse_instruments(r#"{"code":"50011","msg":"Too Many Requests","data":[]}"#).is_err()
        );
        assert!(parse_instruments("{").is_err());
        let margin = r#"{"code":"0","msg":"","data":[{"instType":"MARGIN","instId":"BTC-USDT"}]}"#;
        assert_eq!(parse_instruments(margin).map(|v| v.len()).ok(), Some(0));
        let bad = r#"{"code":"0","msg":"","data":[{"instType":"OPTION","instId":"X-Y-1-2-Q","uly":"X-Y","expTime":"1","stk":"2","optType":"Q"}]}"#;
        assert_eq!(parse_instruments(bad).map(|v| v.len()).ok(), Some(0));
        let d: InstrumentData<'_> = serde_json::from_str(r#"{"instType":"OPTION","instId":"X-Y-1-2-Q","uly":"X-Y","expTime":"1","stk":"2","optType":"Q"}"#).expect("json");
        assert!(instrument(&d).is_err());
    }
}
