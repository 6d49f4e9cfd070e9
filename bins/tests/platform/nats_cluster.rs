//! A three-node NATS JetStream cluster on loopback, started by the test itself from the
//! `nats-server` that `scripts/services.sh` installs: routes between the nodes, free client,
//! cluster and monitor ports (never the single node's 4222/6222/8222), state in a temporary
//! folder. Nodes are stopped by their own PID (SIGKILL to simulate a crash) and restarted
//! with the same config and store.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::process::{Child, Command};

use super::{free_port, get_json};

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
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// `nats://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
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
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, cluster, _)| format!("nats-route://127.0.0.1:{cluster}"))
            .collect();
        let mut nodes = Vec::new();
        for (i, (port, cluster, monitor)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.join(&name);
            std::fs::create_dir_all(&store).expect("store dir");
            let config = dir.join(format!("{name}.conf"));
            let text = format!(
                "server_name: {name}\nlisten: \"127.0.0.1:{port}\"\n\
                 http: \"127.0.0.1:{monitor}\"\n\
                 jetstream {{\n  store_dir: \"{store}\"\n}}\n\
                 cluster {{\n  name: mpt\n  listen: \"127.0.0.1:{cluster}\"\n  \
                 routes: [{routes}]\n}}\n",
                store = store.display(),
                routes = routes.join(", "),
            );
            std::fs::write(&config, text).expect("write node config");
            nodes.push(Node {
                log: dir.join(format!("{name}.log")),
                name,
                port: *port,
                monitor: *monitor,
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
        let child = Command::new(&self.bin)
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
        let url = format!("http://127.0.0.1:{}/healthz", self.nodes[i].monitor);
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
        let url = format!(
            "http://127.0.0.1:{}/jsz?accounts=true&streams=true",
            self.nodes[i].monitor
        );
        let v = get_json(http, &url).await?;
        let detail = v["account_details"]
            .as_array()?
            .iter()
            .filter_map(|a| a["stream_detail"].as_array())
            .flatten()
            .find(|s| s["name"] == stream)?;
        let state = &detail["state"];
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

/// `/jsz` JSON of one node, for diagnostics.
pub(crate) async fn jsz(http: &reqwest::Client, monitor: u16) -> Option<Value> {
    get_json(
        http,
        &format!("http://127.0.0.1:{monitor}/jsz?accounts=true&streams=true"),
    )
    .await
}
