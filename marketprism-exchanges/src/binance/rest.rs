//! REST bodies: depth snapshots (book sync), open interest, long/short ratios.

use marketprism_core::model::{LongShortRatio, MarketEvent, RatioKind, TimestampNs, ms_to_ns};

use super::{
    book::Snapshot,
    normalize,
    normalizer::{BinanceNormalizer, EX, parse, unknown},
    subscription::RATIO_PERIOD,
    wire::{
        Probe,
        book::DepthImage,
        rest::{OpenInterestBody, RatioRecord},
    },
};
use crate::{ExchangeError, Output, RestKind};

impl BinanceNormalizer {
    fn long_short(
        &self,
        native: &str,
        endpoint: &str,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        let (path, query) = endpoint.split_once('?').unwrap_or((endpoint, ""));
        let kind = match path.rsplit('/').next().unwrap_or(path) {
            "topLongShortPositionRatio" => RatioKind::TopTraderPositions,
            "topLongShortAccountRatio" => RatioKind::TopTraderAccounts,
            "globalLongShortAccountRatio" => RatioKind::AllAccounts,
            other => {
                return Err(ExchangeError::Unsupported {
                    exchange: EX,
                    detail: format!("long/short endpoint `{other}`"),
                });
            }
        };
        let period = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("period="))
            .unwrap_or(RATIO_PERIOD);
        let records: Vec<RatioRecord> = parse(body, "long/short ratio")?;
        // COIN-M answers per pair (`BTCUSD`): attribute it to the pair's perpetual.
        let inst = match self.instruments.by_native(native) {
            Some(i) => i,
            None => self
                .instruments
                .by_native(&format!("{native}_PERP"))
                .ok_or_else(|| unknown(native))?,
        };
        for r in records {
            out.events.push(MarketEvent::LongShortRatio(LongShortRatio {
                exchange: inst.exchange,
                market: inst.market,
                symbol: inst.symbol.clone(),
                kind,
                period: period.into(),
                ratio: r.ratio,
                long_share: r.long_account.or(r.long_position),
                short_share: r.short_account.or(r.short_position),
                exchange_ts: ms_to_ns(r.timestamp),
                local_ts,
            }));
        }
        Ok(())
    }

    pub(super) fn rest_body(
        &mut self,
        kind: &RestKind,
        body: &str,
        local_ts: TimestampNs,
        out: &mut Output,
    ) -> Result<(), ExchangeError> {
        match kind {
            RestKind::DepthSnapshot { native_symbol } => {
                let m: DepthImage = parse(body, "depth snapshot")?;
                let inst = self
                    .instruments
                    .by_native(native_symbol)
                    .ok_or_else(|| unknown(native_symbol))?
                    .clone();
                let snap = Snapshot {
                    last_update_id: m.last_update_id,
                    exchange_ts: m
                        .transaction_time
                        .or(m.event_time)
                        .map_or(local_ts, ms_to_ns),
                    bids: m.bids,
                    asks: m.asks,
                };
                self.with_book(&inst, |b| b.on_snapshot(snap, local_ts, out));
                Ok(())
            }
            RestKind::OpenInterest { .. } => parse::<OpenInterestBody<'_>>(body, "openInterest")
                .and_then(|b| {
                    let inst = self
                        .instruments
                        .by_native(b.symbol)
                        .ok_or_else(|| unknown(b.symbol))?;
                    let oi = normalize::open_interest(inst, &b, self.coinm(), local_ts);
                    out.events.push(MarketEvent::OpenInterest(oi));
                    Ok(())
                }),
            RestKind::LongShortRatio {
                native_symbol,
                endpoint,
            } => self.long_short(native_symbol, endpoint, body, local_ts, out),
            other => Err(ExchangeError::Unsupported {
                exchange: EX,
                detail: format!("REST kind {other:?}"),
            }),
        }
    }
}

/// A REST error body (`{"code":-1121,"msg":"Invalid symbol."}`) as an error, if it is one.
pub(super) fn rest_error(body: &str) -> Option<ExchangeError> {
    let probe: Probe<'_> = serde_json::from_str(body).ok()?;
    let code = probe.code?;
    Some(ExchangeError::Invalid {
        exchange: EX,
        what: "REST response",
        detail: format!("exchange error {code}: {}", probe.msg.unwrap_or_default()),
    })
}
