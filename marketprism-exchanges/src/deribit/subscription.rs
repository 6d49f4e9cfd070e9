//! Channel names, JSON-RPC request frames and REST requests.
//!
//! Public channels are subscribed at the `100ms` interval: `raw` needs an authorised
//! connection (docs: `book.{instrument_name}.{interval}`), and 100 ms aggregation keeps the
//! same `prev_change_id` chain rule.

use marketprism_core::model::now_ns;

use crate::{RestKind, RestRequest, Subscription, venue::Channel};

/// Interval suffix of the public streams.
const INTERVAL: &str = "100ms";

/// Resolution (minutes) of the `chart.trades` kline stream.
const KLINE_RESOLUTION: &str = "1";

/// Whether a native symbol names a Deribit index (`btc_usd`) rather than an instrument
/// (`BTC-PERPETUAL`, `BTC_USDC`): index names are lower case.
fn is_index_name(native: &str) -> bool {
    native.contains('_') && !native.bytes().any(|b| b.is_ascii_uppercase())
}

/// The currency (lower case) a native symbol or index name belongs to: `BTC-PERPETUAL`,
/// `BTC_USDC-PERPETUAL`, `BTC-27DEC24-60000-C`, `BTC_USDC`, `BTC` and `btc_usd` → `btc`.
/// DVOL is published per currency (`deribit_volatility_index.btc_usd`), so every instrument
/// of a currency maps to that currency's index.
pub(crate) fn currency_of(native: &str) -> String {
    native
        .split(['-', '_'])
        .next()
        .unwrap_or(native)
        .to_ascii_lowercase()
}

/// The Deribit channel carrying `subscription`, or `None` when Deribit has no such stream.
///
/// Ticker-derived data (ticker, funding, mark price, open interest, option summary) all come
/// from `ticker.{instrument}.100ms`; liquidations from the trades stream; DVOL from
/// `deribit_volatility_index.{currency}_usd` (the native symbol is the currency, e.g. `BTC`).
///
/// ```
/// use marketprism_exchanges::{deribit::channel_name, Channel, Subscription};
/// assert_eq!(channel_name(&Subscription::new(Channel::Book, "BTC-PERPETUAL")).as_deref(), Some("book.BTC-PERPETUAL.100ms"));
/// assert_eq!(channel_name(&Subscription::new(Channel::Funding, "BTC-PERPETUAL")).as_deref(), Some("ticker.BTC-PERPETUAL.100ms"));
/// assert_eq!(channel_name(&Subscription::new(Channel::MarkPrice, "btc_usd")).as_deref(), Some("deribit_price_index.btc_usd"));
/// assert_eq!(channel_name(&Subscription::new(Channel::VolatilityIndex, "BTC")).as_deref(), Some("deribit_volatility_index.btc_usd"));
/// assert_eq!(channel_name(&Subscription::new(Channel::VolatilityIndex, "btc_usd")).as_deref(), Some("deribit_volatility_index.btc_usd"));
/// assert_eq!(channel_name(&Subscription::new(Channel::VolatilityIndex, "BTC-PERPETUAL")).as_deref(), Some("deribit_volatility_index.btc_usd"));
/// assert_eq!(channel_name(&Subscription::new(Channel::VolatilityIndex, "ETH_USDC-PERPETUAL")).as_deref(), Some("deribit_volatility_index.eth_usd"));
/// assert_eq!(channel_name(&Subscription::new(Channel::LongShortRatio, "BTC-PERPETUAL")), None);
/// ```
pub fn channel_name(subscription: &Subscription) -> Option<String> {
    let n = subscription.native_symbol.as_str();
    Some(match subscription.channel {
        Channel::Trades | Channel::Liquidations => format!("trades.{n}.{INTERVAL}"),
        Channel::Book => format!("book.{n}.{INTERVAL}"),
        Channel::Bbo => format!("quote.{n}"),
        Channel::MarkPrice if is_index_name(n) => format!("deribit_price_index.{n}"),
        Channel::Ticker
        | Channel::Funding
        | Channel::MarkPrice
        | Channel::OpenInterest
        | Channel::OptionSummary => format!("ticker.{n}.{INTERVAL}"),
        Channel::Kline => format!("chart.trades.{n}.{KLINE_RESOLUTION}"),
        Channel::VolatilityIndex if is_index_name(n) => format!("deribit_volatility_index.{n}"),
        Channel::VolatilityIndex => format!("deribit_volatility_index.{}_usd", currency_of(n)),
        Channel::LongShortRatio => return None,
    })
}

/// `public/subscribe` or `public/unsubscribe` frames, `per_message` channels each; channels
/// shared by several subscriptions (the ticker) are requested once.
pub(crate) fn channel_frames(
    method: &str,
    subscriptions: &[Subscription],
    request_id: u64,
    per_message: usize,
) -> Vec<String> {
    let mut channels: Vec<String> = Vec::with_capacity(subscriptions.len());
    for s in subscriptions {
        if let Some(name) = channel_name(s)
            && !channels.contains(&name)
        {
            channels.push(name);
        }
    }
    channels
        .chunks(per_message.max(1))
        .zip(request_id..)
        .map(|(chunk, id)| {
            // Serializing a list of strings cannot fail.
            let list = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".to_owned());
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{"channels":{list}}}}}"#
            )
        })
        .collect()
}

