//! A three-node NATS JetStream cluster on loopback, started by the test itself from the
//! `nats-server` that `scripts/services.sh` installs: routes between the nodes, free client,
//! cluster and monitor ports (never the single node's 4222/6222/8222), state in a temporary
//! folder. Nodes are stopped by their own PID (SIGKILL to simulate a crash) and restarted
//! with the same config and store.
//!
//! [`NatsCluster::start_in`] puts each node in a host of a [`Lab`] (its own network
//! namespace) instead, on the standard ports of its own address, so a test can partition it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::process::{Child, Command};

use super::{free_port, get_json, netns::Lab};

/// The `nats-server` binary: `MARKETPRISM_NATS_SERVER_BIN`, else where `scripts/services.sh`
/// installs it (`${MARKETPRISM_TOOLS_DIR:-$HOME/.cache/marketprism/tools}/nats-server-2.15.1`).
/// Missing: panics under `CI=true`, else prints why the test is skipped and returns `None`.
pub(crate) fn require_nats_server_bin() -> Option<PathBuf> {
    let path = std::env::var_os("MARKETPRISM_NATS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let tools = std::env::var_os("MARKETPRISM_TOOLS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/marketprism/tools")
                });
            tools.join("nats-server-2.15.1/bin/nats-server")
        });
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "no nats-server at {} (MARKETPRISM_NATS_SERVER_BIN); install it with \
         `scripts/services.sh start`",
        path.display()
    );
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!ci, "CI=true and a required server is missing: {msg}");
    eprintln!("SKIPPED (not CI): {msg}");
    None
}

/// One node of the cluster.
pub(crate) struct Node {
    /// Server name (`n1`, `n2`, `n3`), as JetStream reports leaders.
    pub(crate) name: String,
    /// Client port.
    pub(crate) port: u16,
    /// Monitoring (HTTP) port.
    pub(crate) monitor: u16,
    /// Its address (`127.0.0.1`, or its namespace's address).
    pub(crate) host: String,
    /// The network namespace it runs in, if not the test's own.
    netns: Option<String>,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// `nats://<host>:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }

    /// `http://<host>:<monitor>`.
    pub(crate) fn monitor_url(&self) -> String {
        format!("http://{}:{}", self.host, self.monitor)
    }

    /// Its `/jsz` JSON with accounts and streams, `None` when it does not answer.
    pub(crate) async fn jsz(&self, http: &reqwest::Client) -> Option<Value> {
        get_json(
            http,
            &format!("{}/jsz?accounts=true&streams=true", self.monitor_url()),
        )
        .await
    }

    /// Its process id while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The last `lines` of its log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Three routed JetStream nodes; killed on drop.
pub(crate) struct NatsCluster {
    /// The nodes, `n1`..`n3`.
    pub(crate) nodes: Vec<Node>,
    bin: PathBuf,
}

impl NatsCluster {
    /// Writes the configs and starts the three nodes under `dir`; returns once every node
    /// reports healthy (JetStream meta group formed) or panics after `limit`.
    pub(crate) async fn start(bin: &Path, dir: &Path, limit: Duration) -> NatsCluster {
        let places: Vec<Place> = (0..3)
            .map(|_| Place {
                host: "127.0.0.1".to_owned(),
                netns: None,
                ports: (free_port(), free_port(), free_port()),
            })
            .collect();
        Self::start_at(bin, dir, limit, places).await
    }

    /// [`NatsCluster::start`] with node `i` in host `i` of `lab` (three hosts): clients on
    /// 4222, routes on 6222, monitoring on 8222 of the host's address. Client and monitor
    /// ports listen on every address of the namespace, so the node can also be asked from
    /// inside while it is cut off ([`Lab::curl_in`]).
    pub(crate) async fn start_in(
        bin: &Path,
        dir: &Path,
        limit: Duration,
        lab: &Lab,
    ) -> NatsCluster {
        assert_eq!(lab.hosts.len(), 3, "one host per node");
        let places: Vec<Place> = lab
            .hosts
            .iter()
            .map(|h| Place {
                host: h.ip.to_string(),
                netns: Some(h.ns.clone()),
                ports: (4222, 6222, 8222),
            })
            .collect();
        Self::start_at(bin, dir, limit, places).await
    }

    async fn start_at(bin: &Path, dir: &Path, limit: Duration, places: Vec<Place>) -> NatsCluster {
        let routes: Vec<String> = places
            .iter()
            .map(|p| format!("nats-route://{}:{}", p.host, p.ports.1))
            .collect();
        let mut nodes = Vec::new();
        for (i, place) in places.into_iter().enumerate() {
            let (port, cluster, monitor) = place.ports;
            let host = place.host;
            // In a namespace of its own, clients and monitoring on every address.
            let bind = if place.netns.is_some() {
                "0.0.0.0"
            } else {
                host.as_str()
            };
            let name = format!("n{}", i + 1);
            let store = dir.join(&name);
            std::fs::create_dir_all(&store).expect("store dir");
            let config = dir.join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\nlisten: \"{bind}:{port}\"\n\
                 http: \"{bind}:{monitor}\"\n\
                 jetstream {{\n  store_dir: \"{store}\"\n}}\n\
                 cluster {{\n  name: mpt\n  listen: \"{host}:{cluster}\"\n  \
                 routes: [{routes}]\n}}\n",
                store = store.display(),
                routes = routes.join(", "),
            );
            std::fs::write(&config, text).expect("write node config");
            nodes.push(Node {
                log: dir.join(format!("{name}.log")),
                name,
                port,
                monitor,
                host,
                netns: place.netns,
                config,
                child: None,
            });
        }
        let mut cluster = NatsCluster {
            nodes,
            bin: bin.to_owned(),
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        for i in 0..3 {
            cluster.wait_healthy(i, limit).await;
        }
        cluster
    }

