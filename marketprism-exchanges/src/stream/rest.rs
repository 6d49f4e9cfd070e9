//! The REST side of a stream: instrument loading (with retries through the weight budget),
//! subscription planning and connection grouping, and REST polling tasks.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use marketprism_core::model::{MarketEvent, now_ns};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::VenuePlan;
use crate::{
    Exchange, ExchangeError, InstrumentMap, Output, RestRequest, Source, Subscription,
    capture::CaptureRecord,
    connection::{CaptureTx, RECONNECT},
    transport::{RestClient, WeightBudget},
};

/// Loads every instrument `exchange` lists (from `rest_url`, or the exchange's default REST
/// base), for callers that subscribe to "all instruments of a market" or shard instruments.
///
/// ```no_run
/// # async fn f() -> Result<(), marketprism_exchanges::ExchangeError> {
/// use marketprism_exchanges::{Venue, fetch_instruments};
/// let all = fetch_instruments(Venue::Okx, None).await?;
/// println!("{} instruments", all.len());
/// # Ok(()) }
/// ```
pub async fn fetch_instruments(
    exchange: impl Into<Arc<dyn Exchange>>,
    rest_url: Option<&str>,
) -> Result<InstrumentMap, ExchangeError> {
    let exchange = exchange.into();
    let venue: Arc<str> = exchange.name().into();
    let rest_base = rest_url.unwrap_or(exchange.rest_base_url());
    let budget = Arc::new(WeightBudget::new(exchange.rest_weight_per_minute()));
    let rest = RestClient::new(Arc::clone(&venue), rest_base, budget);
    load_instruments(&*exchange, &venue, &rest, None).await
}

pub(super) async fn load_instruments(
    exchange: &dyn Exchange,
    venue: &Arc<str>,
    rest: &RestClient,
    capture: Option<&CaptureTx>,
) -> Result<InstrumentMap, ExchangeError> {
    let mut map = InstrumentMap::new();
    for request in exchange.instruments_requests() {
        let body = get_with_retries(rest, &request).await?;
        if let Some(cap) = capture {
            cap.send(CaptureRecord::Instruments {
                ts: now_ns(),
                venue: Arc::clone(venue),
                body: body.clone(),
            })
            .await;
        }
        map.extend(exchange.parse_instruments(&body)?);
    }
    Ok(map)
}

/// GETs with up to five attempts on retryable failures. A 429/418 has already blocked the
/// venue's budget for its `Retry-After`, so the next attempt waits exactly as told.
async fn get_with_retries(
    rest: &RestClient,
    request: &RestRequest,
) -> Result<String, ExchangeError> {
    let mut attempt = 0;
    loop {
        match rest.get(request).await {
            Err(e) if e.is_retryable() && attempt < 4 => {
                tracing::warn!(error = %e, attempt, "instrument request failed; retrying");
                if !matches!(e, ExchangeError::RateLimited { .. }) {
                    RECONNECT.sleep(attempt).await;
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

pub(super) type Polls = Vec<(Subscription, Duration)>;

pub(super) fn plan_subscriptions(
    exchange: &dyn Exchange,
    instruments: &InstrumentMap,
    plan: &VenuePlan,
) -> Result<(Vec<Subscription>, Polls), ExchangeError> {
    let mut ws = Vec::new();
    let mut polls = Vec::new();
    for symbol in &plan.symbols {
        let instrument = match instruments
            .by_symbol(symbol)
            .or_else(|| instruments.by_native(symbol))
        {
            Some(i) => Arc::clone(i),
            None => exchange
                .index_instrument(instruments, symbol)
                .map(Arc::new)
                .ok_or_else(|| ExchangeError::UnknownInstrument {
                    exchange: exchange.exchange_id(),
                    native_symbol: symbol.clone(),
                })?,
        };
        for &channel in &plan.channels {
            let sub = Subscription::new(channel, instrument.native_symbol.clone());
            match exchange.source(channel, &instrument) {
                Source::WebSocket => ws.push(sub),
                Source::Poll(every) => polls.push((sub, every)),
                // `Unsupported`, and any source this version does not know how to use.
                _ => {
                    tracing::warn!(venue = exchange.name(), ?channel, %symbol, "channel not offered for this instrument; skipped")
                }
            }
        }
    }
    Ok((ws, polls))
}

/// Splits subscriptions by WebSocket URL, then into chunks the venue allows per connection.
pub(super) fn group_subscriptions(
    exchange: &dyn Exchange,
    ws_base: &str,
    subs: Vec<Subscription>,
) -> Vec<Vec<Subscription>> {
    let mut by_url: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
    for sub in subs {
        let url = exchange.ws_url(ws_base, std::slice::from_ref(&sub));
        by_url.entry(url).or_default().push(sub);
    }
    by_url
        .into_values()
        .flat_map(|subs| {
            subs.chunks(exchange.max_streams_per_connection().max(1))
                .map(<[Subscription]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn poll_task(
    exchange: Arc<dyn Exchange>,
    venue: Arc<str>,
    rest: RestClient,
    instruments: InstrumentMap,
    sub: Subscription,
    every: Duration,
    tx: mpsc::Sender<MarketEvent>,
    capture: Option<CaptureTx>,
    cancel: CancellationToken,
) {
    let mut normalizer = exchange.normalizer(instruments, None);
    let mut out = Output::new();
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        for (request, kind) in exchange.poll_requests(&sub) {
            let body = match rest.get(&request).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(venue = &*venue, error = %e, "poll failed");
                    continue;
                }
            };
            let ts = now_ns();
            if let Some(cap) = &capture {
                cap.send(CaptureRecord::Rest {
                    ts,
                    venue: Arc::clone(&venue),
                    conn: "poll".into(),
                    request: kind.clone(),
                    body: body.clone(),
                })
                .await;
            }
            out.clear();
            if let Err(e) = normalizer.on_rest(&kind, &body, ts, &mut out) {
                tracing::warn!(venue = &*venue, error = %e, "poll response rejected");
            }
            for event in out.events.drain(..) {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
}