/// `public/set_heartbeat`: the server then sends a `test_request` every `interval_secs`.
pub(crate) fn set_heartbeat(id: u64, interval_secs: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"public/set_heartbeat","params":{{"interval":{interval_secs}}}}}"#
    )
}

/// `public/test`: the answer a `test_request` requires, or the server closes the connection.
pub(crate) fn test_request(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"public/test","params":{{}}}}"#)
}

/// The instrument lists: futures (incl. perpetuals), options, spot, every currency.
/// (`public/get_instruments` is limited to ~1 request/s sustained.)
pub(crate) fn instruments_requests() -> Vec<RestRequest> {
    ["future", "option", "spot"]
        .into_iter()
        .map(|kind| RestRequest {
            path_and_query: format!("/api/v2/public/get_instruments?currency=any&kind={kind}"),
            weight: 1,
        })
        .collect()
}

/// `public/get_order_book` (full depth) for an explicit REST snapshot.
pub(crate) fn order_book_request(native: &str) -> RestRequest {
    RestRequest {
        path_and_query: format!(
            "/api/v2/public/get_order_book?instrument_name={native}&depth=10000"
        ),
        weight: 1,
    }
}

/// REST polling, for runtimes that poll instead of (or besides) the ticker stream: book
/// summaries for open interest and funding, `public/get_volatility_index_data` for DVOL.
/// The DVOL window is the last 10 minutes at 1-minute resolution, computed at call time, so
/// call this per poll.
pub(crate) fn poll_requests(subscription: &Subscription) -> Vec<(RestRequest, RestKind)> {
    let n = subscription.native_symbol.as_str();
    let summary = || RestRequest {
        path_and_query: format!(
            "/api/v2/public/get_book_summary_by_instrument?instrument_name={n}"
        ),
        weight: 1,
    };
    match subscription.channel {
        Channel::OpenInterest => vec![(
            summary(),
            RestKind::OpenInterest {
                native_symbol: n.to_owned(),
            },
        )],
        Channel::Funding => vec![(
            summary(),
            RestKind::FundingRate {
                native_symbol: n.to_owned(),
            },
        )],
        Channel::VolatilityIndex => {
            let currency = currency_of(n).to_ascii_uppercase();
            let end = now_ns() / 1_000_000;
            let start = end - 10 * 60 * 1000;
            vec![(
                RestRequest {
                    path_and_query: format!(
                        "/api/v2/public/get_volatility_index_data?currency={currency}&start_timestamp={start}&end_timestamp={end}&resolution=60"
                    ),
                    weight: 1,
                },
                RestKind::VolatilityIndex { currency },
            )]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_dedup_and_chunk() {
        let subs = [
            Subscription::new(Channel::Ticker, "BTC-PERPETUAL"),
            Subscription::new(Channel::Funding, "BTC-PERPETUAL"),
            Subscription::new(Channel::Book, "BTC-PERPETUAL"),
            Subscription::new(Channel::Trades, "ETH-PERPETUAL"),
            Subscription::new(Channel::LongShortRatio, "ETH-PERPETUAL"),
        ];
        let frames = channel_frames("public/subscribe", &subs, 7, 2);
        assert_eq!(
            frames,
            [
                r#"{"jsonrpc":"2.0","id":7,"method":"public/subscribe","params":{"channels":["ticker.BTC-PERPETUAL.100ms","book.BTC-PERPETUAL.100ms"]}}"#,
                r#"{"jsonrpc":"2.0","id":8,"method":"public/subscribe","params":{"channels":["trades.ETH-PERPETUAL.100ms"]}}"#,
            ]
        );
    }

    #[test]
    fn heartbeat_frames_are_json() {
        let v: serde_json::Value = serde_json::from_str(&set_heartbeat(3, 10)).expect("json");
        assert_eq!(v["params"]["interval"], 10);
        let v: serde_json::Value = serde_json::from_str(&test_request(4)).expect("json");
        assert_eq!(v["method"], "public/test");
    }

    #[test]
    fn polls() {
        let p = poll_requests(&Subscription::new(Channel::VolatilityIndex, "BTC"));
        assert_eq!(p.len(), 1);
        assert!(p[0].0.path_and_query.contains("currency=BTC&"));
        assert_eq!(
            p[0].1,
            RestKind::VolatilityIndex {
                currency: "BTC".to_owned()
            }
        );
        let p = poll_requests(&Subscription::new(Channel::OpenInterest, "BTC-PERPETUAL"));
        assert!(
            p[0].0
                .path_and_query
                .ends_with("instrument_name=BTC-PERPETUAL")
        );
        assert!(poll_requests(&Subscription::new(Channel::Trades, "BTC-PERPETUAL")).is_empty());
    }
}
