//! Two ClickHouse servers replicating through one ZooKeeper, started by the test itself on
//! free ports with state in a temporary folder: Debian's `zookeeper` (run with `java`) and
//! `clickhouse-server`. Each server defines the `{replica}` macro (`r1`, `r2`), an
//! interserver port (replicas fetch parts from each other over it) and a cluster `mp` of
//! the two (one shard, two replicas) for `Distributed` tables. Replicas are stopped by their
//! own PID (SIGKILL) and restarted with the same config and data.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use marketprism_core::testing::is_ci;
use tokio::process::{Child, Command};

use super::free_ports;

/// What the pair needs from the machine.
pub(crate) struct Binaries {
    clickhouse: PathBuf,
    java: PathBuf,
    zookeeper_classpath: String,
}

/// The binaries (Debian's clickhouse-server, zookeeper and a java), or `None` with the reason
/// printed; under `CI=true` a missing one fails the test.
pub(crate) fn require_replication_binaries() -> Option<Binaries> {
    let find = |name: &str| {
        ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"]
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.is_file())
    };
    let jar = Path::new("/usr/share/java/zookeeper.jar");
    let found = (
        find("clickhouse-server"),
        find("java"),
        jar.is_file().then_some(()),
    );
    if let (Some(clickhouse), Some(java), Some(())) = found {
        return Some(Binaries {
            clickhouse,
            java,
            // Without an SLF4J binding ZooKeeper logs nothing, not even why it exited;
            // slf4j-simple (Debian's libslf4j-java, a zookeeper dependency) writes to stderr.
            zookeeper_classpath: format!("/usr/share/java/slf4j-simple.jar:{}", jar.display()),
        });
    }
    let msg = "replicated ClickHouse needs clickhouse-server, java and /usr/share/java/\
               zookeeper.jar (Debian packages clickhouse-server and zookeeper; \
               `scripts/services.sh start clickhouse-replicated` installs them)";
    assert!(!is_ci(), "CI=true and a required server is missing: {msg}");
    eprintln!("SKIPPED (not CI): {msg}");
    None
}

/// One ClickHouse replica.
pub(crate) struct Replica {
    /// `r1`, `r2` (its `{replica}` macro).
    pub(crate) name: String,
    /// HTTP port.
    pub(crate) http: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// `http://127.0.0.1:<http>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.join("err.log"), lines)
    }
}

