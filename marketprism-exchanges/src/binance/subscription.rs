//! Stream names, subscribe frames, WebSocket URLs and REST requests of the three Binance venues.

use std::time::Duration;

use marketprism_core::model::{Instrument, MarketType};

use crate::{RestKind, RestRequest, Source, Subscription, Venue, venue::Channel};

/// Kline interval subscribed for [`Channel::Kline`].
pub const KLINE_INTERVAL: &str = "1m";
/// Statistics period requested from the long/short ratio endpoints.
pub const RATIO_PERIOD: &str = "5m";
/// Depth of the REST snapshot used for book sync.
pub const SNAPSHOT_LIMIT: u32 = 1000;
/// Polling interval of open interest.
pub const OPEN_INTEREST_POLL: Duration = Duration::from_secs(30);
/// Polling interval of the long/short ratios (the statistics themselves move every 5 minutes).
pub const RATIO_POLL: Duration = Duration::from_secs(300);

/// The long/short ratio endpoints, under `/futures/data/`.
pub const RATIO_ENDPOINTS: [&str; 3] = [
    "topLongShortPositionRatio",
    "topLongShortAccountRatio",
    "globalLongShortAccountRatio",
];

/// USDⓈ-M routes market streams by URL path: `/public` carries the high-frequency book
/// streams (`@depth*`, `@bookTicker`), `/market` everything else (`@aggTrade`, `@markPrice`,
/// `@forceOrder`, `@kline_*`, `@ticker`). A connection receives only its route's streams, and
/// a stream on the wrong route fails silently — so a USDⓈ-M connection must carry one route.
///
/// ```
/// use marketprism_exchanges::{binance::usdm_route, Channel};
/// assert_eq!(usdm_route(Channel::Book), "/public");
/// assert_eq!(usdm_route(Channel::Trades), "/market");
/// ```
pub fn usdm_route(channel: Channel) -> &'static str {
    match channel {
        Channel::Book | Channel::Bbo => "/public",
        _ => "/market",
    }
}

/// The stream name of a WebSocket channel (`btcusdt@trade`), `None` for channels that are not
/// WebSocket streams on `venue`.
///
/// ```
/// use marketprism_exchanges::{binance::stream_name, Channel, Venue};
/// assert_eq!(stream_name(Venue::BinanceSpot, Channel::Book, "BTCUSDT").as_deref(), Some("btcusdt@depth@100ms"));
/// assert_eq!(stream_name(Venue::BinanceUsdm, Channel::Funding, "BTCUSDT").as_deref(), Some("btcusdt@markPrice@1s"));
/// assert_eq!(stream_name(Venue::BinanceSpot, Channel::Funding, "BTCUSDT"), None);
/// ```
pub fn stream_name(venue: Venue, channel: Channel, native_symbol: &str) -> Option<String> {
    let futures = venue != Venue::BinanceSpot;
    let suffix = match channel {
        Channel::Trades if futures => "@aggTrade".to_owned(),
        Channel::Trades => "@trade".to_owned(),
        Channel::Book => "@depth@100ms".to_owned(),
        Channel::Bbo => "@bookTicker".to_owned(),
        Channel::Ticker => "@ticker".to_owned(),
        Channel::Kline => format!("@kline_{KLINE_INTERVAL}"),
        Channel::Funding | Channel::MarkPrice if futures => "@markPrice@1s".to_owned(),
        Channel::Liquidations if futures => "@forceOrder".to_owned(),
        _ => return None,
    };
    Some(format!("{}{suffix}", native_symbol.to_ascii_lowercase()))
}

