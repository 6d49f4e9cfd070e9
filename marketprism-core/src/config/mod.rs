//! Layered configuration: defaults < file (TOML or YAML) < environment < command-line flags.
//!
//! Every layer is checked against the target type: an unknown key or a bad value is an error
//! that names the key and where it came from (the file, the environment variable or the flag).
//! Target types should use `#[serde(deny_unknown_fields)]` so typos are caught.
//!
//! Environment variables (passed in as a map, so tests never touch the process environment):
//!
//! - `MARKETPRISM_<SECTION>__<KEY>`: `__` separates nesting levels, names are lowercased:
//!   `MARKETPRISM_SERVICE__LISTEN=0.0.0.0:8082` sets `service.listen`. Only variables whose
//!   first segment is a top-level key of the target are read (so `MARKETPRISM_TEST_*` of the
//!   test scripts, or another service's sections, are not errors); inside a known section an
//!   unknown key is an error naming the variable.
//! - The original system's names, applied only when the target has the section they belong to:
//!
//! | variable | key |
//! |---|---|
//! | `SERVICE_NAME` | `service.name` |
//! | `NATS_URL` | `nats.url` |
//! | `CLICKHOUSE_URL` | `clickhouse.url` |
//! | `CLICKHOUSE_HOST` | `clickhouse.host` |
//! | `CLICKHOUSE_PORT` | `clickhouse.port` |
//! | `REDIS_URL` | `redis.url` |
//! | `COLLECTOR_URL` | `services.collector_url` |
//! | `STORAGE_URL` | `services.storage_url` |
//! | `DISCOVERY_URL`, or the original's `CONSUL_URL` (+ `CONSUL_DATACENTER`) | `discovery.url` ([`discovery_url_from_env`]) |
//!
//! ```
//! use marketprism_core::config::ConfigLoader;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { service: Service }
//! #[derive(Debug, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Service { name: String, port: u16 }
//!
//! let defaults = Config { service: Service { name: "storage".into(), port: 8082 } };
//! let env = [("MARKETPRISM_SERVICE__PORT".to_string(), "9000".to_string())];
//! let config: Config = ConfigLoader::new(&defaults)
//!     .env(env)
//!     .set("service.name", "storage-2")
//!     .load()?;
//! assert_eq!(config.service.port, 9000);
//! assert_eq!(config.service.name, "storage-2");
//!
//! let bad = [("MARKETPRISM_SERVICE__PORT".to_string(), "ninety".to_string())];
//! let err = ConfigLoader::new(&defaults).env(bad).load::<Config>().unwrap_err();
//! assert!(err.to_string().contains("service.port"));
//! assert!(err.to_string().contains("MARKETPRISM_SERVICE__PORT"));
//! # Ok::<_, marketprism_core::Error>(())
//! ```

use std::path::Path;

use figment::{
    Figment, Metadata, Profile, Provider,
    providers::{Format, Serialized, Toml, Yaml},
    value::{Dict, Map, Value},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::Error;

mod legacy;
mod raw;
mod validate;

pub use legacy::discovery_url_from_env;

pub use validate::{Problems, Validate};

/// Prefix of the platform's own environment variables.
pub const ENV_PREFIX: &str = "MARKETPRISM_";

/// The original system's environment variable names and the keys they set.
pub const LEGACY_ENV: &[(&str, &str)] = &[
    ("SERVICE_NAME", "service.name"),
    ("NATS_URL", "nats.url"),
    ("CLICKHOUSE_URL", "clickhouse.url"),
    ("CLICKHOUSE_HOST", "clickhouse.host"),
    ("CLICKHOUSE_PORT", "clickhouse.port"),
    ("REDIS_URL", "redis.url"),
    ("COLLECTOR_URL", "services.collector_url"),
    ("STORAGE_URL", "services.storage_url"),
];

/// Deepest `[`/`{` nesting parsed from an environment or flag value (deeper is text).
const MAX_NESTING: usize = 16;

/// Largest configuration file read (configuration files are a few KiB; anything this big is
/// a mistake or an attack, and the YAML parser's time grows faster than linearly with nesting).
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Deepest `[`/`{` nesting accepted in a YAML configuration file: the YAML parser takes
/// minutes on a file of deeply nested flow collections before its own recursion limit refuses
/// it (a 200 KB file of 100 000 `[`), so the loader refuses it first.
const MAX_FILE_NESTING: usize = 64;

/// The deepest bracket nesting of `raw` (`[` and `{`; quotes are not considered, which only
/// makes a value count as deeper than it is).
fn nesting(raw: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in raw.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Refuses a configuration file that is too large, or YAML nested too deep, before parsing.
fn check_file(path: &Path, ext: Option<&str>) -> Result<(), String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "{len} bytes; at most {MAX_FILE_BYTES} bytes are read"
        ));
    }
    if matches!(ext, Some("yaml" | "yml")) {
        let text = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        let depth = nesting(&String::from_utf8_lossy(&text));
        if depth > MAX_FILE_NESTING {
            return Err(format!(
                "`[`/`{{` nested {depth} deep; at most {MAX_FILE_NESTING} levels are accepted"
            ));
        }
    }
    Ok(())
}