/// Starts a standalone ZooKeeper with state in `zk_dir` and waits until it answers `ruok`.
/// A port another process takes between choosing and binding makes ZooKeeper exit at once
/// ("Address already in use"); it is then started again on another port, up to three times.
async fn start_zookeeper(bins: &Binaries, zk_dir: &Path, limit: Duration) -> (Child, u16) {
    let started = Instant::now();
    let log_path = zk_dir.join("zookeeper.log");
    for attempt in 1..=3 {
        let [port] = free_ports();
        let cfg = zk_dir.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={port}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=ruok\n",
                zk_dir.join("data").display()
            ),
        )
        .expect("zoo.cfg");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("zk log");
        let mut child = Command::new(&bins.java)
            .args(["-Xmx256m", "-cp", &bins.zookeeper_classpath])
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
            .arg(format!("-Dzookeeper.log.dir={}", zk_dir.display()))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn zookeeper");
        loop {
            if answers_imok(port).await {
                return (child, port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("ZooKeeper on port {port} exited ({status}), attempt {attempt} of 3");
                break;
            }
            assert!(
                started.elapsed() < limit,
                "ZooKeeper on port {port} not answering `ruok` within {limit:?}:\n{}",
                tail(&log_path, 30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!(
        "ZooKeeper exited on three ports in a row:\n{}",
        tail(&log_path, 30)
    );
}

/// Whether a ZooKeeper on `port` answers the `ruok` four-letter command with `imok`.
async fn answers_imok(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream.write_all(b"ruok").await.ok()?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.ok()?;
        Some(answer == b"imok")
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The last `lines` lines of the file at `path` (empty when it cannot be read).
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// ZooKeeper and two replicas; all killed on drop.
pub(crate) struct ClickHousePair {
    /// The replicas.
    pub(crate) replicas: Vec<Replica>,
    zookeeper: Child,
    zk_dir: PathBuf,
    bin: PathBuf,
}

impl ClickHousePair {
    /// Starts ZooKeeper and two replicas under `dir`; returns once all answer, or panics
    /// after `limit`.
    pub(crate) async fn start(bins: &Binaries, dir: &Path, limit: Duration) -> ClickHousePair {
        let zk_dir = dir.join("zookeeper");
        std::fs::create_dir_all(zk_dir.join("data")).expect("zk dir");
        let (zookeeper, zk_port) = start_zookeeper(bins, &zk_dir, limit).await;
        let [h1, t1, i1, h2, t2, i2] = free_ports();
        let ports = [(h1, t1, i1), (h2, t2, i2)];
        let remote: String = ports
            .iter()
            .map(|(_, tcp, _)| {
                format!("<replica><host>127.0.0.1</host><port>{tcp}</port></replica>")
            })
            .collect();
        let mut replicas = Vec::new();
        for (i, (http, tcp, inter)) in ports.into_iter().enumerate() {
            let name = format!("r{}", i + 1);
            let rdir = dir.join(&name);
            for sub in ["data", "tmp", "user_files", "format_schemas"] {
                std::fs::create_dir_all(rdir.join(sub)).expect("replica dir");
            }
            std::fs::copy("/etc/clickhouse-server/users.xml", rdir.join("users.xml"))
                .expect("copy users.xml");
            let d = rdir.display();
            let config = format!(
                r#"<?xml version="1.0"?>
<yandex>
    <logger><level>information</level><log>{d}/server.log</log><errorlog>{d}/err.log</errorlog></logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <interserver_http_port>{inter}</interserver_http_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mlock_executable>false</mlock_executable>
    <mark_cache_size>268435456</mark_cache_size>
    <zookeeper>
        <node><host>127.0.0.1</host><port>{zk_port}</port></node>
        <session_timeout_ms>6000</session_timeout_ms>
    </zookeeper>
    <macros><replica>{name}</replica></macros>
    <remote_servers><mp><shard><internal_replication>true</internal_replication>{remote}</shard></mp></remote_servers>
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
"#
            );
            std::fs::write(rdir.join("config.xml"), config).expect("replica config");
            replicas.push(Replica {
                name,
                http,
                dir: rdir,
                child: None,
            });
        }
        let mut pair = ClickHousePair {
            replicas,
            zookeeper,
            zk_dir,
            bin: bins.clickhouse.clone(),
        };
        for i in 0..2 {
            pair.spawn(i);
        }
        for i in 0..2 {
            pair.wait_ready(i, limit).await;
        }
        pair.wait_zookeeper(limit).await;
        pair
    }

    fn spawn(&mut self, i: usize) {
        let r = &mut self.replicas[i];
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(r.dir.join("stdout.log"))
            .expect("log");
        let child = Command::new(&self.bin)
            .arg(format!(
                "--config-file={}",
                r.dir.join("config.xml").display()
            ))
            .current_dir(&r.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        r.child = Some(child);
    }

    /// Waits until replica `i` answers `/ping`, or panics after `limit`.
    pub(crate) async fn wait_ready(&mut self, i: usize, limit: Duration) {
        let http = reqwest::Client::new();
        let url = format!("{}/ping", self.replicas[i].url());
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(child) = self.replicas[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited ({status}):\n{}",
                    self.replicas[i].name,
                    self.replicas[i].log_tail(30)
                );
            }
            assert!(
                started.elapsed() < limit,
                "{} not ready within {limit:?}:\n{}",
                self.replicas[i].name,
                self.replicas[i].log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until both replicas reach ZooKeeper (`system.zookeeper` answers).
    async fn wait_zookeeper(&mut self, limit: Duration) {
        let http = reqwest::Client::new();
        let started = Instant::now();
        for r in &self.replicas {
            loop {
                let ok = http
                    .post(r.url())
                    .body("SELECT count() FROM system.zookeeper WHERE path = '/'")
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    break;
                }
                if started.elapsed() >= limit {
                    let zookeeper = match self.zookeeper.try_wait() {
                        Ok(Some(status)) => format!("ZooKeeper exited ({status})"),
                        _ => "ZooKeeper is running".to_owned(),
                    };
                    panic!(
                        "{} cannot reach ZooKeeper within {limit:?} ({zookeeper}):\n{}",
                        r.name,
                        self.logs(20)
                    );
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// SIGKILLs replica `i` and reaps it.
    pub(crate) async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].child.take() {
            child.start_kill().expect("SIGKILL");
            let _ = child.wait().await;
        }
    }

    /// Starts replica `i` again with the same config and data.
    pub(crate) fn restart(&mut self, i: usize) {
        assert!(self.replicas[i].child.is_none(), "replica {i} is running");
        self.spawn(i);
    }

    /// The tails of every error log (for a failing test).
    pub(crate) fn logs(&self, lines: usize) -> String {
        let mut out = format!(
            "----- zookeeper -----\n{}",
            tail(&self.zk_dir.join("zookeeper.log"), lines)
        );
        for r in &self.replicas {
            out.push_str(&format!(
                "\n----- clickhouse {} -----\n{}",
                r.name,
                r.log_tail(lines)
            ));
        }
        out
    }

    /// ZooKeeper's process id.
    pub(crate) fn zookeeper_pid(&self) -> Option<u32> {
        self.zookeeper.id()
    }
}