    /// Every client URL, comma-separated (the form `nats.url` takes).
    pub(crate) fn urls(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(Node::url).collect();
        urls.join(",")
    }

    /// The index of the node named `name`.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("node log");
        let err = out.try_clone().expect("node log");
        let mut command = match &node.netns {
            // `ip netns exec` execs the server: the child's PID is the server's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let child = command
            .arg("-c")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        node.child = Some(child);
    }

    /// Waits until node `i` answers `/healthz` (JetStream current) or panics after `limit`.
    pub(crate) async fn wait_healthy(&mut self, i: usize, limit: Duration) {
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", self.nodes[i].monitor_url());
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.nodes[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited ({status}):\n{}",
                    self.nodes[i].name,
                    self.nodes[i].log_tail(30)
                );
            }
            assert!(
                started.elapsed() < limit,
                "{} not healthy within {limit:?}:\n{}",
                self.nodes[i].name,
                self.nodes[i].log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs node `i` (no lame-duck mode, no goodbye to its peers) and reaps it.
    pub(crate) async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.start_kill().expect("SIGKILL");
            let _ = child.wait().await;
        }
    }

    /// Starts node `i` again with the same config and store.
    pub(crate) fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        self.spawn(i);
    }

    /// Node `i`'s own view of `stream` from its `/jsz`: `(messages, last_seq)`.
    pub(crate) async fn local_stream_state(
        &self,
        http: &reqwest::Client,
        i: usize,
        stream: &str,
    ) -> Option<(u64, u64)> {
        let v = self.nodes[i].jsz(http).await?;
        let state = &stream_detail(&v, stream)?["state"];
        Some((state["messages"].as_u64()?, state["last_seq"].as_u64()?))
    }

    /// The tails of every node's log (for a failing test).
    pub(crate) fn logs(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|n| format!("----- nats {} -----\n{}", n.name, n.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Where and on which ports (client, cluster, monitor) a node runs.
struct Place {
    host: String,
    netns: Option<String>,
    ports: (u16, u16, u16),
}

/// `/jsz` JSON of one node on 127.0.0.1, for diagnostics.
pub(crate) async fn jsz(http: &reqwest::Client, monitor: u16) -> Option<Value> {
    get_json(
        http,
        &format!("http://127.0.0.1:{monitor}/jsz?accounts=true&streams=true"),
    )
    .await
}

/// The `stream_detail` entry of `stream` in a node's `/jsz` JSON.
pub(crate) fn stream_detail<'a>(jsz: &'a Value, stream: &str) -> Option<&'a Value> {
    jsz["account_details"]
        .as_array()?
        .iter()
        .filter_map(|a| a["stream_detail"].as_array())
        .flatten()
        .find(|s| s["name"] == stream)
}

/// Events (not messages: a message may carry several, see `marketprism_core::framing`) held
/// by `stream` on subjects matching `filter`, read with an ephemeral consumer.
pub(crate) async fn events_in_stream(
    js: &async_nats::jetstream::Context,
    stream: &str,
    filter: String,
) -> usize {
    use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
    use futures::StreamExt;
    use marketprism_core::framing::{EVENTS_HEADER, event_ranges};
    // A cluster that just healed may answer with 503 ("JetStream system temporarily
    // unavailable") for a moment: opening the consumer and every fetch retry for 30 s.
    let (consumer, mut pending): (PullConsumer, u64) = super::wait_for(
        &format!("a consumer on {stream}"),
        Duration::from_secs(30),
        || async {
            let s = js.get_stream(stream).await.ok()?;
            let mut consumer: PullConsumer = s
                .create_consumer(pull::Config {
                    filter_subject: filter.clone(),
                    ack_policy: AckPolicy::None,
                    deliver_policy: DeliverPolicy::All,
                    inactive_threshold: Duration::from_secs(30),
                    ..Default::default()
                })
                .await
                .ok()?;
            let pending = consumer.info().await.ok()?.num_pending;
            Some((consumer, pending))
        },
    )
    .await;
    let mut events = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending > 0 {
        assert!(
            Instant::now() < deadline,
            "reading the stream stalled with {pending} messages left"
        );
        let Ok(mut batch) = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_secs(2))
            .messages()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        while let Some(Ok(m)) = batch.next().await {
            pending = pending.saturating_sub(1);
            let header = m
                .headers
                .as_ref()
                .and_then(|h| h.get(EVENTS_HEADER))
                .map(|v| v.as_str());
            events += event_ranges(&m.payload, header).count();
        }
    }
    events
}
