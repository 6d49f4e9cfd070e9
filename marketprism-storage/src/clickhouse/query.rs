//! [`HistoryStore`] over ClickHouse: deduplicated reads with `FINAL`, retention by dropping
//! day partitions.

use async_trait::async_trait;
use marketprism_core::{model::MarketEvent, sink::Health};

use super::{ClickHouseStore, classify, rows::EventRow, with_row};
use crate::{
    EventKind, Result,
    query::{ArchiveReport, EventQuery, HistoryStore, KindStats, Order, RetentionReport},
};

impl ClickHouseStore {
    /// `WHERE` clause of `q` with `?` placeholders, and the values to bind in order.
    fn where_clause(q: &EventQuery) -> (String, Vec<String>, Vec<i64>) {
        let mut sql = String::from(" WHERE 1");
        let mut strings = Vec::new();
        let mut ints = Vec::new();
        if let Some(e) = q.exchange {
            sql.push_str(" AND exchange = ?");
            strings.push(e.as_str().to_owned());
        }
        if let Some(m) = q.market {
            sql.push_str(" AND market = ?");
            strings.push(m.as_str().to_owned());
        }
        if let Some(s) = &q.symbol {
            sql.push_str(" AND symbol = ?");
            strings.push(s.as_str().to_owned());
        }
        if let Some(f) = q.from_ns {
            sql.push_str(" AND exchange_ts >= ?");
            ints.push(f);
        }
        if let Some(t) = q.to_ns {
            sql.push_str(" AND exchange_ts < ?");
            ints.push(t);
        }
        (sql, strings, ints)
    }

    fn bound(&self, sql: &str, q: &EventQuery) -> clickhouse::query::Query {
        let (clause, strings, ints) = Self::where_clause(q);
        let sql = sql.replace("{where}", &clause);
        let mut query = self.client().query(&sql);
        for s in strings {
            query = query.bind(s);
        }
        for i in ints {
            query = query.bind(i);
        }
        query
    }

    async fn query_kind<R: EventRow>(&self, q: &EventQuery) -> Result<Vec<MarketEvent>> {
        let dir = match q.order {
            Order::OldestFirst => "ASC",
            Order::NewestFirst => "DESC",
        };
        let sql = format!(
            "SELECT ?fields FROM {} FINAL {{where}} ORDER BY exchange_ts {dir} LIMIT {}",
            self.qualified_table(<R as EventRow>::EVENT_KIND),
            q.limit
        );
        let rows: Vec<R> = self
            .bound(&sql, q)
            .fetch_all()
            .await
            .map_err(|e| classify(e, "query"))?;
        rows.into_iter().map(R::into_event).collect()
    }
}

#[async_trait]
impl HistoryStore for ClickHouseStore {
    fn name(&self) -> &str {
        "clickhouse"
    }

    async fn query(&self, q: &EventQuery) -> Result<Vec<MarketEvent>> {
        q.validate()?;
        with_row!(q.kind, R => self.query_kind::<R>(q).await)
    }

    async fn count(&self, q: &EventQuery) -> Result<u64> {
        let sql = format!(
            "SELECT count() FROM {} FINAL {{where}}",
            self.qualified_table(q.kind)
        );
        self.bound(&sql, q)
            .fetch_one::<u64>()
            .await
            .map_err(|e| classify(e, "count"))
    }

    async fn stats(&self) -> Result<Vec<KindStats>> {
        let mut out = Vec::with_capacity(EventKind::ALL.len());
        for kind in EventKind::ALL {
            let events = self.count(&EventQuery::new(kind)).await?;
            out.push(KindStats {
                kind: kind.as_str(),
                events,
            });
        }
        Ok(out)
    }

    async fn drop_older_than(&self, days: u32) -> Result<RetentionReport> {
        // The cutoff day is computed here, checked: ClickHouse's `today() - N` wraps its
        // 16-bit Date for a large N and would name a day in the future.
        let cutoff_day = crate::query::utc_day(days, "retention_days")?;
        let db = self.config.database.clone();
        let tables: Vec<String> = EventKind::ALL
            .iter()
            .map(|k| self.config.table(*k))
            .collect();
        let parts: Vec<(String, String)> = self
            .client()
            .query(
                "SELECT DISTINCT table, partition FROM system.parts \
                 WHERE database = ? AND active AND has(?, table) \
                 AND toUInt32(partition) < ?",
            )
            .bind(db.as_str())
            .bind(tables.as_slice())
            .bind(cutoff_day)
            .fetch_all()
            .await
            .map_err(|e| classify(e, "list partitions"))?;
        let mut report = RetentionReport::default();
        for (table, partition) in parts {
            // Partition ids are YYYYMMDD digits (checked by toUInt32 above).
            if !partition.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            self.exec(
                &format!("ALTER TABLE `{db}`.`{table}` DROP PARTITION {partition}"),
                "drop partition",
            )
            .await?;
            tracing::info!(%table, %partition, "dropped partition (retention)");
            report.partitions_dropped += 1;
        }
        metrics::counter!("marketprism_storage_retention_partitions_dropped_total")
            .increment(report.partitions_dropped);
        Ok(report)
    }

    async fn finalize_day(&self, days_ago: u32) -> Result<ArchiveReport> {
        let day = crate::query::utc_day(days_ago, "days_ago")?;
        let db = self.config.database.clone();
        let tables: Vec<String> = EventKind::ALL
            .iter()
            .map(|k| self.config.table(*k))
            .collect();
        let parts: Vec<String> = self
            .client()
            .query(
                "SELECT DISTINCT table FROM system.parts \
                 WHERE database = ? AND active AND has(?, table) AND partition = ?",
            )
            .bind(db.as_str())
            .bind(tables.as_slice())
            .bind(day.to_string())
            .fetch_all()
            .await
            .map_err(|e| classify(e, "list partitions"))?;
        let mut report = ArchiveReport {
            day,
            partitions_finalized: 0,
        };
        for table in parts {
            self.exec(
                &format!("OPTIMIZE TABLE `{db}`.`{table}` PARTITION {day} FINAL"),
                "optimize partition",
            )
            .await?;
            tracing::info!(%table, day, "finalized partition (daily archive)");
            report.partitions_finalized += 1;
        }
        metrics::counter!("marketprism_storage_archive_partitions_finalized_total")
            .increment(report.partitions_finalized);
        Ok(report)
    }

    async fn health(&self) -> Health {
        marketprism_core::sink::Sink::health(self).await
    }
}
