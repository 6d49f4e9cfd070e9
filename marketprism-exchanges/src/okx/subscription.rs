//! Channel names, subscribe/unsubscribe frames, WebSocket URL choice and REST paths.
//!
//! Docs: <https://www.okx.com/docs-v5/en/#overview-websocket-subscribe> (one request may carry
//! many args, total ≤ 64 KB; 480 subscribe/unsubscribe/login requests per hour per connection).

use std::collections::HashSet;

use marketprism_core::model::RatioKind;
use serde::Serialize;

use crate::{Channel, RestKind, RestRequest, Subscription};

/// Path of the public WebSocket (books, trades, tickers, funding, OI, mark price, liquidations).
pub(crate) const PUBLIC_PATH: &str = "/ws/v5/public";
/// Path of the business WebSocket (candles, `trades-all`).
pub(crate) const BUSINESS_PATH: &str = "/ws/v5/business";
/// Candle channel used for [`Channel::Kline`] (the channel carries no interval: 1 minute).
pub(crate) const KLINE_CHANNEL: &str = "candle1m";
/// Period of the polled long/short statistics (their finest granularity).
pub(crate) const RATIO_PERIOD: &str = "5m";
/// OKX's limit on the total size of one request's args.
const MAX_ARGS_BYTES: usize = 64 * 1024;

/// Rubik long/short endpoints under `/api/v5/rubik/stat/contracts/`: name, population, and
/// whether it is queried per currency (`ccy`) rather than per instrument (`instId`).
pub(crate) const RATIO_ENDPOINTS: [(&str, RatioKind, bool); 4] = [
    (
        "long-short-account-ratio-contract",
        RatioKind::AllAccounts,
        false,
    ),
    (
        "long-short-account-ratio-contract-top-trader",
        RatioKind::TopTraderAccounts,
        false,
    ),
    (
        "long-short-position-ratio-contract-top-trader",
        RatioKind::TopTraderPositions,
        false,
    ),
    ("long-short-account-ratio", RatioKind::AllAccounts, true),
];

/// Which statistic a [`RestKind::LongShortRatio`] `endpoint` names, accepting the bare name
/// (`long-short-account-ratio-contract`) or a path with query (`…?instId=…&period=1H`), and
/// the period it asked for ([`RATIO_PERIOD`] when not given).
pub(crate) fn ratio_endpoint(endpoint: &str) -> Option<(RatioKind, bool, &str)> {
    let (path, query) = endpoint.split_once('?').unwrap_or((endpoint, ""));
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, kind, per_ccy) = RATIO_ENDPOINTS.iter().find(|(n, _, _)| *n == name)?;
    let period = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("period="))
        .filter(|p| !p.is_empty())
        .unwrap_or(RATIO_PERIOD);
    Some((*kind, *per_ccy, period))
}

/// The OKX `instType` an instrument id belongs to, from its shape: `…-SWAP` → `SWAP`,
/// `…-YYMMDD-STRIKE-C|P` → `OPTION`, `…-YYMMDD` → `FUTURES`, otherwise `SPOT`/margin pairs.
pub(crate) fn inst_type_of(inst_id: &str) -> &'static str {
    let mut parts = inst_id.rsplit('-');
    let last = parts.next().unwrap_or("");
    if last == "SWAP" {
        "SWAP"
    } else if (last == "C" || last == "P") && inst_id.split('-').count() >= 5 {
        "OPTION"
    } else if last.len() == 6 && last.bytes().all(|b| b.is_ascii_digit()) {
        "FUTURES"
    } else {
        "MARGIN"
    }
}

/// True for `BASE-QUOTE` ids (spot pairs and indexes).
fn is_pair(inst_id: &str) -> bool {
    inst_id.split('-').count() == 2
}

/// One subscription argument.
#[derive(Debug, Serialize, PartialEq, Eq, Hash)]
struct Arg<'a> {
    channel: &'static str,
    #[serde(rename = "instId", skip_serializing_if = "Option::is_none")]
    inst_id: Option<&'a str>,
    #[serde(rename = "instType", skip_serializing_if = "Option::is_none")]
    inst_type: Option<&'static str>,
}

