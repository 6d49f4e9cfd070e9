//! Stores chosen by URL scheme (quickwit's storage-factory pattern).
//!
//! | URL | store | feature |
//! |---|---|---|
//! | `http://host:8123[/?database=db]`, `clickhouse://host:8123[/db]` (`clickhouse://host:9000` — the native port — means HTTP `host:8123`, `9440` means `https://host:8443`) | [`ClickHouseStore`](crate::clickhouse::ClickHouseStore): sink + history | `clickhouse` |
//! | `http://a:8123/?database=db&failover=http://b:8123&zookeeper_path=/clickhouse/mp[&replica=r]` | the same, on replicated tables, failing over from `a` to `b` | `clickhouse` |
//! | `redis://host:6379[/n][?key_prefix=p]`, `rediss://...` | [`RedisStore`](crate::redis::RedisStore): sink + hot (keys under `p`, default `mp`) | `redis` |
//! | `embedded:///abs/path/store.redb`, `embedded://relative/path` | [`EmbeddedStore`](crate::embedded::EmbeddedStore): sink + history + hot | `embedded` |
//!
//! ```
//! use marketprism_storage::factory::StoreUrl;
//! assert!(matches!(StoreUrl::parse("embedded:///tmp/x.redb")?, StoreUrl::Embedded(_)));
//! assert!(StoreUrl::parse("ftp://x").is_err());
//! # Ok::<_, marketprism_storage::StorageError>(())
//! ```

use std::{path::PathBuf, sync::Arc};

use marketprism_core::sink::Sink;

use crate::{
    Result, StorageError,
    query::{HistoryStore, HotStore},
};

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreUrl {
    /// ClickHouse HTTP URL and database.
    ClickHouse {
        /// `http(s)://host:port`.
        url: String,
        /// Database, `marketprism` by default.
        database: String,
        /// `failover` query parameters: replicas tried when `url` fails.
        failover: Vec<String>,
        /// `zookeeper_path` query parameter: replicated tables under this ZooKeeper path.
        zookeeper_path: Option<String>,
        /// `replica` query parameter (with `zookeeper_path`; default the `{replica}` macro).
        replica: Option<String>,
    },
    /// Redis URL and key prefix.
    Redis {
        /// The URL as the Redis client takes it (without `key_prefix`).
        url: String,
        /// `key_prefix` query parameter: several platforms can share one Redis.
        key_prefix: Option<String>,
    },
    /// Embedded store file.
    Embedded(PathBuf),
}

impl StoreUrl {
    /// Parses a store URL; unknown schemes are errors naming the URL.
    pub fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| StorageError::Config {
            message: format!("`{url}` is not a URL (expected scheme://...)"),
        })?;
        match scheme {
            "http" | "https" => {
                let (base, query) = url.split_once('?').unwrap_or((url, ""));
                let param = |name: &'static str| {
                    query
                        .split('&')
                        .filter_map(move |kv| kv.strip_prefix(name)?.strip_prefix('='))
                };
                let database = param("database").next().unwrap_or("marketprism");
                let failover: Vec<String> = param("failover")
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .collect();
                if let Some(bad) = failover.iter().find(|u| !u.starts_with("http")) {
                    return Err(StorageError::Config {
                        message: format!("`{url}`: failover `{bad}` is not an http(s) URL"),
                    });
                }
                let replica = param("replica").next().map(str::to_owned);
                let zookeeper_path = param("zookeeper_path").next().map(str::to_owned);
                if replica.is_some() && zookeeper_path.is_none() {
                    return Err(StorageError::Config {
                        message: format!("`{url}`: replica without zookeeper_path"),
                    });
                }
                Ok(StoreUrl::ClickHouse {
                    url: base.trim_end_matches('/').to_owned(),
                    database: database.to_owned(),
                    failover,
                    zookeeper_path,
                    replica,
                })
            }
            "clickhouse" => {
                let (host, db) = rest.split_once('/').unwrap_or((rest, ""));
                let db = db.trim_matches('/');
                let (scheme, host) = native_to_http(host);
                Ok(StoreUrl::ClickHouse {
                    url: format!("{scheme}://{host}"),
                    database: if db.is_empty() {
                        "marketprism".into()
                    } else {
                        db.into()
                    },
                    failover: Vec::new(),
                    zookeeper_path: None,
                    replica: None,
                })
            }
            "redis" | "rediss" => {
                let (base, query) = url.split_once('?').unwrap_or((url, ""));
                let mut key_prefix = None;
                let mut rest = Vec::new();
                for kv in query.split('&').filter(|kv| !kv.is_empty()) {
                    match kv.strip_prefix("key_prefix=") {
                        Some(p) if !p.is_empty() => key_prefix = Some(p.to_owned()),
                        Some(_) => {
                            return Err(StorageError::Config {
                                message: format!("`{url}`: key_prefix is empty"),
                            });
                        }
                        None => rest.push(kv),
                    }
                }
                let url = if rest.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", rest.join("&"))
                };
                Ok(StoreUrl::Redis { url, key_prefix })
            }
            "embedded" if !rest.is_empty() => Ok(StoreUrl::Embedded(PathBuf::from(rest))),
            _ => Err(StorageError::Config {
                message: format!(
                    "unsupported store URL `{url}`: use http(s):// or clickhouse:// (ClickHouse), \
                     redis:// (Redis) or embedded:///path"
                ),
            }),
        }
    }
}

