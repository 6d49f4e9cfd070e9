//! Several hosts on one machine, in Linux network namespaces (iproute2's `ip netns` and veth
//! pairs), so that a test can cut one host off the network while the others go on.
//!
//! ```text
//!   root namespace (the test, the services, ClickHouse on 127.0.0.1)
//!     mpt<run>  10.213.K.254/24
//!        │ veth
//!   mpt-<pid>-<run>-hub:  br0 ── hr, h1, h2, ... (bridge ports)
//!        │ veth h<i> ─ eth0
//!   mpt-<pid>-<run>-n<i>:  eth0 10.213.K.<i>/24, lo
//! ```
//!
//! Each host is its own namespace whose `eth0` is a port of one bridge, which lives in a hub
//! namespace of its own; the root namespace joins the bridge by one more veth, so processes of
//! the test reach every host by address. [`Lab::cut`] takes a host's bridge port down: the
//! host then reaches nobody and nobody reaches it (no reset, no ICMP; packets vanish, as on a
//! pulled cable), until [`Lab::heal`].
//!
//! Names carry the test's PID and a per-run id, so concurrent runs never collide; dropping
//! the [`Lab`] deletes its namespaces (which deletes every veth, the root one included, since
//! a veth pair dies with either end), on failure too. A run killed before its drop leaves
//! namespaces whose PID is gone; the next [`Lab::create`] deletes those.

use std::{
    net::Ipv4Addr,
    process::Command,
    sync::atomic::{AtomicU64, Ordering},
};

use marketprism_core::testing::is_ci;

/// Prefix of every namespace this module creates.
const PREFIX: &str = "mpt-";

/// True when this machine can build a [`Lab`]: the `ip` command exists and we are root.
/// Otherwise panics under `CI=true`, else prints why the test is skipped and returns false.
pub(crate) fn require_netns() -> bool {
    let why = if !ip_works() {
        Some("no working `ip` command (Debian's iproute2)".to_owned())
    } else if !is_root() {
        Some("network namespaces need root (CAP_NET_ADMIN)".to_owned())
    } else {
        None
    };
    let Some(why) = why else {
        return true;
    };
    assert!(
        !is_ci(),
        "CI=true and a required prerequisite is missing: {why}"
    );
    eprintln!("SKIPPED (not CI): {why}");
    false
}

fn ip_works() -> bool {
    Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Runs `ip args...`; the error names the command and carries its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// One host: a namespace with one address on the lab's bridge.
pub(crate) struct Host {
    /// Its namespace.
    pub(crate) ns: String,
    /// Its address.
    pub(crate) ip: Ipv4Addr,
    /// Its bridge port in the hub namespace.
    port: String,
}

/// Hosts in namespaces on one bridge; deleted on drop.
pub(crate) struct Lab {
    hub: String,
    /// The hosts, in creation order.
    pub(crate) hosts: Vec<Host>,
    /// Namespaces created so far (deleted on drop).
    created: Vec<String>,
}

impl Lab {
    /// Builds `n` hosts on one bridge, reachable from the root namespace, or panics saying
    /// which `ip` command failed (what was built is deleted again).
    pub(crate) fn create(n: usize) -> Lab {
        assert!((1..=200).contains(&n), "1..=200 hosts");
        remove_stale();
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let run = format!(
            "{:06x}",
            (nanos() ^ RUNS.fetch_add(1, Ordering::Relaxed) << 20) & 0xff_ffff
        );
        let base = format!("{PREFIX}{}-{run}", std::process::id());
        let net = free_subnet();
        let mut lab = Lab {
            hub: format!("{base}-hub"),
            hosts: (1..=n)
                .map(|i| Host {
                    ns: format!("{base}-n{i}"),
                    ip: Ipv4Addr::new(10, 213, net, i as u8),
                    port: format!("h{i}"),
                })
                .collect(),
            created: Vec::new(),
        };
        if let Err(e) = lab.build(&format!("mpt{run}"), net) {
            panic!("building the network namespaces: {e}");
        }
        lab
    }

    fn build(&mut self, root_if: &str, net: u8) -> Result<(), String> {
        let hub = self.hub.clone();
        ip(&["netns", "add", &hub])?;
        self.created.push(hub.clone());
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        // The root namespace's leg: created here, its peer moved into the hub at once, so
        // deleting the hub deletes it too.
        ip(&[
            "link", "add", root_if, "type", "veth", "peer", "name", "hr", "netns", &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", "hr", "master", "br0", "up"])?;
        let root_addr = format!("10.213.{net}.254/24");
        ip(&["addr", "add", &root_addr, "dev", root_if])?;
        ip(&["link", "set", root_if, "up"])?;
        for i in 0..self.hosts.len() {
            let (ns, port, addr) = {
                let h = &self.hosts[i];
                (h.ns.clone(), h.port.clone(), format!("{}/24", h.ip))
            };
            ip(&["netns", "add", &ns])?;
            self.created.push(ns.clone());
            ip(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &hub, "link", "set", &port, "master", "br0", "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Cuts host `i` off: its bridge port goes down, so it reaches no host and no host (nor
    /// the root namespace) reaches it.
    pub(crate) fn cut(&self, i: usize) {
        ip(&["-n", &self.hub, "link", "set", &self.hosts[i].port, "down"]).expect("cut");
    }

    /// Undoes [`Lab::cut`].
    pub(crate) fn heal(&self, i: usize) {
        ip(&["-n", &self.hub, "link", "set", &self.hosts[i].port, "up"]).expect("heal");
    }

    /// A command that runs `program` inside host `i`'s namespace (`ip netns exec`, which
    /// execs the program, so the child's PID is the program's own).
    pub(crate) fn command(&self, i: usize, program: &std::path::Path) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i].ns]).arg(program);
        c
    }

    /// Runs `curl -sf --max-time 1 <url>` inside host `i`'s namespace (for a view from a host
    /// that is cut off); its body, or `None`.
    pub(crate) async fn curl_in(&self, i: usize, url: &str) -> Option<String> {
        let out = tokio::process::Command::new("ip")
            .args(["netns", "exec", &self.hosts[i].ns])
            .args(["curl", "-sf", "--max-time", "1", url])
            .output()
            .await
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Hosts first, the hub (and with it the root veth) last.
        for ns in self.created.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}

/// A third octet `K` such that no address or route of the root namespace is in 10.213.K.0/24.
fn free_subnet() -> u8 {
    let used = format!(
        "{}{}",
        ip_output(&["-4", "addr"]),
        ip_output(&["-4", "route"])
    );
    let start = (std::process::id() as u64 ^ nanos()) % 250;
    (0..250)
        .map(|k| ((start + k) % 250) as u8 + 1)
        .find(|k| !used.contains(&format!("10.213.{k}.")))
        .expect("a free 10.213.K.0/24")
}

/// Deletes namespaces of earlier runs whose process is gone (a run killed before its drop).
fn remove_stale() {
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing stale namespace {name}");
            let _ = ip(&["netns", "del", name]);
        }
    }
}
