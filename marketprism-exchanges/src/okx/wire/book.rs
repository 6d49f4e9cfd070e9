//! Order-book elements: `books`, `books-l2-tbt`, `books50-l2-tbt`, `books5`, `bbo-tbt` and the
//! REST `GET /api/v5/market/books` body share one element shape.
//!
//! Docs: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel>.

use marketprism_core::model::Level;
use serde::Deserialize;

use super::{levels, opt_i64};

/// One order-book element.
///
/// ```json
/// {"asks":[["30238.8","2","0","1"],...],"bids":[["30233.6","3","0","1"],...],
///  "ts":"1652459225393","checksum":1054815633}
/// {"asks":[...],"bids":[...],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}
/// ```
/// (books.jsonl line 1, shortened; books_docs_examples.jsonl line 1)
#[derive(Debug, Deserialize)]
pub(crate) struct BookData {
    /// Asks, best (lowest) first; sizes absolute, `"0"` removes the level.
    #[serde(deserialize_with = "levels")]
    pub(crate) asks: Vec<Level>,
    /// Bids, best (highest) first.
    #[serde(deserialize_with = "levels")]
    pub(crate) bids: Vec<Level>,
    /// Exchange time, ms.
    #[serde(deserialize_with = "crate::de::i64_lenient")]
    pub(crate) ts: i64,
    /// CRC32 of the top 25 levels (signed); `0` since OKX deprecated it (2026-06).
    #[serde(default)]
    pub(crate) checksum: Option<i32>,
    /// Sequence of this message (absent in pre-2022 captures).
    #[serde(default, rename = "seqId", deserialize_with = "opt_i64")]
    pub(crate) seq_id: Option<i64>,
    /// Sequence of the previous message (`-1` on a snapshot).
    #[serde(default, rename = "prevSeqId", deserialize_with = "opt_i64")]
    pub(crate) prev_seq_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_snapshot_element() {
        let json = r#"{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}"#;
        let b: BookData = serde_json::from_str(json).expect("book");
        assert_eq!(b.asks.len(), 2);
        assert_eq!(b.asks[1].price.to_string(), "8477");
        assert_eq!(b.bids[0].size.to_string(), "256");
        assert_eq!(b.ts, 1_597_026_383_085);
        assert_eq!(b.checksum, Some(-855_196_043));
        assert_eq!((b.prev_seq_id, b.seq_id), (Some(-1), Some(123_456)));
    }

    #[test]
    fn old_capture_without_seq_and_bbo_with_seq() {
        let json = r#"{"asks":[["0.0515","29","0","1"]],"bids":[["0.05","601","0","2"]],"ts":"1646003666818","checksum":-1006770939}"#;
        let b: BookData = serde_json::from_str(json).expect("book");
        assert_eq!(b.seq_id, None);
        assert_eq!(b.checksum, Some(-1_006_770_939));
        let json = r#"{"asks":[["111.06","55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}"#;
        let b: BookData = serde_json::from_str(json).expect("bbo");
        assert_eq!(b.seq_id, Some(363_996_337));
        assert_eq!(b.checksum, None);
    }
}