/// Where `channel` comes from on `venue` for `instrument`.
pub(crate) fn source(venue: Venue, channel: Channel, instrument: &Instrument) -> Source {
    let derivative = matches!(
        instrument.market,
        MarketType::Perpetual | MarketType::Future
    );
    match (venue, channel) {
        (_, Channel::Trades | Channel::Book | Channel::Bbo | Channel::Ticker | Channel::Kline) => {
            Source::WebSocket
        }
        (Venue::BinanceSpot, _) => Source::Unsupported,
        (_, Channel::MarkPrice | Channel::Liquidations) if derivative => Source::WebSocket,
        (_, Channel::Funding) if instrument.market == MarketType::Perpetual => Source::WebSocket,
        (_, Channel::OpenInterest) if derivative => Source::Poll(OPEN_INTEREST_POLL),
        (_, Channel::LongShortRatio) if instrument.market == MarketType::Perpetual => {
            Source::Poll(RATIO_POLL)
        }
        _ => Source::Unsupported,
    }
}

/// `<base>/stream` (spot, COIN-M) or `<base>/<route>/stream` (USDⓈ-M): the combined-stream
/// endpoint, so every payload arrives wrapped with its stream name; streams are added with
/// `SUBSCRIBE` frames. USDⓈ-M takes the route of the first subscription — callers group
/// subscriptions by [`usdm_route`] (see [`BinanceUsdm`](super::BinanceUsdm)).
pub(crate) fn ws_url(venue: Venue, base: &str, subscriptions: &[Subscription]) -> String {
    let base = base.trim_end_matches('/');
    match venue {
        Venue::BinanceUsdm => {
            let route = subscriptions
                .first()
                .map_or("/market", |s| usdm_route(s.channel));
            // A configured base that already names a route is used as is.
            if base.ends_with("/public") || base.ends_with("/market") {
                format!("{base}/stream")
            } else {
                format!("{base}{route}/stream")
            }
        }
        _ => format!("{base}/stream"),
    }
}

