//! Tests of the layered loader.

use super::*;
use serde::Deserialize;
use std::io::Write;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Cfg {
    service: Svc,
    nats: Nats,
}
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Svc {
    name: String,
    port: u16,
}
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Nats {
    url: String,
}

fn defaults() -> Cfg {
    Cfg {
        service: Svc {
            name: "svc".into(),
            port: 1,
        },
        nats: Nats {
            url: "nats://127.0.0.1:4222".into(),
        },
    }
}

fn file(ext: &str, body: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(ext)
        .tempfile()
        .expect("tempfile");
    f.write_all(body.as_bytes()).expect("write");
    f
}

#[test]
fn precedence_defaults_file_env_flags() {
    let f = file(".toml", "[service]\nname = \"from-file\"\nport = 2\n");
    let env = [
        ("MARKETPRISM_SERVICE__PORT", "3"),
        ("NATS_URL", "nats://10.0.0.1:4222"),
        ("UNRELATED", "x"),
    ];
    let c: Cfg = ConfigLoader::new(&defaults())
        .file(f.path())
        .env(env)
        .set("service.port", "4")
        .load()
        .expect("valid");
    assert_eq!(c.service.name, "from-file");
    assert_eq!(c.service.port, 4);
    assert_eq!(c.nats.url, "nats://10.0.0.1:4222");
}

#[test]
fn yaml_file() {
    let f = file(".yaml", "service:\n  port: 8082\n");
    let c: Cfg = ConfigLoader::new(&defaults())
        .file(f.path())
        .load()
        .expect("valid");
    assert_eq!(c.service.port, 8082);
    assert_eq!(c.service.name, "svc");
}

#[test]
fn unknown_key_in_file_names_key_and_file() {
    let f = file(".toml", "[service]\nnmae = \"typo\"\n");
    let err = ConfigLoader::new(&defaults())
        .file(f.path())
        .load::<Cfg>()
        .expect_err("unknown key");
    let msg = err.to_string();
    assert!(msg.contains("service.nmae"), "{msg}");
    let fname = f.path().file_name().and_then(|n| n.to_str()).expect("name");
    assert!(msg.contains(fname), "{msg}");
}

#[test]
fn bad_value_in_file_names_key_and_file() {
    let f = file(".toml", "[service]\nport = \"high\"\n");
    let msg = ConfigLoader::new(&defaults())
        .file(f.path())
        .load::<Cfg>()
        .expect_err("bad value")
        .to_string();
    assert!(msg.contains("service.port"), "{msg}");
    let fname = f.path().file_name().and_then(|n| n.to_str()).expect("name");
    assert!(msg.contains(fname), "{msg}");
}

#[test]
fn unknown_env_key_names_variable() {
    let msg = ConfigLoader::new(&defaults())
        .env([("MARKETPRISM_SERVICE__PROT", "1")])
        .load::<Cfg>()
        .expect_err("unknown")
        .to_string();
    assert!(msg.contains("service.prot"), "{msg}");
    assert!(msg.contains("MARKETPRISM_SERVICE__PROT"), "{msg}");
}

#[test]
fn prefixed_variables_outside_the_targets_keys_are_not_config() {
    let c: Cfg = ConfigLoader::new(&defaults())
        .env([
            ("MARKETPRISM_TEST_REDIS_URL", "redis://x"),
            ("MARKETPRISM_CORPUS_DIR", "/x"),
        ])
        .load()
        .expect("not configuration");
    assert_eq!(c, defaults());
}

#[test]
fn legacy_names_only_for_present_sections() {
    // REDIS_URL has no `redis` section in Cfg: ignored, not an error.
    let c: Cfg = ConfigLoader::new(&defaults())
        .env([("REDIS_URL", "redis://x"), ("SERVICE_NAME", "legacy")])
        .load()
        .expect("valid");
    assert_eq!(c.service.name, "legacy");
}

#[test]
fn missing_file_and_bad_flag_are_errors() {
    assert!(
        ConfigLoader::new(&defaults())
            .file("/nonexistent/marketprism.toml")
            .load::<Cfg>()
            .is_err()
    );
    let msg = ConfigLoader::new(&defaults())
        .set_all(["service.port"])
        .load::<Cfg>()
        .expect_err("no =")
        .to_string();
    assert!(msg.contains("KEY=VALUE"), "{msg}");
}

#[test]
fn deeply_nested_yaml_file_is_refused_before_parsing() {
    // 100 000 nested `[` took the YAML parser about 90 s (debug build) before its own
    // recursion limit refused the file; the loader refuses it at once, naming the file.
    let body = format!("service: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let f = file(".yaml", &body);
    let started = std::time::Instant::now();
    let msg = ConfigLoader::new(&defaults())
        .file(f.path())
        .load::<Cfg>()
        .expect_err("too deep")
        .to_string();
    assert!(msg.contains("nested 100000 deep"), "{msg}");
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // Moderate nesting still parses (and fails only on what it means).
    let ok = file(".yaml", "service:\n  name: \"[[x]]\"\n");
    let c: Cfg = ConfigLoader::new(&defaults())
        .file(ok.path())
        .load()
        .expect("valid");
    assert_eq!(c.service.name, "[[x]]");
}

#[test]
fn oversized_file_is_refused() {
    let body = format!("# {}\n", "x".repeat((1 << 20) + 1));
    let f = file(".toml", &body);
    let msg = ConfigLoader::new(&defaults())
        .file(f.path())
        .load::<Cfg>()
        .expect_err("too large")
        .to_string();
    assert!(msg.contains("at most 1048576 bytes"), "{msg}");
}
