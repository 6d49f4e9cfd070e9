//! Checks of a loaded configuration's values beyond their types.

use serde::de::DeserializeOwned;

use super::{ConfigLoader, origin};
use crate::Error;

/// A check of a loaded configuration's values beyond their types (a URL that parses, a cron
/// expression that fires, a PEM key that loads), so a bad value fails before anything serves.
///
/// Report each problem with the full key it belongs to; [`ConfigLoader::load_validated`]
/// adds where that key came from (file, environment variable, flag or defaults).
///
/// ```
/// use marketprism_core::config::{ConfigLoader, Problems, Validate};
/// # use serde::{Deserialize, Serialize};
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Config { url: String }
/// impl Validate for Config {
///     fn validate(&self, problems: &mut Problems) {
///         if !self.url.starts_with("http://") {
///             problems.push("url", format!("`{}` is not an http:// URL", self.url));
///         }
///     }
/// }
/// let err = ConfigLoader::new(&Config { url: "http://x".into() })
///     .set("url", "notaurl")
///     .load_validated::<Config>()
///     .unwrap_err();
/// assert!(err.to_string().contains("key `url` (from command-line flag `--set url=notaurl`)"));
/// ```
pub trait Validate {
    /// Adds every problem found to `problems`.
    fn validate(&self, problems: &mut Problems);
}

/// Problems found by [`Validate::validate`]: (full key, what is wrong).
#[derive(Debug, Default)]
pub struct Problems {
    found: Vec<(String, String)>,
}

impl Problems {
    /// Records that `key` (full dotted path, e.g. `clickhouse.url`) is invalid.
    pub fn push(&mut self, key: impl Into<String>, message: impl std::fmt::Display) {
        self.found.push((key.into(), message.to_string()));
    }

    /// Records the problem of `result`, if any, against `key`.
    pub fn check<T, E: std::fmt::Display>(&mut self, key: &str, result: Result<T, E>) {
        if let Err(e) = result {
            self.push(key, e);
        }
    }

    /// Runs `inner`'s checks with every key prefixed by `prefix.` (for nested sections).
    pub fn nested(&mut self, prefix: &str, inner: &impl Validate) {
        let mut sub = Problems::default();
        inner.validate(&mut sub);
        self.found.extend(
            sub.found
                .into_iter()
                .map(|(k, m)| (format!("{prefix}.{k}"), m)),
        );
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The problems as (key, message) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.found.iter().map(|(k, m)| (k.as_str(), m.as_str()))
    }
}

impl ConfigLoader {
    /// Extracts the configuration, then runs its [`Validate`] checks; every problem is
    /// reported in one error, each naming its key and the origin that set it.
    pub fn load_validated<T: DeserializeOwned + Validate>(self) -> Result<T, Error> {
        let figment = self.figment.clone();
        let config: T = self.load()?;
        let mut problems = Problems::default();
        config.validate(&mut problems);
        if problems.is_empty() {
            return Ok(config);
        }
        let message = problems
            .iter()
            .map(|(key, message)| {
                format!(
                    "{message} for key `{key}` (from {})",
                    origin(&figment, key, None)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::Config {
            source: Box::new(figment::Error::from(message.clone())),
            message,
        })
    }
}
