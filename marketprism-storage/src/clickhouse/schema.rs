//! The ClickHouse schema: one `ReplacingMergeTree` table per event kind, created and migrated
//! idempotently at start.
//!
//! Works on ClickHouse 18.16 and current releases: Int64 nanosecond timestamps (no
//! DateTime64), `Decimal(38, 18)`, `Enum8`, `Nullable`, plain `String` (no LowCardinality,
//! no CODEC, no table TTL). Every table is
//!
//! ```sql
//! ENGINE = ReplacingMergeTree()
//! PARTITION BY toYYYYMMDD(toDateTime(intDiv(exchange_ts, 1000000000)))
//! ORDER BY (exchange, market, symbol, exchange_ts, <identity columns>)
//! ```
//!
//! The sorting key is the event identity ([`crate::identity`]) plus `exchange_ts` (equal for
//! all copies of one event, so it only helps time-range scans): copies of one event end in
//! one partition with one sorting key, and merges keep one of them. Until a merge has run,
//! reads use `FINAL`, which deduplicates at query time. Retention drops whole day partitions.

use crate::EventKind;

/// One table: its columns and the identity columns that follow `exchange_ts` in the key.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// The event kind stored.
    pub kind: EventKind,
    /// `(name, type)` of every column, in insert order.
    pub columns: &'static [(&'static str, &'static str)],
    /// Identity columns after `(exchange, market, symbol, exchange_ts)`.
    pub key_tail: &'static [&'static str],
}

const D: &str = "Decimal(38, 18)";
const ND: &str = "Nullable(Decimal(38, 18))";
const ADEC: &str = "Array(Decimal(38, 18))";
const SIDE: &str = "Enum8('buy' = 1, 'sell' = 2)";
const NS: &str = "Nullable(String)";

macro_rules! cols {
    ($($name:literal : $ty:expr),* $(,)?) => {
        &[("exchange", "String"), ("market", "String"), ("symbol", "String"),
          $(($name, $ty),)* ("exchange_ts", "Int64"), ("local_ts", "Int64")]
    };
}

/// Every table, one per [`EventKind`], in [`EventKind::ALL`] order.
pub const TABLES: [TableDef; 14] = [
    TableDef {
        kind: EventKind::Trade,
        columns: cols!("trade_id": "String", "side": SIDE, "price": D, "size": D),
        key_tail: &["trade_id"],
    },
    TableDef {
        kind: EventKind::BookSnapshot,
        columns: cols!("sequence": "UInt64", "bid_prices": ADEC, "bid_sizes": ADEC,
            "ask_prices": ADEC, "ask_sizes": ADEC),
        key_tail: &["sequence"],
    },
    TableDef {
        kind: EventKind::BookDelta,
        columns: cols!("prev_sequence": "UInt64", "sequence": "UInt64", "bid_prices": ADEC,
            "bid_sizes": ADEC, "ask_prices": ADEC, "ask_sizes": ADEC),
        key_tail: &["sequence"],
    },
    TableDef {
        kind: EventKind::Bbo,
        columns: cols!("bid_price": D, "bid_size": D, "ask_price": D, "ask_size": D,
            "sequence": "Nullable(UInt64)"),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::Ticker,
        columns: cols!("last_price": D, "open_24h": ND, "high_24h": ND, "low_24h": ND,
            "volume_24h": ND, "quote_volume_24h": ND, "best_bid": ND, "best_ask": ND),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::FundingRate,
        columns: cols!("rate": D, "next_rate": ND, "next_funding_ts": "Nullable(Int64)",
            "mark_price": ND, "index_price": ND),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::MarkPrice,
        columns: cols!("mark_price": ND, "index_price": ND),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::OpenInterest,
        columns: cols!("open_interest": D, "open_interest_value": ND),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::Liquidation,
        columns: cols!("side": SIDE, "price": D, "size": D),
        key_tail: &["side", "price", "size"],
    },
    TableDef {
        kind: EventKind::LongShortRatio,
        columns: cols!("kind": "String", "period": "String", "ratio": D, "long_share": ND,
            "short_share": ND),
        key_tail: &["kind", "period"],
    },
    TableDef {
        kind: EventKind::OptionSummary,
        columns: cols!("mark_price": NS, "mark_iv": NS, "bid_iv": NS, "ask_iv": NS,
            "delta": NS, "gamma": NS, "vega": NS, "theta": NS, "rho": NS,
            "underlying_price": NS, "underlying_index": NS, "open_interest": NS),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::VolatilityIndex,
        columns: cols!("value": D),
        key_tail: &[],
    },
    TableDef {
        kind: EventKind::Kline,
        columns: cols!("kline_interval": "String", "open_ts": "Int64", "open": D, "high": D,
            "low": D, "close": D, "volume": D, "quote_volume": ND, "closed": "UInt8"),
        key_tail: &["kline_interval", "open_ts"],
    },
    TableDef {
        kind: EventKind::Status,
        columns: cols!("status": "String", "detail": "String"),
        key_tail: &["status", "detail"],
    },
];