/// The WebSocket argument for a subscription; `None` for channels OKX does not stream
/// (long/short ratios are polled; option summary and volatility index are not offered).
///
/// * Book → `books` (400 levels, 100 ms, checksum/seqId; `books-l2-tbt` needs a VIP login).
/// * Bbo → `bbo-tbt`; Ticker → `tickers`; Trades → `trades`; Funding → `funding-rate`;
///   OpenInterest → `open-interest`; Kline → `candle1m` (business URL).
/// * MarkPrice → `mark-price` for derivatives, `index-tickers` for `BASE-QUOTE` ids (the
///   index of that pair, emitted as [`MarketType::Index`](marketprism_core::model::MarketType::Index)).
/// * Liquidations → `liquidation-orders` by `instType` (OKX rejects an `instId` arg): one arg
///   covers every instrument of that type.
fn arg(sub: &Subscription) -> Option<Arg<'_>> {
    let id = sub.native_symbol.as_str();
    let per_inst = |channel| {
        Some(Arg {
            channel,
            inst_id: Some(id),
            inst_type: None,
        })
    };
    match sub.channel {
        Channel::Trades => per_inst("trades"),
        Channel::Book => per_inst("books"),
        Channel::Bbo => per_inst("bbo-tbt"),
        Channel::Ticker => per_inst("tickers"),
        Channel::Funding => per_inst("funding-rate"),
        Channel::OpenInterest => per_inst("open-interest"),
        Channel::Kline => per_inst(KLINE_CHANNEL),
        Channel::MarkPrice if is_pair(id) => per_inst("index-tickers"),
        Channel::MarkPrice => per_inst("mark-price"),
        Channel::Liquidations => Some(Arg {
            channel: "liquidation-orders",
            inst_id: None,
            inst_type: Some(inst_type_of(id)),
        }),
        Channel::LongShortRatio | Channel::OptionSummary | Channel::VolatilityIndex => None,
    }
}

/// `base` with its `/ws/v5/public` path replaced by `/ws/v5/business` when any subscription
/// is a candle channel; otherwise `base` unchanged. Deterministic per subscription set, so the connection
/// layer can group subscriptions by URL (a set mixing klines with public channels maps to the
/// business URL, which does not serve the public channels: keep klines in their own group).
/// A base that does not end in `/ws/v5/public` (a simulator serving everything) is kept as is.
pub(crate) fn ws_url(base: &str, subscriptions: &[Subscription]) -> String {
    let trimmed = base.trim_end_matches('/');
    if subscriptions.iter().any(|s| s.channel == Channel::Kline)
        && let Some(prefix) = trimmed.strip_suffix(PUBLIC_PATH)
    {
        return format!("{prefix}{BUSINESS_PATH}");
    }
    trimmed.to_owned()
}

/// `{"id":"<n>","op":"<op>","args":[...]}` frames, at most `max_args` args and 64 KB of args
/// each, duplicates removed (several instruments share one `liquidation-orders` arg).
pub(crate) fn op_frames(
    op: &str,
    subscriptions: &[Subscription],
    request_id: u64,
    max_args: usize,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut frames = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut bytes = 0;
    let mut id = request_id;
    let mut flush = |args: &mut Vec<String>, bytes: &mut usize| {
        if !args.is_empty() {
            frames.push(format!(
                r#"{{"id":"{id}","op":"{op}","args":[{}]}}"#,
                args.join(",")
            ));
            id += 1;
            args.clear();
            *bytes = 0;
        }
    };
    for a in subscriptions.iter().filter_map(arg) {
        // Serializing plain ASCII fields cannot fail; skip defensively rather than panic.
        let Ok(a) = serde_json::to_string(&a) else {
            continue;
        };
        if seen.contains(&a) {
            continue;
        }
        if args.len() >= max_args || bytes + a.len() + 1 > MAX_ARGS_BYTES {
            flush(&mut args, &mut bytes);
        }
        bytes += a.len() + 1;
        seen.insert(a.clone());
        args.push(a);
    }
    flush(&mut args, &mut bytes);
    frames
}

fn get(path_and_query: String) -> RestRequest {
    RestRequest {
        path_and_query,
        weight: 1,
    }
}

/// The four instrument listings.
pub(crate) fn instruments_requests() -> Vec<RestRequest> {
    ["SPOT", "SWAP", "FUTURES", "OPTION"]
        .into_iter()
        .map(|t| get(format!("/api/v5/public/instruments?instType={t}")))
        .collect()
}

/// `GET /api/v5/market/books?instId=…&sz=…` (REST depth, up to 400 levels per side); its body
/// goes to `on_rest` as [`RestKind::DepthSnapshot`]. Not used for book sync, which takes the
/// WebSocket snapshot.
pub fn books_request(native_symbol: &str, depth: usize) -> RestRequest {
    get(format!(
        "/api/v5/market/books?instId={native_symbol}&sz={}",
        depth.clamp(1, 400)
    ))
}

