//! The config loader (`ConfigLoader`) as the services use it: defaults < file (TOML or YAML)
//! < environment < `--set`, loading the gateway's config and validating it.
//!
//! Input lines `ENV NAME=value` become environment variables, `SET key=value` become
//! `--set` flags, `YAML` as the first line makes the file YAML; every other line is the file.
#![no_main]

use std::{io::Write, path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use marketprism_core::config::ConfigLoader;
use marketprism_gateway::config::GatewayConfig;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d =
            std::env::temp_dir().join(format!("marketprism-fuzz-config-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (mut env, mut sets, mut file) = (Vec::new(), Vec::new(), String::new());
    let yaml = text.starts_with("YAML\n");
    for line in text.lines().skip(usize::from(yaml)) {
        if let Some(kv) = line.strip_prefix("ENV ") {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            env.push((k.to_owned(), v.to_owned()));
        } else if let Some(kv) = line.strip_prefix("SET ") {
            sets.push(kv.to_owned());
        } else {
            file.push_str(line);
            file.push('\n');
        }
    }
    let path = dir().join(if yaml { "gateway.yaml" } else { "gateway.toml" });
    let Ok(mut f) = std::fs::File::create(&path) else {
        return;
    };
    if f.write_all(file.as_bytes()).is_err() {
        return;
    }
    drop(f);
    let loaded = ConfigLoader::new(&GatewayConfig::default())
        .file(&path)
        .env(env)
        .set_all(sets)
        .load::<GatewayConfig>();
    if let Ok(config) = loaded {
        let _ = config.validate();
        let _ = config.service_for("/api/v1/storage/status");
    }
});