/// One key set by one named origin (an environment variable or a flag).
struct KeyValue {
    origin: String,
    key: String,
    value: Value,
}

impl Provider for KeyValue {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        match figment::util::nest(&self.key, self.value.clone()) {
            Value::Dict(_, dict) => Ok(Profile::Default.collect(dict)),
            _ => Err(figment::Error::from(format!(
                "{}: empty configuration key",
                self.origin
            ))),
        }
    }
}

/// Builds a configuration from layers; later layers win.
pub struct ConfigLoader {
    figment: Figment,
    sections: Vec<String>,
    error: Option<Error>,
    /// Layers set from text, re-applied as text when typed values are rejected (see `raw`).
    raw: Vec<raw::RawLayer>,
}

impl ConfigLoader {
    /// Starts from `defaults`, which also tells which sections the target has.
    pub fn new<T: Serialize>(defaults: &T) -> Self {
        let figment = Figment::from(Serialized::defaults(defaults));
        let sections = figment
            .data()
            .ok()
            .and_then(|mut m| m.remove(&Profile::Default))
            .map(|d| d.into_keys().collect())
            .unwrap_or_default();
        ConfigLoader {
            figment,
            sections,
            error: None,
            raw: Vec::new(),
        }
    }

    /// Adds a TOML (`.toml`) or YAML (`.yaml`, `.yml`) file. A missing file or another
    /// extension is an error reported by [`ConfigLoader::load`].
    ///
    /// ```no_run
    /// # use marketprism_core::config::ConfigLoader;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct C { a: u8 }
    /// let c: C = ConfigLoader::new(&C { a: 1 }).file("config/storage.toml").load()?;
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        if self.error.is_some() {
            return self;
        }
        if !path.is_file() {
            self.error = Some(Error::Config {
                message: format!("configuration file {} not found", path.display()),
                source: Box::new(figment::Error::from("file not found".to_string())),
            });
            return self;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if let Err(message) = check_file(path, ext.as_deref()) {
            self.error = Some(Error::Config {
                message: format!("configuration file {}: {message}", path.display()),
                source: Box::new(figment::Error::from(message)),
            });
            return self;
        }
        self.figment = match ext.as_deref() {
            Some("toml") => self.figment.merge(Toml::file_exact(path)),
            Some("yaml" | "yml") => self.figment.merge(Yaml::file_exact(path)),
            _ => {
                self.error = Some(Error::Config {
                    message: format!(
                        "configuration file {}: unsupported extension (use .toml, .yaml or .yml)",
                        path.display()
                    ),
                    source: Box::new(figment::Error::from("unsupported format".to_string())),
                });
                return self;
            }
        };
        self
    }

