//! Headless Chromium for the status page tests: find the browser (fail under CI when it is
//! missing), dump a page's DOM after its JS ran, take a screenshot, and read the dumped DOM.
// Shared by the status page tests; each uses a part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use marketprism_core::testing::is_ci;

/// Debian installs the browser here; `PATH` is searched first.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium gets this long to load, run and dump the page before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Chromium's path, or `None` (with a note) when it is not installed and not under CI.
pub(crate) fn require_chromium() -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = path_dirs
        .into_iter()
        .map(|d| d.join("chromium"))
        .chain([PathBuf::from(DEBIAN_CHROMIUM)])
        .find(|p| p.is_file());
    if found.is_none() {
        let msg = "chromium not found on PATH or at /usr/bin/chromium; install it with \
                   `scripts/services.sh start` as root (apt package `chromium`)";
        assert!(!is_ci(), "CI=true and the browser is missing: {msg}");
        eprintln!("SKIPPED (not CI): {msg}");
    }
    found
}

/// Runs headless Chromium on `url` with `extra` flags, lets the page's JS run, and returns
/// its stdout.
async fn run_chromium(chromium: &Path, url: &str, extra: &[String]) -> Vec<u8> {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = tokio::process::Command::new(chromium);
    // The background-networking/sync/component flags stop Chromium from calling home: on a
    // host without internet those calls hang on refused connections and the dump never comes.
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=10000",
    ])
    .args(extra)
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    // Own process group, so a timeout can kill the renderer/zygote children too.
    .process_group(0);
    let child = cmd.spawn().expect("spawn chromium");
    let pid = child.id();
    match tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => {
            let out = out.expect("chromium output");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "chromium: {}\n{stderr}", out.status);
            out.stdout
        }
        Err(_) => {
            if let Some(pid) = pid {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            panic!("chromium did not finish {url} within {BROWSER_TIMEOUT:?}; killed");
        }
    }
}

/// Loads `url` in headless Chromium, lets its JS run, and returns the serialized DOM.
pub(crate) async fn dump_dom(chromium: &Path, url: &str) -> String {
    let out = run_chromium(chromium, url, &["--dump-dom".to_owned()]).await;
    String::from_utf8(out).expect("utf-8 DOM")
}

/// Loads `url`, lets its JS run, and saves a `width`×`height` PNG screenshot at `png`.
pub(crate) async fn screenshot(chromium: &Path, url: &str, png: &Path, width: u32, height: u32) {
    run_chromium(
        chromium,
        url,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".to_owned(),
        ],
    )
    .await;
}

/// `(class, text)` of the element with `id`.
pub(crate) fn element(dom: &str, id: &str) -> (String, String) {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in DOM:\n{dom}"));
    let open_start = dom[..at].rfind('<').expect("tag start");
    let open_end = at + dom[at..].find('>').expect("tag end");
    let text_end = open_end + dom[open_end..].find('<').expect("closing tag");
    (
        class_of(&dom[open_start..open_end]),
        unescape(&dom[open_end + 1..text_end]),
    )
}

/// The `<tbody>` rows of table `id`, each a list of `(class, text)` cells.
pub(crate) fn table_rows(dom: &str, id: &str) -> Vec<Vec<(String, String)>> {
    let table = &dom[dom
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table #{id}"))..];
    let body =
        &table[table.find("<tbody>").expect("tbody")..table.find("</tbody>").expect("/tbody")];
    body.split("<tr")
        .skip(1)
        .map(|tr| {
            tr.split("<td")
                .skip(1)
                .map(|td| {
                    let open_end = td.find('>').expect("td tag end");
                    let close = td.find("</td>").expect("</td>");
                    (
                        class_of(&td[..open_end]),
                        unescape(&td[open_end + 1..close]),
                    )
                })
                .collect()
        })
        .collect()
}

/// The value of attribute `name` in the start tag `tag`.
pub(crate) fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    tag.find(&needle).map(|at| {
        let rest = &tag[at + needle.len()..];
        unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
    })
}

pub(crate) fn class_of(tag: &str) -> String {
    attr(tag, "class").unwrap_or_default()
}

pub(crate) fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
