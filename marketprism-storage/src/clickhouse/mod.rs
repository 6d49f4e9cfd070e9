//! ClickHouse: the history store. A [`Sink`](marketprism_core::sink::Sink) with batched
//! RowBinary inserts and a [`HistoryStore`](crate::query::HistoryStore) whose queries read
//! deduplicated rows (`FINAL`). See [`schema`] for the table design.
//!
//! ```no_run
//! use marketprism_storage::clickhouse::{ClickHouseConfig, ClickHouseStore};
//! # async fn run() -> Result<(), marketprism_storage::StorageError> {
//! let store = ClickHouseStore::connect(
//!     ClickHouseConfig::new("http://127.0.0.1:8123").database("marketprism"),
//! ).await?; // creates / migrates the schema
//! # let _ = store; Ok(()) }
//! ```

pub mod decimal;
#[doc(hidden)]
pub mod encode;
mod http;
mod query;
mod replication;
pub(crate) mod rows;
mod rows_more;
pub mod schema;
mod sink;

pub use replication::Replication;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use clickhouse::{Client, Compression};

use crate::{EventKind, Result, StorageError};

/// Connection and schema settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// HTTP URL, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    /// More servers holding the same tables (replicas), tried in turn when the current one
    /// fails with a retryable error. Empty by default.
    pub failover_urls: Vec<String>,
    /// Replicated tables (`ReplicatedReplacingMergeTree` through ZooKeeper); `None` (the
    /// default) creates plain `ReplacingMergeTree` tables.
    pub replicated: Option<Replication>,
    /// Database (created if missing).
    pub database: String,
    /// Prefix of every table name (`{prefix}{kind}`), empty by default.
    pub table_prefix: String,
    /// User, if not the default.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Upper bound on one insert or query.
    pub timeout: Duration,
}

impl ClickHouseConfig {
    /// Defaults for `url`: database `marketprism`, no prefix, 30 s timeout.
    ///
    /// ```
    /// use marketprism_storage::clickhouse::ClickHouseConfig;
    /// let c = ClickHouseConfig::new("http://127.0.0.1:8123").database("md").table_prefix("t1_");
    /// assert_eq!(c.table(marketprism_storage::EventKind::Trade), "t1_trade");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        ClickHouseConfig {
            url: url.into(),
            failover_urls: Vec::new(),
            replicated: None,
            database: "marketprism".into(),
            table_prefix: String::new(),
            user: None,
            password: None,
            timeout: Duration::from_secs(30),
        }
    }
    /// Sets the database.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }
    /// Sets the table prefix.
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }
    /// Sets user and password.
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }
    /// Adds a failover server (a replica of the same tables).
    pub fn failover_url(mut self, url: impl Into<String>) -> Self {
        self.failover_urls.push(url.into());
        self
    }
    /// Creates replicated tables (see [`Replication`]).
    pub fn replicated(mut self, replication: Replication) -> Self {
        self.replicated = Some(replication);
        self
    }
    /// Every server: `url`, then the failover URLs.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.failover_urls.iter().map(String::as_str))
    }
    /// Sets the per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The table name of `kind`.
    pub fn table(&self, kind: EventKind) -> String {
        format!("{}{}", self.table_prefix, kind.as_str())
    }
    fn check(&self) -> Result<()> {
        let ok = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if self.database.is_empty() || !ok(&self.database) || !ok(&self.table_prefix) {
            return Err(StorageError::Config {
                message: format!(
                    "ClickHouse database `{}` and table prefix `{}` must be [A-Za-z0-9_]",
                    self.database, self.table_prefix
                ),
            });
        }
        if let Some(r) = &self.replicated {
            r.check()?;
        }
        Ok(())
    }
}

/// One server: its clients and whether this store has migrated its schema.
struct Endpoint {
    url: String,
    client: Client,
    /// Bound to the database: the crate quotes insert table names as one identifier.
    insert_client: Client,
    migrated: AtomicBool,
}

