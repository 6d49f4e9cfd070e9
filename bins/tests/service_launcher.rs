//! Issue 16 item 6: `marketprism service start|status|logs|stop` on real service processes
//! (embedded mode, no servers): PID files and logs under the state directory, status per
//! service with its PID, stop by PID.

use std::{path::Path, process::Command, time::Duration};

fn marketprism(state: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .arg("service")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "info")
        .output()
        .expect("run marketprism service");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn free_port_block() -> u16 {
    for base in (21_000..60_000).step_by(97) {
        if (0..6).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free ports");
}

#[test]
fn start_status_logs_stop_two_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path();
    let base = free_port_block().to_string();
    let names = ["monitoring-service", "scheduler-service"];
    for name in names {
        let (ok, out) = marketprism(state, &["start", name, "--base-port", &base]);
        assert!(ok && out.contains("started (pid"), "{out}");
    }
    let (ok, out) = marketprism(state, &["status", "all"]);
    assert!(ok, "{out}");
    for name in names {
        assert!(out.contains(&format!("{name} running (pid")), "{out}");
        let pid = std::fs::read_to_string(state.join("pids").join(format!("{name}.pid")))
            .expect("pid file");
        assert!(out.contains(&format!("(pid {})", pid.trim())), "{out}");
    }
    assert!(out.contains("api-gateway stopped"), "{out}");
    // Starting again is harmless.
    let (ok, out) = marketprism(state, &["start", "monitoring-service"]);
    assert!(ok && out.contains("already running"), "{out}");

    // The monitoring service answers on base+3, and its log says it is serving.
    let port: u16 = base.parse::<u16>().expect("port") + 3;
    let mut logs = String::new();
    for _ in 0..50 {
        let (_, out) = marketprism(state, &["logs", "monitoring-service"]);
        logs = out;
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && logs.lines().count() > 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(logs.contains("monitoring-service.log"), "{logs}");
    assert!(
        logs.lines().count() > 1,
        "the service logged nothing: {logs}"
    );

    let (ok, out) = marketprism(state, &["stop", "all"]);
    assert!(ok, "{out}");
    for name in names {
        assert!(out.contains(&format!("{name} stopped (pid")), "{out}");
        assert!(!state.join("pids").join(format!("{name}.pid")).exists());
    }
    let (_, out) = marketprism(state, &["status", "all"]);
    assert!(!out.contains("running"), "{out}");
    let (ok, out) = marketprism(state, &["start", "nope"]);
    assert!(!ok && out.contains("unknown service `nope`"), "{out}");
}