    /// Adds environment variables: `MARKETPRISM_*` always, the original system's names
    /// ([`LEGACY_ENV`]) when the target has their section. Other variables are ignored.
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        // Deterministic precedence regardless of the map's iteration order.
        vars.sort();
        for (name, value) in &vars {
            if let Some((_, key)) = LEGACY_ENV.iter().find(|(n, _)| n == name) {
                let section = key.split('.').next().unwrap_or_default();
                if self.sections.iter().any(|s| s == section) {
                    self = self.layer(format!("environment variable `{name}`"), key, value);
                }
            }
        }
        if self.sections.iter().any(|s| s == "discovery")
            && let Some((name, url)) = discovery_url_from_env(&vars)
        {
            self = self.layer(
                format!("environment variable `{name}`"),
                "discovery.url",
                &url,
            );
        }
        for (name, value) in &vars {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                let key = rest.to_ascii_lowercase().replace("__", ".");
                // Only variables addressing one of the target's top-level keys are
                // configuration; others with the prefix belong to other tools (tests, scripts)
                // or to other services sharing the environment.
                let top = key.split('.').next().unwrap_or_default();
                if self.sections.iter().any(|s| s == top) {
                    self = self.layer(format!("environment variable `{name}`"), &key, value);
                }
            }
        }
        self
    }

    /// Sets one key from a command-line flag (`--set service.port=9000`). The value is parsed
    /// like an environment value (numbers, booleans, arrays `[a, b]`, strings).
    ///
    /// ```
    /// # use marketprism_core::config::ConfigLoader;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct C { a: u8 }
    /// let c: C = ConfigLoader::new(&C { a: 1 }).set("a", "7").load()?;
    /// assert_eq!(c.a, 7);
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    pub fn set(self, key: &str, value: &str) -> Self {
        self.layer(
            format!("command-line flag `--set {key}={value}`"),
            key,
            value,
        )
    }

    /// Parses and applies `key=value` pairs from `--set` flags; a pair without `=` is an error.
    ///
    /// ```
    /// # use marketprism_core::config::ConfigLoader;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct C { a: u8 }
    /// let c: C = ConfigLoader::new(&C { a: 1 }).set_all(["a=3"]).load()?;
    /// assert_eq!(c.a, 3);
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    pub fn set_all<I, S>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for pair in pairs {
            let pair = pair.as_ref();
            match pair.split_once('=') {
                Some((k, v)) => self = self.set(k.trim(), v),
                None if self.error.is_none() => {
                    self.error = Some(Error::Config {
                        message: format!("command-line flag `--set {pair}`: expected KEY=VALUE"),
                        source: Box::new(figment::Error::from("missing `=`".to_string())),
                    });
                }
                None => {}
            }
        }
        self
    }

    /// Merges typed overrides (e.g. parsed flags whose `None`s are skipped by serde).
    pub fn merge<S: Serialize>(mut self, overrides: &S) -> Self {
        self.figment = self.figment.merge(Serialized::defaults(overrides));
        self
    }

    fn layer(mut self, origin: String, key: &str, raw: &str) -> Self {
        // figment's value parser (0.10.19) is not safe on every text (found by the
        // config_loader fuzz target): it slices a quoted string by char index, so a backslash
        // after a multi-byte character panics, and it recurses once per `[`/`{`, so a deeply
        // nested value overflows the stack. Such values are taken as their text instead.
        let value: Value = if (!raw.is_ascii() && raw.contains('\\')) || nesting(raw) > MAX_NESTING
        {
            Value::from(raw.to_owned())
        } else {
            raw.parse()
                .unwrap_or_else(|e: std::convert::Infallible| match e {})
        };
        self.figment = self.figment.merge(KeyValue {
            origin: origin.clone(),
            key: key.to_owned(),
            value,
        });
        self.raw.push(raw::RawLayer {
            origin,
            key: key.to_owned(),
            raw: raw.to_owned(),
        });
        self
    }

    /// Extracts the configuration.
    pub fn load<T: DeserializeOwned>(self) -> Result<T, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let first = match self.figment.extract::<T>() {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        // A string that looks like a number (`MARKETPRISM_..._PASSWORD=123456`): retry with
        // the rejected text layers applied as text, one at a time; report the first error.
        let (mut figment, mut done) = (self.figment.clone(), Vec::new());
        let mut last = first.clone();
        while let Some(next) = raw::retry_as_text(&figment, &self.raw, &last, &mut done) {
            figment = next;
            match figment.extract::<T>() {
                Ok(config) => return Ok(config),
                Err(e) => last = e,
            }
        }
        let message = describe(&self.figment, &first);
        Err(Error::Config {
            message,
            source: Box::new(first),
        })
    }
}

/// Where `key` was set: the layer that names it, else `fallback` (the error's own metadata),
/// else the layer that set its closest parent.
pub(crate) fn origin(figment: &Figment, key: &str, fallback: Option<&Metadata>) -> String {
    let parent = || {
        let mut k = key;
        while let Some((p, _)) = k.rsplit_once('.') {
            if let Some(m) = figment.find_metadata(p) {
                return Some(m);
            }
            k = p;
        }
        None
    };
    figment
        .find_metadata(key)
        .or(fallback)
        .or_else(parent)
        .map(|m| match &m.source {
            Some(src) => format!("{} {src}", m.name),
            None => m.name.to_string(),
        })
        .unwrap_or_else(|| "defaults".into())
}

/// One line per error: what is wrong, the full key, and the origin that set it.
fn describe(figment: &Figment, error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let mut key = e.path.join(".");
            if let figment::error::Kind::UnknownField(field, _) = &e.kind {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(field);
            }
            let origin = origin(figment, &key, e.metadata.as_ref());
            format!("{} for key `{key}` (from {origin})", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
