//! Replicated tables: the engine and its settings.

use crate::{Result, StorageError};

/// Replicated tables: every table is a `ReplicatedReplacingMergeTree` registered in ZooKeeper
/// under `{zookeeper_path}/{database}/{table}`, as replica `replica`. Servers that create a
/// table with the same path are replicas of it; an insert into any of them reaches all.
///
/// ```
/// use marketprism_storage::clickhouse::Replication;
/// let r = Replication::new("/clickhouse/marketprism");
/// assert_eq!(r.replica, "{replica}");
/// assert_eq!(
///     r.engine("md", "trade"),
///     "ReplicatedReplacingMergeTree('/clickhouse/marketprism/md/trade', '{replica}')"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// ZooKeeper path of the tables, e.g. `/clickhouse/marketprism`.
    pub zookeeper_path: String,
    /// Replica name; by default `{replica}`, the macro each server defines in its config
    /// (`<macros><replica>r1</replica></macros>`), so one setting serves every server.
    pub replica: String,
}

impl Replication {
    /// Tables under `zookeeper_path`, replica name from the servers' `{replica}` macro.
    pub fn new(zookeeper_path: impl Into<String>) -> Self {
        Replication {
            zookeeper_path: zookeeper_path.into(),
            replica: "{replica}".into(),
        }
    }
    /// Sets the replica name (a macro such as `{replica}` or a literal).
    pub fn replica(mut self, replica: impl Into<String>) -> Self {
        self.replica = replica.into();
        self
    }
    /// The table engine of `database`.`table`.
    pub fn engine(&self, database: &str, table: &str) -> String {
        format!(
            "ReplicatedReplacingMergeTree('{}/{database}/{table}', '{}')",
            self.zookeeper_path.trim_end_matches('/'),
            self.replica
        )
    }
    pub(super) fn check(&self) -> Result<()> {
        let quoted = |s: &str| s.contains(['\'', '\\']);
        if !self.zookeeper_path.starts_with('/') || quoted(&self.zookeeper_path) {
            return Err(StorageError::Config {
                message: format!(
                    "ClickHouse replicated zookeeper_path `{}` must start with `/` and hold no \
                     quote or backslash",
                    self.zookeeper_path
                ),
            });
        }
        if self.replica.trim().is_empty() || quoted(&self.replica) {
            return Err(StorageError::Config {
                message: format!(
                    "ClickHouse replicated replica `{}` must be non-empty, without quote or \
                     backslash",
                    self.replica
                ),
            });
        }
        Ok(())
    }
}
