//! A group of collectors sharing instruments through etcd leases (`[assignment]`), one
//! storage service writing ClickHouse, and the simulator they read: what `ha_failover` and
//! `ha_redundancy` share.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use super::{Proc, SimProc, free_port, get_json, wait_for};

/// The servers of one run and its names.
pub(crate) struct Env {
    pub(crate) clickhouse: String,
    pub(crate) nats: String,
    pub(crate) etcd: String,
    pub(crate) database: String,
    pub(crate) stream: String,
    pub(crate) prefix: String,
    pub(crate) group: String,
}

impl Env {
    /// Names unique to `run`.
    pub(crate) fn new(clickhouse: String, nats: String, etcd: String, run: &str) -> Env {
        // The discovery factory names the etcd backend by scheme.
        let etcd = etcd
            .replace("http://", "etcd://")
            .replace("https://", "etcd://");
        Env {
            clickhouse,
            nats,
            etcd,
            database: format!("mpt_hac_{run}"),
            stream: format!("HAC_{}", run.to_uppercase()),
            prefix: format!("hac{run}"),
            group: format!("hac{run}"),
        }
    }

    fn nats_toml(&self) -> String {
        format!(
            "[nats]\nurl = \"{}\"\nstream = \"{}\"\nsubject_prefix = \"{}\"\n",
            self.nats, self.stream, self.prefix
        )
    }

    /// Waits (30 s at most) until the run's trade table holds more than `more_than` rows.
    pub(crate) async fn wait_for_trades(&self, http: &reqwest::Client, more_than: u64) {
        let (url, db) = (&self.clickhouse, &self.database);
        let query = format!("SELECT count() FROM `{db}`.trade");
        wait_for("trades in ClickHouse", Duration::from_secs(30), || async {
            (number(http, url, &query).await > more_than).then_some(())
        })
        .await;
    }

    /// Starts the storage service (ClickHouse + an embedded store in `dir`).
    pub(crate) fn storage(&self, dir: &Path) -> Proc {
        let port = free_port();
        let config = format!(
            "[service]\nlisten = \"127.0.0.1:{port}\"\n\n{}\n[consumer]\nbatch_size = 500\n\
             batch_timeout_ms = 100\nack_wait_ms = 5000\n\n[clickhouse]\nurl = \"{}/?database={}\"\n\n\
             [embedded]\npath = \"{}\"\n",
            self.nats_toml(),
            self.clickhouse,
            self.database,
            dir.join("store.redb").display()
        );
        Proc::service("data-storage-service", port, &config, dir)
    }

    /// Starts collector number `n` (its config and log in `dir/c<n>`) of the group, reading
    /// `channels` of `natives` from `sim`.
    pub(crate) fn collector(
        &self,
        dir: &Path,
        n: usize,
        sim: &SimProc,
        natives: &[&str],
        channels: &[&str],
        redundancy: u32,
    ) -> Proc {
        let sub: PathBuf = dir.join(format!("c{n}"));
        std::fs::create_dir_all(&sub).expect("collector dir");
        let port = free_port();
        let config = format!(
            "[service]\nlisten = \"127.0.0.1:{port}\"\n\n[discovery]\nurl = \"{}\"\n\n{}\n\
             [assignment]\nenabled = true\ngroup = \"{}\"\nredundancy = {redundancy}\n\
             lease_ttl_secs = 3\npoll_ms = 200\nrelease_grace_ms = 2000\n\n\
             [[exchanges]]\nvenue = \"binance-spot\"\nchannels = [\"{}\"]\nsymbols = [\"{}\"]\n\
             ws_url = \"ws://{addr}\"\nrest_url = \"http://{addr}\"\n",
            self.etcd,
            self.nats_toml(),
            self.group,
            channels.join("\", \""),
            natives.join("\", \""),
            addr = sim.addr
        );
        Proc::service("market-data-collector", port, &config, &sub)
    }
}

/// A collector's `assignment` section of `/api/v1/collector/status`.
pub(crate) async fn assignment(http: &reqwest::Client, p: &Proc) -> Option<serde_json::Value> {
    let v = get_json(
        http,
        &format!("http://127.0.0.1:{}/api/v1/collector/status", p.port),
    )
    .await?;
    Some(v["assignment"].clone())
}

/// Strings of a JSON array.
pub(crate) fn strings(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// Waits until every collector in `procs` sees exactly `procs.len()` members and each of
/// `keys` is owned by exactly `redundancy` of them; returns each collector's
/// `(member id, owned keys)`.
pub(crate) async fn settled(
    http: &reqwest::Client,
    procs: &[&Proc],
    keys: &BTreeSet<String>,
    redundancy: usize,
    limit: Duration,
) -> Vec<(String, BTreeSet<String>)> {
    wait_for("the group settles", limit, || async {
        let mut out = Vec::new();
        for p in procs {
            let a = assignment(http, p).await?;
            if strings(&a["members"]).len() != procs.len() {
                return None;
            }
            out.push((a["member"].as_str()?.to_owned(), strings(&a["owned"])));
        }
        let mut count: BTreeMap<&String, usize> = BTreeMap::new();
        for (_, owned) in &out {
            for k in owned {
                *count.entry(k).or_default() += 1;
            }
        }
        (count.len() == keys.len()
            && count.keys().all(|k| keys.contains(*k))
            && count.values().all(|c| *c == redundancy))
        .then_some(out)
    })
    .await
}

/// How many of the simulator's connections subscribe `<native>@<stream>`, per native.
pub(crate) async fn subscribed(
    http: &reqwest::Client,
    sim_url: &str,
    natives: &[&str],
    stream: &str,
) -> Option<Vec<usize>> {
    let stats = get_json(http, &format!("{sim_url}/_sim/stats")).await?;
    let conns = stats["connections"].as_array()?.clone();
    Some(
        natives
            .iter()
            .map(|n| {
                let want = format!("{}@{stream}", n.to_lowercase());
                conns
                    .iter()
                    .filter(|c| {
                        c["subscriptions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|s| s.as_str() == Some(want.as_str()))
                            || c["path"].as_str().is_some_and(|p| p.contains(&want))
                    })
                    .count()
            })
            .collect(),
    )
}

/// Rows of a ClickHouse query ending in `FORMAT TabSeparated`, split on tabs.
pub(crate) async fn rows(http: &reqwest::Client, url: &str, query: &str) -> Vec<Vec<String>> {
    let Ok(r) = http.post(url).body(query.to_owned()).send().await else {
        return Vec::new();
    };
    if !r.status().is_success() {
        return Vec::new();
    }
    r.text()
        .await
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The one number a ClickHouse query returns (0 when it fails).
pub(crate) async fn number(http: &reqwest::Client, url: &str, query: &str) -> u64 {
    rows(http, url, query)
        .await
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