/// `host:9000` (ClickHouse's native TCP port, which the original system used) → `http`,
/// `host:8123`; `host:9440` (native over TLS) → `https`, `host:8443`; anything else → `http`,
/// unchanged. This client speaks ClickHouse's HTTP interface only.
fn native_to_http(host: &str) -> (&'static str, String) {
    match host.rsplit_once(':') {
        Some((h, "9000")) => ("http", format!("{h}:8123")),
        Some((h, "9440")) => ("https", format!("{h}:8443")),
        _ => ("http", host.to_owned()),
    }
}

/// The notice to log when `url` names ClickHouse's native port and is taken as its HTTP
/// interface (see [`StoreUrl::parse`]); `None` otherwise.
///
/// ```
/// use marketprism_storage::factory::{StoreUrl, clickhouse_native_port_notice};
/// let url = "clickhouse://data-storage:9000";
/// let StoreUrl::ClickHouse { url: http, database, .. } = StoreUrl::parse(url)? else {
///     panic!("a ClickHouse URL");
/// };
/// assert_eq!((http.as_str(), database.as_str()), ("http://data-storage:8123", "marketprism"));
/// let notice = clickhouse_native_port_notice(url).unwrap();
/// assert!(notice.contains("http://data-storage:8123"));
/// assert!(clickhouse_native_port_notice("clickhouse://h:8123").is_none());
/// assert!(clickhouse_native_port_notice("http://h:9000").is_none()); // explicit HTTP is kept
/// # Ok::<_, marketprism_storage::StorageError>(())
/// ```
pub fn clickhouse_native_port_notice(url: &str) -> Option<String> {
    let rest = url.strip_prefix("clickhouse://")?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let (scheme, mapped) = native_to_http(host);
    (mapped != host).then(|| {
        let port = host.rsplit_once(':').map_or("", |(_, p)| p);
        format!(
            "ClickHouse URL {} names the native TCP port {port} (as the original system used); \
             this client speaks ClickHouse's HTTP interface, so it connects to {scheme}://{mapped}. \
             Write {scheme}://{mapped} (or clickhouse://{mapped}) to silence this notice.",
            marketprism_core::redact::url(url)
        )
    })
}

/// The stores opened from a list of URLs: every one is a sink; the history and hot query
/// stores are the first that provide them.
#[derive(Clone, Default)]
pub struct Stores {
    /// Every store, as a sink (the pipeline writes to all).
    pub sinks: Vec<Arc<dyn Sink>>,
    /// The history store (ClickHouse or embedded).
    pub history: Option<Arc<dyn HistoryStore>>,
    /// The hot store (Redis or embedded).
    pub hot: Option<Arc<dyn HotStore>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field(
                "history",
                &self.history.as_ref().map(|s| s.name().to_owned()),
            )
            .field("hot", &self.hot.as_ref().map(|s| s.name().to_owned()))
            .finish()
    }
}

/// Opens every URL (ClickHouse schemas are created / migrated).
pub async fn open_stores<S: AsRef<str>>(urls: &[S]) -> Result<Stores> {
    let mut stores = Stores::default();
    for url in urls {
        open_into(&mut stores, StoreUrl::parse(url.as_ref())?).await?;
    }
    Ok(stores)
}

fn missing(feature: &str) -> StorageError {
    StorageError::Config {
        message: format!("this build of marketprism-storage lacks the `{feature}` feature"),
    }
}