/// The ClickHouse store: sink and history queries. Cheap to clone.
///
/// With [failover URLs](ClickHouseConfig::failover_urls) it talks to one server at a time and
/// moves to the next when an insert fails with a retryable error (migrating the schema there
/// first); the sink driver's backoff covers the time when none answers.
#[derive(Clone)]
pub struct ClickHouseStore {
    endpoints: Arc<[Endpoint]>,
    /// Index of the server in use.
    current: Arc<AtomicUsize>,
    config: ClickHouseConfig,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClickHouseStore {
    /// Connects and creates / migrates the schema (idempotent). With failover URLs, every
    /// server that answers is migrated and the first of them is used; one that does not is
    /// migrated when the store first turns to it. Fails when none answers.
    pub async fn connect(config: ClickHouseConfig) -> Result<Self> {
        let store = ClickHouseStore::new(config)?;
        let mut first_ok = None;
        let mut last_err = None;
        for i in 0..store.endpoints.len() {
            match store.migrate_endpoint(i).await {
                Ok(()) => {
                    first_ok.get_or_insert(i);
                }
                Err(e) if store.endpoints.len() > 1 => {
                    tracing::warn!(url = %store.endpoints[i].url, error = %e,
                        "ClickHouse server not migrated at start");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match (first_ok, last_err) {
            (Some(i), _) => {
                store.current.store(i, Ordering::Relaxed);
                Ok(store)
            }
            (None, Some(e)) => Err(e),
            (None, None) => Ok(store),
        }
    }

    /// A store without touching the server (call [`migrate`](Self::migrate) before writing).
    pub fn new(config: ClickHouseConfig) -> Result<Self> {
        config.check()?;
        let endpoints: Vec<Endpoint> = config
            .urls()
            .map(|url| {
                // ClickHouse 18.16: no RowBinaryWithNamesAndTypes (validation off), and its
                // compressed responses are empty (no compression).
                let mut client = http::client()
                    .with_url(url.trim_end_matches('/'))
                    .with_validation(false)
                    .with_compression(Compression::None);
                if let Some(u) = &config.user {
                    client = client.with_user(u);
                }
                if let Some(p) = &config.password {
                    client = client.with_password(p);
                }
                let insert_client = client.clone().with_database(&config.database);
                Endpoint {
                    url: url.to_owned(),
                    client,
                    insert_client,
                    migrated: AtomicBool::new(false),
                }
            })
            .collect();
        Ok(ClickHouseStore {
            endpoints: endpoints.into(),
            current: Arc::new(AtomicUsize::new(0)),
            config,
        })
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoints[self.current.load(Ordering::Relaxed) % self.endpoints.len()]
    }

    /// The URL of the server in use.
    pub fn current_url(&self) -> &str {
        &self.endpoint().url
    }

    /// Runs `op` on the server in use; on a retryable error moves on to the next server
    /// (migrating it first if this store has not yet), once around. The last error when
    /// every server failed.
    pub(crate) async fn with_failover<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn(Client, Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let n = self.endpoints.len();
        let start = self.current.load(Ordering::Relaxed) % n;
        let mut last = None;
        for k in 0..n {
            let i = (start + k) % n;
            let ep = &self.endpoints[i];
            let attempt = async {
                if k > 0 && !ep.migrated.load(Ordering::Relaxed) {
                    self.migrate_endpoint(i).await?;
                }
                op(ep.client.clone(), ep.insert_client.clone()).await
            };
            match attempt.await {
                Ok(v) => {
                    if k > 0 {
                        tracing::warn!(from = %self.endpoints[start].url, to = %ep.url, what,
                            "ClickHouse failover");
                        metrics::counter!("marketprism_storage_clickhouse_failovers_total")
                            .increment(1);
                        self.current.store(i, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Err(e) if e.is_retryable() && n > 1 => {
                    tracing::warn!(url = %ep.url, error = %e, what, "ClickHouse server failed");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| timeout(what)))
    }

    /// The configuration.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// The client of the server in use (for ad-hoc SQL; the database is not preset).
    pub fn client(&self) -> &Client {
        &self.endpoint().client
    }

    /// `` `db`.`table` `` of `kind`.
    pub fn qualified_table(&self, kind: EventKind) -> String {
        format!("`{}`.`{}`", self.config.database, self.config.table(kind))
    }

    /// Creates the database and every table if missing and adds missing columns to existing
    /// tables, on the server in use. Safe to run any number of times, from several processes.
    pub async fn migrate(&self) -> Result<()> {
        self.migrate_endpoint(self.current.load(Ordering::Relaxed) % self.endpoints.len())
            .await
    }

    async fn migrate_endpoint(&self, i: usize) -> Result<()> {
        let ep = &self.endpoints[i];
        let exec = |sql: String, what: &'static str| async move {
            match tokio::time::timeout(self.config.timeout, ep.client.query(&sql).execute()).await {
                Ok(r) => r.map_err(|e| classify(e, what)),
                Err(_) => Err(timeout(what)),
            }
        };
        let db = &self.config.database;
        exec(
            format!("CREATE DATABASE IF NOT EXISTS `{db}`"),
            "create database",
        )
        .await?;
        for def in schema::TABLES {
            let table = self.config.table(def.kind);
            let engine = match &self.config.replicated {
                Some(r) => r.engine(db, &table),
                None => schema::ENGINE.to_owned(),
            };
            exec(
                schema::create_table_sql_with_engine(db, &table, &def, &engine),
                "create table",
            )
            .await?;
            let existing: Vec<String> = ep
                .client
                .query("SELECT name FROM system.columns WHERE database = ? AND table = ?")
                .bind(db.as_str())
                .bind(table.as_str())
                .fetch_all()
                .await
                .map_err(|e| classify(e, "list columns"))?;
            for (name, ty) in def.columns {
                if !existing.iter().any(|c| c == name) {
                    tracing::info!(%table, column = name, "adding column");
                    exec(
                        format!("ALTER TABLE `{db}`.`{table}` ADD COLUMN `{name}` {ty}"),
                        "add column",
                    )
                    .await?;
                }
            }
        }
        ep.migrated.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Drops every table and the database (tests).
    pub async fn drop_database(&self) -> Result<()> {
        let db = &self.config.database;
        self.exec(&format!("DROP DATABASE IF EXISTS `{db}`"), "drop database")
            .await
    }

    pub(crate) async fn exec(&self, sql: &str, what: &str) -> Result<()> {
        let fut = self.client().query(sql).execute();
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(r) => r.map_err(|e| classify(e, what)),
            Err(_) => Err(timeout(what)),
        }
    }
}

pub(crate) fn timeout(what: &str) -> StorageError {
    StorageError::backend(
        "clickhouse",
        what,
        true,
        std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"),
    )
}

/// ClickHouse error codes worth retrying (overload, timeouts, network, replicas).
const RETRYABLE_CODES: &[u32] = &[
    159, 164, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425, 999,
];

/// Classifies a client error: network failures, timeouts and server overload are retryable;
/// SQL, schema and data errors are not.
pub(crate) fn classify(error: clickhouse::error::Error, what: &str) -> StorageError {
    use clickhouse::error::Error as E;
    let retryable = match &error {
        E::Network(_) | E::TimedOut => true,
        E::BadResponse(msg) => server_code(msg).is_none_or(|c| RETRYABLE_CODES.contains(&c)),
        _ => false,
    };
    StorageError::backend("clickhouse", what, retryable, error)
}

/// The `Code: N` of a ClickHouse error message.
fn server_code(msg: &str) -> Option<u32> {
    let rest = &msg[msg.find("Code: ")? + 6..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Runs `$body` with `$R` bound to the row type of `$kind`.
macro_rules! with_row {
    ($kind:expr, $R:ident => $body:expr) => {{
        use $crate::clickhouse::rows::*;
        match $kind {
            EventKind::Trade => {
                type $R = TradeRow;
                $body
            }
            EventKind::BookSnapshot => {
                type $R = BookSnapshotRow;
                $body
            }
            EventKind::BookDelta => {
                type $R = BookDeltaRow;
                $body
            }
            EventKind::Bbo => {
                type $R = BboRow;
                $body
            }
            EventKind::Ticker => {
                type $R = TickerRow;
                $body
            }
            EventKind::FundingRate => {
                type $R = FundingRateRow;
                $body
            }
            EventKind::MarkPrice => {
                type $R = MarkPriceRow;
                $body
            }
            EventKind::OpenInterest => {
                type $R = OpenInterestRow;
                $body
            }
            EventKind::Liquidation => {
                type $R = LiquidationRow;
                $body
            }
            EventKind::LongShortRatio => {
                type $R = LongShortRatioRow;
                $body
            }
            EventKind::OptionSummary => {
                type $R = OptionSummaryRow;
                $body
            }
            EventKind::VolatilityIndex => {
                type $R = VolatilityIndexRow;
                $body
            }
            EventKind::Kline => {
                type $R = KlineRow;
                $body
            }
            EventKind::Status => {
                type $R = StatusRow;
                $body
            }
            // A kind added to core after this table set: refuse it rather than drop it.
            other => {
                return Err($crate::StorageError::UnsupportedKind {
                    store: "clickhouse",
                    kind: other,
                });
            }
        }
    }};
}
pub(crate) use with_row;

#[cfg(test)]
mod tests {
    use super::*;
    use clickhouse::Row;

    #[test]
    fn row_columns_match_schema() -> Result<()> {
        for kind in EventKind::ALL {
            let names: &[&str] = with_row!(kind, R => R::COLUMN_NAMES);
            let schema: Vec<&str> = schema::table_def(kind)
                .expect("every kind has a table")
                .columns
                .iter()
                .map(|c| c.0)
                .collect();
            assert_eq!(names, schema.as_slice(), "{kind}");
        }
        Ok(())
    }

    #[test]
    fn codes() {
        assert_eq!(
            server_code("Code: 252, e.displayText() = DB::Exception: Too many parts"),
            Some(252)
        );
        assert_eq!(server_code("nothing"), None);
    }
}
