//! `marketprism service start|stop|status|logs NAME|all`: launchers for the six service
//! processes, like the original system's start/stop scripts.
//!
//! State lives under `--state-dir` (default `.marketprism`, env `MARKETPRISM_STATE_DIR`):
//! `pids/NAME.pid` (the process id of a running service) and `logs/NAME.log` (its stdout and
//! stderr, appended). The service binaries are taken from `--bin-dir` (default: the folder of
//! the `marketprism` executable). `start` runs each service detached in its own process
//! group, with the state directory as working directory; `stop` sends SIGTERM to the
//! recorded PID (the service drains and deregisters) and waits up to `--timeout` seconds;
//! `status` prints `NAME running (pid N)` or `NAME stopped` per service.

use std::{
    fmt::Write as _,
    fs::{self, OpenOptions},
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use clap::{Args, ValueEnum};

/// The six services, in start order (storage before the collector that feeds it).
pub const SERVICES: [(&str, u16); 6] = [
    ("message-broker-service", 5),
    ("data-storage-service", 2),
    ("market-data-collector", 1),
    ("scheduler-service", 4),
    ("monitoring-service", 3),
    ("api-gateway", 0),
];

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceAction {
    /// Start the service(s) in the background.
    Start,
    /// Stop the service(s) by PID (SIGTERM).
    Stop,
    /// Say running (with PID) or stopped, per service.
    Status,
    /// Print the end of the service's log.
    Logs,
}

/// `marketprism service`.
#[derive(Debug, Args)]
pub struct ServiceCmdArgs {
    /// start, stop, status or logs.
    pub action: ServiceAction,
    /// A service name (`api-gateway`, `market-data-collector`, `data-storage-service`,
    /// `monitoring-service`, `scheduler-service`, `message-broker-service`) or `all`.
    pub name: String,
    /// PID files and logs go here.
    #[arg(long, env = "MARKETPRISM_STATE_DIR", default_value = ".marketprism")]
    pub state_dir: PathBuf,
    /// Folder of the service binaries (default: beside this executable).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// With `start`: listen on 127.0.0.1:BASE+offset (gateway +0 … broker +5) instead of
    /// each service's configured address.
    #[arg(long)]
    pub base_port: Option<u16>,
    /// With `stop`: seconds to wait for each process to exit.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
    /// With `logs`: how many lines from the end.
    #[arg(long, default_value_t = 100)]
    pub lines: usize,
    /// With `start`: extra flags for the service binary (after `--`).
    #[arg(last = true)]
    pub extra: Vec<String>,
}

type Result<T> = std::result::Result<T, String>;

/// Runs the command, writing what it reports to `out`; `Err` for a failure (unknown name,
/// a service that could not start or stop).
pub fn service(args: &ServiceCmdArgs, out: &mut dyn Write) -> Result<()> {
    let names: Vec<(&str, u16)> = if args.name == "all" {
        let mut v = SERVICES.to_vec();
        if args.action == ServiceAction::Stop {
            v.reverse();
        }
        v
    } else {
        vec![
            *SERVICES
                .iter()
                .find(|(n, _)| *n == args.name)
                .ok_or_else(|| {
                    let known: Vec<&str> = SERVICES.iter().map(|(n, _)| *n).collect();
                    format!(
                        "unknown service `{}` (one of {}, or all)",
                        args.name,
                        known.join(", ")
                    )
                })?,
        ]
    };
    let mut failures = Vec::new();
    for (name, offset) in names {
        let report = match args.action {
            ServiceAction::Start => start(args, name, offset),
            ServiceAction::Stop => stop(args, name),
            ServiceAction::Status => Ok(status_line(args, name)),
            ServiceAction::Logs => logs(args, name),
        };
        match report {
            Ok(text) => writeln!(out, "{text}").map_err(|e| e.to_string())?,
            Err(e) => {
                writeln!(out, "{name}: {e}").map_err(|e| e.to_string())?;
                failures.push(name);
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failures.join(", ")))
    }
}

fn pid_file(args: &ServiceCmdArgs, name: &str) -> PathBuf {
    args.state_dir.join("pids").join(format!("{name}.pid"))
}

fn log_file(args: &ServiceCmdArgs, name: &str) -> PathBuf {
    args.state_dir.join("logs").join(format!("{name}.log"))
}

/// The recorded PID when that process is alive.
fn running_pid(args: &ServiceCmdArgs, name: &str) -> Option<u32> {
    let pid: u32 = fs::read_to_string(pid_file(args, name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// Whether process `pid` exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 is the state; `Z` is a zombie, `X` dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
    }
}

fn status_line(args: &ServiceCmdArgs, name: &str) -> String {
    match running_pid(args, name) {
        Some(pid) => format!("{name} running (pid {pid})"),
        None => format!("{name} stopped"),
    }
}

fn binary(args: &ServiceCmdArgs, name: &str) -> Result<PathBuf> {
    let dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("locating this executable: {e}"))?
            .parent()
            .map(Path::to_path_buf)
            .ok_or("this executable has no folder")?,
    };
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("no binary {} (set --bin-dir)", path.display()))
    }
}

fn start(args: &ServiceCmdArgs, name: &str, offset: u16) -> Result<String> {
    if let Some(pid) = running_pid(args, name) {
        return Ok(format!("{name} already running (pid {pid})"));
    }
    let bin = binary(args, name)?;
    for sub in ["pids", "logs"] {
        fs::create_dir_all(args.state_dir.join(sub))
            .map_err(|e| format!("creating {}: {e}", args.state_dir.join(sub).display()))?;
    }
    let log_path = log_file(args, name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("opening {}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&bin);
    if let Some(base) = args.base_port {
        let port = base
            .checked_add(offset)
            .ok_or("--base-port too high (the broker needs +5)")?;
        cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
    }
    let child = cmd
        .args(&args.extra)
        .current_dir(&args.state_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let pid = child.id();
    fs::write(pid_file(args, name), format!("{pid}\n")).map_err(|e| e.to_string())?;
    // A service that fails at once (bad config, port taken) is reported, not left as a
    // stale PID file.
    std::thread::sleep(Duration::from_millis(300));
    if !alive(pid) {
        let _ = fs::remove_file(pid_file(args, name));
        return Err(format!("exited at start; see {}", log_path.display()));
    }
    Ok(format!(
        "{name} started (pid {pid}), log {}",
        log_path.display()
    ))
}

fn stop(args: &ServiceCmdArgs, name: &str) -> Result<String> {
    let Some(pid) = running_pid(args, name) else {
        let _ = fs::remove_file(pid_file(args, name));
        return Ok(format!("{name} stopped (was not running)"));
    };
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if !sent.success() {
        return Err(format!("could not signal pid {pid}"));
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    while alive(pid) {
        if Instant::now() > deadline {
            return Err(format!("pid {pid} still running after {} s", args.timeout));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = fs::remove_file(pid_file(args, name));
    Ok(format!("{name} stopped (pid {pid})"))
}

fn logs(args: &ServiceCmdArgs, name: &str) -> Result<String> {
    let path = log_file(args, name);
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(args.lines);
    let mut s = format!("==> {} <==", path.display());
    for l in &lines[from..] {
        let _ = write!(s, "\n{l}");
    }
    Ok(s)
}