/// The REST polls of a subscription:
///
/// * LongShortRatio on an instrument → the three per-contract Rubik statistics
///   (`long-short-account-ratio-contract`, `…-top-trader`, `long-short-position-ratio-contract-top-trader`),
///   period 5m, newest row; on a currency (`BTC`) → `long-short-account-ratio?ccy=BTC`.
/// * OpenInterest → `GET /api/v5/public/open-interest` (the WebSocket channel is the default source).
/// * Funding → `GET /api/v5/public/funding-rate`.
pub(crate) fn poll_requests(sub: &Subscription) -> Vec<(RestRequest, RestKind)> {
    let id = sub.native_symbol.as_str();
    match sub.channel {
        Channel::LongShortRatio => RATIO_ENDPOINTS
            .iter()
            .filter(|(_, _, per_ccy)| {
                // A currency (`BTC`) has no dash; an instrument id does.
                let is_currency = !id.contains('-');
                *per_ccy == is_currency
            })
            .map(|(name, _, per_ccy)| {
                let param = if *per_ccy { "ccy" } else { "instId" };
                let limit = if *per_ccy { "" } else { "&limit=1" };
                (
                    get(format!(
                        "/api/v5/rubik/stat/contracts/{name}?{param}={id}&period={RATIO_PERIOD}{limit}"
                    )),
                    RestKind::LongShortRatio {
                        native_symbol: id.to_owned(),
                        endpoint: (*name).to_owned(),
                    },
                )
            })
            .collect(),
        Channel::OpenInterest => vec![(
            get(format!(
                "/api/v5/public/open-interest?instType={}&instId={id}",
                inst_type_of(id)
            )),
            RestKind::OpenInterest {
                native_symbol: id.to_owned(),
            },
        )],
        Channel::Funding => vec![(
            get(format!("/api/v5/public/funding-rate?instId={id}")),
            RestKind::FundingRate {
                native_symbol: id.to_owned(),
            },
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(c: Channel, s: &str) -> Subscription {
        Subscription::new(c, s)
    }

    #[test]
    fn frames_dedup_and_chunk() {
        let subs = [
            sub(Channel::Trades, "BTC-USDT"),
            sub(Channel::Book, "BTC-USDT"),
            sub(Channel::Liquidations, "BTC-USDT-SWAP"),
            sub(Channel::Liquidations, "ETH-USDT-SWAP"),
            sub(Channel::MarkPrice, "BTC-USD"),
            sub(Channel::MarkPrice, "BTC-USD-SWAP"),
            sub(Channel::LongShortRatio, "BTC-USD-SWAP"),
        ];
        let f = op_frames("subscribe", &subs, 7, 3);
        assert_eq!(
            f,
            [
                r#"{"id":"7","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"books","instId":"BTC-USDT"},{"channel":"liquidation-orders","instType":"SWAP"}]}"#,
                r#"{"id":"8","op":"subscribe","args":[{"channel":"index-tickers","instId":"BTC-USD"},{"channel":"mark-price","instId":"BTC-USD-SWAP"}]}"#,
            ]
        );
        assert!(op_frames("unsubscribe", &subs[6..], 1, 10).is_empty());
    }

    #[test]
    fn url_choice() {
        let base = "wss://ws.okx.com:8443/ws/v5/public";
        assert_eq!(ws_url(base, &[sub(Channel::Book, "BTC-USDT")]), base);
        assert_eq!(
            ws_url(base, &[sub(Channel::Kline, "BTC-USDT")]),
            "wss://ws.okx.com:8443/ws/v5/business"
        );
        assert_eq!(
            ws_url("ws://127.0.0.1:9/", &[sub(Channel::Kline, "X-Y")]),
            "ws://127.0.0.1:9"
        );
    }

    #[test]
    fn inst_types_and_ratio_endpoints() {
        assert_eq!(inst_type_of("BTC-USDT-SWAP"), "SWAP");
        assert_eq!(inst_type_of("BTC-USD-220527"), "FUTURES");
        assert_eq!(inst_type_of("BTC-USD-220527-30000-C"), "OPTION");
        assert_eq!(inst_type_of("BTC-USDT"), "MARGIN");
        assert_eq!(
            ratio_endpoint(
                "/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader?instId=X&period=1H"
            ),
            Some((RatioKind::TopTraderPositions, false, "1H"))
        );
        assert_eq!(
            ratio_endpoint("long-short-account-ratio"),
            Some((RatioKind::AllAccounts, true, "5m"))
        );
        assert_eq!(ratio_endpoint("nope"), None);
        let polls = poll_requests(&sub(Channel::LongShortRatio, "BTC-USDT-SWAP"));
        assert_eq!(polls.len(), 3);
        assert_eq!(
            polls[0].0.path_and_query,
            "/api/v5/rubik/stat/contracts/long-short-account-ratio-contract?instId=BTC-USDT-SWAP&period=5m&limit=1"
        );
        let polls = poll_requests(&sub(Channel::LongShortRatio, "BTC"));
        assert_eq!(polls.len(), 1);
        assert_eq!(
            polls[0].0.path_and_query,
            "/api/v5/rubik/stat/contracts/long-short-account-ratio?ccy=BTC&period=5m"
        );
    }
}