/// The definition of `kind`'s table; `None` for a kind this version has no table for.
pub fn table_def(kind: EventKind) -> Option<&'static TableDef> {
    // TABLES is in EventKind::ALL order, which is tag order.
    TABLES
        .get(usize::from(kind.tag()))
        .filter(|def| def.kind == kind)
}

/// The partition expression: the UTC day of `exchange_ts` as `YYYYMMDD`.
pub const PARTITION_BY: &str = "toYYYYMMDD(toDateTime(intDiv(exchange_ts, 1000000000)))";

/// The engine of every table on a single server.
pub const ENGINE: &str = "ReplacingMergeTree()";

/// `CREATE TABLE IF NOT EXISTS` for `def` as `` `db`.`table` ``.
///
/// ```
/// use marketprism_storage::{EventKind, clickhouse::schema::{create_table_sql, table_def}};
/// let def = table_def(EventKind::Trade).expect("every built-in kind has a table");
/// let sql = create_table_sql("md", "trade", def);
/// assert!(sql.contains("ReplacingMergeTree"));
/// assert!(sql.contains("ORDER BY (`exchange`, `market`, `symbol`, `exchange_ts`, `trade_id`)"));
/// ```
pub fn create_table_sql(database: &str, table: &str, def: &TableDef) -> String {
    create_table_sql_with_engine(database, table, def, ENGINE)
}

/// [`create_table_sql`] with another engine of the `ReplacingMergeTree` family, e.g.
/// [`Replication::engine`](super::Replication::engine)'s.
///
/// ```
/// use marketprism_storage::{EventKind, clickhouse::{Replication, schema::*}};
/// let def = table_def(EventKind::Trade).expect("every built-in kind has a table");
/// let engine = Replication::new("/clickhouse/mp").engine("md", "trade");
/// let sql = create_table_sql_with_engine("md", "trade", def, &engine);
/// assert!(sql.contains("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/mp/md/trade', '{replica}') PARTITION BY"));
/// ```
pub fn create_table_sql_with_engine(
    database: &str,
    table: &str,
    def: &TableDef,
    engine: &str,
) -> String {
    let columns: Vec<String> = def
        .columns
        .iter()
        .map(|(n, t)| format!("`{n}` {t}"))
        .collect();
    let key: Vec<String> = ["exchange", "market", "symbol", "exchange_ts"]
        .iter()
        .chain(def.key_tail)
        .map(|c| format!("`{c}`"))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.`{table}` ({}) ENGINE = {engine} \
         PARTITION BY {PARTITION_BY} ORDER BY ({})",
        columns.join(", "),
        key.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_kind_order() {
        for (i, kind) in EventKind::ALL.into_iter().enumerate() {
            assert_eq!(TABLES[i].kind, kind);
            assert_eq!(table_def(kind).map(|d| d.kind), Some(kind));
        }
    }
}