/// `{"method":"SUBSCRIBE","params":[...],"id":N}` frames, `per_message` streams each,
/// duplicates removed (funding and mark price share one stream).
pub(crate) fn method_frames(
    venue: Venue,
    method: &str,
    subscriptions: &[Subscription],
    request_id: u64,
    per_message: usize,
) -> Vec<String> {
    let mut streams: Vec<String> = subscriptions
        .iter()
        .filter_map(|s| stream_name(venue, s.channel, &s.native_symbol))
        .collect();
    let mut seen = std::collections::HashSet::new();
    streams.retain(|s| seen.insert(s.clone()));
    streams
        .chunks(per_message.max(1))
        .zip(request_id..)
        .map(|(chunk, id)| {
            let params = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".to_owned());
            format!(r#"{{"method":"{method}","params":{params},"id":{id}}}"#)
        })
        .collect()
}

/// `GET /api/v3/exchangeInfo` (weight 20), `/fapi/v1/exchangeInfo`, `/dapi/v1/exchangeInfo` (1).
pub(crate) fn instruments_request(venue: Venue) -> RestRequest {
    let (path, weight) = match venue {
        Venue::BinanceUsdm => ("/fapi/v1/exchangeInfo", 1),
        Venue::BinanceCoinm => ("/dapi/v1/exchangeInfo", 1),
        _ => ("/api/v3/exchangeInfo", 20),
    };
    RestRequest {
        path_and_query: path.to_owned(),
        weight,
    }
}

/// The depth snapshot for book sync, `limit=1000`. Weights (docs, 2026): spot 1–100 → 5,
/// 101–500 → 25, 501–1000 → 50, 1001–5000 → 250; futures 100 → 5, 500 → 10, 1000 → 20.
pub(crate) fn snapshot_request(venue: Venue, native_symbol: &str) -> RestRequest {
    let (path, weight) = match venue {
        Venue::BinanceUsdm => ("/fapi/v1/depth", 20),
        Venue::BinanceCoinm => ("/dapi/v1/depth", 20),
        _ => ("/api/v3/depth", 50),
    };
    RestRequest {
        path_and_query: format!("{path}?symbol={native_symbol}&limit={SNAPSHOT_LIMIT}"),
        weight,
    }
}

/// The COIN-M pair of a contract symbol (`BTCUSD_PERP` → `BTCUSD`).
pub(crate) fn coinm_pair(native_symbol: &str) -> &str {
    native_symbol
        .split_once('_')
        .map_or(native_symbol, |(p, _)| p)
}

/// Polling requests of a REST-polled channel.
pub(crate) fn poll_requests(venue: Venue, sub: &Subscription) -> Vec<(RestRequest, RestKind)> {
    let sym = sub.native_symbol.as_str();
    let (oi_path, coinm) = match venue {
        Venue::BinanceUsdm => ("/fapi/v1/openInterest", false),
        Venue::BinanceCoinm => ("/dapi/v1/openInterest", true),
        _ => return Vec::new(),
    };
    match sub.channel {
        Channel::OpenInterest => vec![(
            RestRequest {
                path_and_query: format!("{oi_path}?symbol={sym}"),
                weight: 1,
            },
            RestKind::OpenInterest {
                native_symbol: sym.to_owned(),
            },
        )],
        Channel::LongShortRatio => RATIO_ENDPOINTS
            .iter()
            .map(|endpoint| {
                // COIN-M asks for the pair, except the top-trader account ratio (docs).
                let key = if coinm && *endpoint != "topLongShortAccountRatio" {
                    format!("pair={}", coinm_pair(sym))
                } else {
                    format!("symbol={sym}")
                };
                (
                    RestRequest {
                        path_and_query: format!(
                            "/futures/data/{endpoint}?{key}&period={RATIO_PERIOD}&limit=1"
                        ),
                        weight: 1,
                    },
                    RestKind::LongShortRatio {
                        native_symbol: sym.to_owned(),
                        endpoint: (*endpoint).to_owned(),
                    },
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_dedupe_and_chunk() {
        let subs = [
            Subscription::new(Channel::Funding, "BTCUSDT"),
            Subscription::new(Channel::MarkPrice, "BTCUSDT"),
            Subscription::new(Channel::Trades, "ETHUSDT"),
            Subscription::new(Channel::OpenInterest, "ETHUSDT"),
        ];
        let f = method_frames(Venue::BinanceUsdm, "SUBSCRIBE", &subs, 7, 1);
        assert_eq!(
            f,
            [
                r#"{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":7}"#,
                r#"{"method":"SUBSCRIBE","params":["ethusdt@aggTrade"],"id":8}"#,
            ]
        );
    }

    #[test]
    fn urls() {
        let book = [Subscription::new(Channel::Book, "BTCUSDT")];
        let trades = [Subscription::new(Channel::Trades, "BTCUSDT")];
        assert_eq!(
            ws_url(Venue::BinanceUsdm, "wss://fstream.binance.com", &book),
            "wss://fstream.binance.com/public/stream"
        );
        assert_eq!(
            ws_url(Venue::BinanceUsdm, "wss://fstream.binance.com/", &trades),
            "wss://fstream.binance.com/market/stream"
        );
        assert_eq!(
            ws_url(Venue::BinanceSpot, "wss://stream.binance.com:9443", &book),
            "wss://stream.binance.com:9443/stream"
        );
    }

    #[test]
    fn rest_paths() {
        assert_eq!(
            snapshot_request(Venue::BinanceSpot, "BTCUSDT"),
            RestRequest {
                path_and_query: "/api/v3/depth?symbol=BTCUSDT&limit=1000".to_owned(),
                weight: 50
            }
        );
        let r = poll_requests(
            Venue::BinanceCoinm,
            &Subscription::new(Channel::LongShortRatio, "BTCUSD_PERP"),
        );
        let paths: Vec<_> = r.iter().map(|(r, _)| r.path_and_query.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/futures/data/topLongShortPositionRatio?pair=BTCUSD&period=5m&limit=1",
                "/futures/data/topLongShortAccountRatio?symbol=BTCUSD_PERP&period=5m&limit=1",
                "/futures/data/globalLongShortAccountRatio?pair=BTCUSD&period=5m&limit=1",
            ]
        );
    }
}
