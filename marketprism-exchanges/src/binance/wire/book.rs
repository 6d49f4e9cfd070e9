//! Order-book payloads: the diff stream, partial-depth images and REST snapshots.

use marketprism_core::model::Level;
use serde::Deserialize;

use super::levels;

/// `<symbol>@depth[@100ms]` diff event. Futures add `T` and `pu` (the previous event's `u`);
/// futures partial-depth streams (`@depth20`) send the same shape with the top N levels.
///
/// ```json
/// {"e":"depthUpdate","E":1633998512568,"s":"NKNUSDT","U":499869753,"u":499869754,"b":[["0.35170000","4265.00000000"]],"a":[["0.35290000","10968.00000000"]]}
/// {"e":"depthUpdate","E":1626992741077,"T":1626992740974,"s":"AKROUSDT","U":600859599831,"u":600859599831,"pu":600859598737,"b":[],"a":[["0.01737","437848"]]}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#diff-depth-stream>,
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Diff-Book-Depth-Streams>
#[derive(Debug, Deserialize)]
pub(crate) struct DepthUpdate<'a> {
    /// Event time (ms).
    #[serde(rename = "E")]
    pub(crate) event_time: i64,
    /// Transaction time (ms, futures).
    #[serde(rename = "T", default)]
    pub(crate) transaction_time: Option<i64>,
    /// Symbol.
    #[serde(rename = "s")]
    pub(crate) symbol: &'a str,
    /// First update id in the event.
    #[serde(rename = "U")]
    pub(crate) first_id: u64,
    /// Final update id in the event.
    #[serde(rename = "u")]
    pub(crate) last_id: u64,
    /// Final update id of the previous event (futures).
    #[serde(rename = "pu", default)]
    pub(crate) prev_last_id: Option<u64>,
    /// Changed bids (absolute quantities; zero removes).
    #[serde(rename = "b", deserialize_with = "levels")]
    pub(crate) bids: Vec<Level>,
    /// Changed asks.
    #[serde(rename = "a", deserialize_with = "levels")]
    pub(crate) asks: Vec<Level>,
}

/// A book image: REST `GET /api/v3/depth` / `/fapi/v1/depth` / `/dapi/v1/depth` bodies and
/// spot partial-depth stream payloads (`<symbol>@depth20`, which carry no symbol: it is in the
/// combined stream name only). Futures REST adds `E` and `T`.
///
/// ```json
/// {"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}
/// {"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}
/// ```
///
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#order-book>,
/// <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Order-Book>
#[derive(Debug, Deserialize)]
pub(crate) struct DepthImage {
    /// Book sequence of the image.
    #[serde(rename = "lastUpdateId")]
    pub(crate) last_update_id: u64,
    /// Message time (ms, futures REST).
    #[serde(rename = "E", default)]
    pub(crate) event_time: Option<i64>,
    /// Transaction time (ms, futures REST).
    #[serde(rename = "T", default)]
    pub(crate) transaction_time: Option<i64>,
    /// Bids, best first.
    #[serde(deserialize_with = "levels")]
    pub(crate) bids: Vec<Level>,
    /// Asks, best first.
    #[serde(deserialize_with = "levels")]
    pub(crate) asks: Vec<Level>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_update_spot_and_futures() {
        let d: DepthUpdate<'_> = serde_json::from_str(
            r#"{"e":"depthUpdate","E":1633998512568,"s":"NKNUSDT","U":499869753,"u":499869754,"b":[["0.35170000","4265.00000000"]],"a":[["0.35290000","10968.00000000"]]}"#,
        )
        .expect("json");
        assert_eq!(
            (d.first_id, d.last_id, d.prev_last_id),
            (499869753, 499869754, None)
        );
        assert_eq!(d.bids[0].price.to_string(), "0.35170000");
        let d: DepthUpdate<'_> = serde_json::from_str(
            r#"{"e":"depthUpdate","E":1626992741077,"T":1626992740974,"s":"AKROUSDT","U":600859599831,"u":600859599831,"pu":600859598737,"b":[],"a":[["0.01737","437848"]]}"#,
        )
        .expect("json");
        assert_eq!(d.prev_last_id, Some(600859598737));
        assert!(d.bids.is_empty());
        assert_eq!(d.transaction_time, Some(1626992740974));
    }

    #[test]
    fn depth_images() {
        let d: DepthImage = serde_json::from_str(
            r#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}"#,
        )
        .expect("json");
        assert_eq!((d.last_update_id, d.event_time), (160, None));
        let d: DepthImage = serde_json::from_str(
            r#"{"lastUpdateId":1027024,"E":1589436922972,"T":1589436922959,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#,
        )
        .expect("json");
        assert_eq!(d.transaction_time, Some(1589436922959));
        assert_eq!(d.asks[0].price.to_string(), "4.00000200");
    }
}
