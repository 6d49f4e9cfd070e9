//! The ClickHouse [`Sink`]: one RowBinary `INSERT` per event kind present in a batch.

use std::time::Instant;

use async_trait::async_trait;
use marketprism_core::{
    Error,
    model::MarketEvent,
    sink::{Health, Sink},
};

use super::{
    ClickHouseStore, classify,
    encode::{by_kind, rows_of},
    rows::EventRow,
    timeout, with_row,
};
use crate::{EventKind, Result};

impl ClickHouseStore {
    /// Inserts `batch`: one insert per kind present. Returns once ClickHouse has confirmed every
    /// insert. Idempotent by event identity (duplicates are collapsed by the table engine and
    /// by `FINAL` reads). A value the schema cannot hold fails the batch with a permanent error.
    pub async fn insert_events(&self, batch: &[MarketEvent]) -> Result<()> {
        let started = Instant::now();
        // One INSERT per kind, all in flight at once: the batch costs the slowest insert, not
        // their sum. A failed one fails the batch; the others are harmless on retry (idempotent).
        // The batch is split by kind in one pass; each insert converts only its own events.
        let groups = by_kind(batch);
        let mut inserts: Vec<std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + '_>>> =
            Vec::new();
        for (kind, events) in &groups {
            with_row!(*kind, R => inserts.push(Box::pin(self.insert_kind::<R>(events))));
        }
        futures::future::try_join_all(inserts).await?;
        metrics::counter!("marketprism_storage_clickhouse_rows_total")
            .increment(batch.len() as u64);
        metrics::histogram!("marketprism_storage_clickhouse_insert_seconds")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn insert_kind<R: EventRow>(&self, events: &[&MarketEvent]) -> Result<()> {
        // Convert first: a value the schema cannot hold fails before anything is sent.
        let rows = rows_of::<R>(events)?;
        let table = self.config.table(<R as EventRow>::EVENT_KIND);
        let what = "insert";
        self.with_failover(what, |_, insert_client| {
            self.insert_rows_on::<R>(insert_client, &table, &rows)
        })
        .await
    }

    async fn insert_rows_on<R: EventRow>(
        &self,
        insert_client: clickhouse::Client,
        table: &str,
        rows: &[R],
    ) -> Result<()> {
        let what = "insert";
        let fut = async {
            let mut insert = insert_client
                .insert::<R>(table)
                .await
                .map_err(|e| classify(e, what))?;
            for row in rows {
                insert.write(row).await.map_err(|e| classify(e, what))?;
            }
            insert.end().await.map_err(|e| classify(e, what))
        };
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(timeout(what)),
        }
    }

    /// `SELECT 1` against the server.
    pub async fn ping(&self) -> Result<()> {
        self.exec("SELECT 1", "ping").await
    }
}

#[async_trait]
impl Sink for ClickHouseStore {
    fn name(&self) -> &str {
        "clickhouse"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), Error> {
        self.insert_events(batch)
            .await
            .map_err(|e| e.into_sink_error("clickhouse"))
    }
    async fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
    async fn health(&self) -> Health {
        match self.ping().await {
            Ok(()) => Health::Healthy,
            Err(e) => Health::Unhealthy {
                reason: e.to_string(),
            },
        }
    }
}