#[allow(clippy::unused_async)]
async fn open_into(stores: &mut Stores, url: StoreUrl) -> Result<()> {
    let _ = &stores;
    match url {
        #[cfg(feature = "clickhouse")]
        StoreUrl::ClickHouse {
            url,
            database,
            failover,
            zookeeper_path,
            replica,
        } => {
            use crate::clickhouse::{ClickHouseConfig, ClickHouseStore, Replication};
            let mut config = ClickHouseConfig::new(url).database(database);
            for u in failover {
                config = config.failover_url(u);
            }
            if let Some(path) = zookeeper_path {
                let mut r = Replication::new(path);
                if let Some(name) = replica {
                    r = r.replica(name);
                }
                config = config.replicated(r);
            }
            let s = Arc::new(ClickHouseStore::connect(config).await?);
            stores.sinks.push(s.clone());
            stores.history.get_or_insert(s);
            Ok(())
        }
        #[cfg(feature = "redis")]
        StoreUrl::Redis { url, key_prefix } => {
            let mut config = crate::redis::RedisConfig::new(url);
            if let Some(p) = key_prefix {
                config = config.key_prefix(p);
            }
            let s = Arc::new(crate::redis::RedisStore::connect(config).await?);
            stores.sinks.push(s.clone());
            stores.hot.get_or_insert(s);
            Ok(())
        }
        #[cfg(feature = "embedded")]
        StoreUrl::Embedded(path) => {
            let s = Arc::new(crate::embedded::EmbeddedStore::open(path)?);
            stores.sinks.push(s.clone());
            stores.history.get_or_insert(s.clone());
            stores.hot.get_or_insert(s);
            Ok(())
        }
        #[allow(unreachable_patterns)]
        StoreUrl::ClickHouse { .. } => Err(missing("clickhouse")),
        #[allow(unreachable_patterns)]
        StoreUrl::Redis { .. } => Err(missing("redis")),
        #[allow(unreachable_patterns)]
        StoreUrl::Embedded(_) => Err(missing("embedded")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes() {
        assert_eq!(
            StoreUrl::parse("clickhouse://127.0.0.1:8123/md").expect("ok"),
            StoreUrl::ClickHouse {
                url: "http://127.0.0.1:8123".into(),
                database: "md".into(),
                failover: vec![],
                zookeeper_path: None,
                replica: None,
            }
        );
        assert_eq!(
            StoreUrl::parse("http://127.0.0.1:8123/?database=x").expect("ok"),
            StoreUrl::ClickHouse {
                url: "http://127.0.0.1:8123".into(),
                database: "x".into(),
                failover: vec![],
                zookeeper_path: None,
                replica: None,
            }
        );
        assert_eq!(
            StoreUrl::parse(
                "http://a:1/?database=x&failover=http://b:2/&failover=http://c:3\
                 &zookeeper_path=/clickhouse/mp&replica={replica}"
            )
            .expect("ok"),
            StoreUrl::ClickHouse {
                url: "http://a:1".into(),
                database: "x".into(),
                failover: vec!["http://b:2".into(), "http://c:3".into()],
                zookeeper_path: Some("/clickhouse/mp".into()),
                replica: Some("{replica}".into()),
            }
        );
        assert!(StoreUrl::parse("http://a:1/?failover=b:2").is_err());
        assert!(StoreUrl::parse("http://a:1/?replica=r1").is_err());
        assert_eq!(
            StoreUrl::parse("embedded://data/s.redb").expect("ok"),
            StoreUrl::Embedded("data/s.redb".into())
        );
        assert_eq!(
            StoreUrl::parse("redis://127.0.0.1:6379/2?key_prefix=e2e&protocol=resp3").expect("ok"),
            StoreUrl::Redis {
                url: "redis://127.0.0.1:6379/2?protocol=resp3".into(),
                key_prefix: Some("e2e".into())
            }
        );
        assert_eq!(
            StoreUrl::parse("redis://127.0.0.1:6379").expect("ok"),
            StoreUrl::Redis {
                url: "redis://127.0.0.1:6379".into(),
                key_prefix: None
            }
        );
        assert!(StoreUrl::parse("redis://h:6379?key_prefix=").is_err());
        assert!(StoreUrl::parse("nonsense").is_err());
        assert!(StoreUrl::parse("embedded://").is_err());
    }
}
