//! Values from the environment and `--set` are typed by their text (`9000` is a number,
//! `true` a boolean), which is right for ports and flags but wrong for a string that happens
//! to look like a number: a digit-only password or token (`123456`, `007`) would fail as
//! "invalid type: integer, expected a string", or lose its leading zeros. When the target
//! type rejects such a typed value, the loader applies the variable's exact text instead
//! (a string, or a list of strings for `[a, b]`) and extracts again.

use figment::{Figment, error::Kind, value::Value};

use super::KeyValue;

/// One key set from text (an environment variable or a flag), kept for a retry as text.
pub(super) struct RawLayer {
    pub(super) origin: String,
    pub(super) key: String,
    pub(super) raw: String,
}

/// The exact text of `raw`: a list of strings for `[a, b]`, else the string itself.
fn as_text(raw: &str) -> Value {
    let trimmed = raw.trim();
    match trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        Some(inner) if inner.trim().is_empty() => Value::from(Vec::<String>::new()),
        Some(inner) => Value::from(
            inner
                .split(',')
                .map(|item| {
                    let item = item.trim();
                    item.strip_prefix('"')
                        .and_then(|i| i.strip_suffix('"'))
                        .unwrap_or(item)
                        .to_owned()
                })
                .collect::<Vec<String>>(),
        ),
        None => Value::from(raw.to_owned()),
    }
}

/// Whether the error says a scalar typed from text was not what the target wanted.
fn typed_scalar_rejected(kind: &Kind) -> bool {
    use figment::error::Actual;
    matches!(
        kind,
        Kind::InvalidType(
            Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) | Actual::Bool(_),
            _
        ) | Kind::Message(_)
    )
}

/// `figment` with the rejected text layer re-applied as text, if the error is one this can
/// fix and that layer has not been re-applied yet (`done` holds the indexes already used).
pub(super) fn retry_as_text(
    figment: &Figment,
    layers: &[RawLayer],
    error: &figment::Error,
    done: &mut Vec<usize>,
) -> Option<Figment> {
    for e in error.clone() {
        if !typed_scalar_rejected(&e.kind) {
            continue;
        }
        let origin = e.metadata.as_ref().map(|m| m.name.as_ref())?;
        let path = e.path.join(".");
        let found = layers.iter().enumerate().rev().find(|(i, l)| {
            !done.contains(i)
                && l.origin == origin
                && (path == l.key || path.starts_with(&format!("{}.", l.key)))
        });
        if let Some((i, layer)) = found {
            done.push(i);
            return Some(figment.clone().merge(KeyValue {
                origin: layer.origin.clone(),
                key: layer.key.clone(),
                value: as_text(&layer.raw),
            }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigLoader;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Db {
        password: Option<String>,
        user: String,
        tokens: Vec<String>,
        port: u16,
        tls: bool,
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Cfg {
        db: Db,
    }

    fn load(env: &[(&str, &str)], sets: &[&str]) -> Result<Cfg, crate::Error> {
        ConfigLoader::new(&Cfg::default())
            .env(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .set_all(sets.iter().copied())
            .load()
    }

    /// Issue 13: a digit-only secret from the environment failed ("invalid type: integer")
    /// or lost its leading zeros.
    #[test]
    fn digit_only_strings_from_env_and_flags_stay_text() {
        let c = load(
            &[
                ("MARKETPRISM_DB__PASSWORD", "0123456"),
                ("MARKETPRISM_DB__USER", "42"),
                ("MARKETPRISM_DB__TOKENS", "[007, 8]"),
                ("MARKETPRISM_DB__PORT", "9000"),
            ],
            &["db.tls=true"],
        )
        .expect("loads");
        assert_eq!(c.db.password.as_deref(), Some("0123456"));
        assert_eq!(c.db.user, "42");
        assert_eq!(c.db.tokens, ["007", "8"]);
        assert_eq!((c.db.port, c.db.tls), (9000, true));
        let c = load(&[], &["db.user=true", "db.password=1.50"]).expect("loads");
        assert_eq!(c.db.user, "true");
        assert_eq!(c.db.password.as_deref(), Some("1.50"));
    }

    /// Fuzz finding (`config_loader`): figment's value parser panicked on a quoted value with
    /// a backslash after a multi-byte character; any service would crash at start.
    #[test]
    fn quoted_non_ascii_with_backslashes_does_not_panic() {
        let c = load(
            &[("MARKETPRISM_DB__USER", "[\"ѧ\\\\4\"]")],
            &["db.password=\"é\\n\""],
        )
        .expect("loads as text");
        assert_eq!(c.db.user, "[\"ѧ\\\\4\"]");
        assert_eq!(c.db.password.as_deref(), Some("\"é\\n\""));
    }

    /// Fuzz finding (`config_loader`): a deeply nested flag or environment value overflowed
    /// the stack in figment's recursive value parser (a crash, not an error).
    #[test]
    fn deeply_nested_values_are_errors_not_crashes() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = load(&[], &[&format!("db.tokens={deep}")])
            .expect_err("not a list of strings")
            .to_string();
        assert!(err.contains("db.tokens"), "{err}");
        let c = load(&[("MARKETPRISM_DB__TOKENS", "[[a]]")], &[]);
        assert!(
            c.is_err(),
            "a shallow nested list still parses as a list (and is refused)"
        );
    }

    #[test]
    fn a_wrong_type_still_fails_naming_the_variable() {
        let err = load(&[("MARKETPRISM_DB__PORT", "ninety")], &[])
            .expect_err("a port must be a number")
            .to_string();
        assert!(
            err.contains("db.port") && err.contains("MARKETPRISM_DB__PORT"),
            "{err}"
        );
        let err = load(&[], &["db.tls=7"])
            .expect_err("tls is a bool")
            .to_string();
        assert!(err.contains("db.tls"), "{err}");
    }

    #[test]
    fn text_of_scalars_and_lists() {
        assert_eq!(as_text("007"), Value::from("007".to_owned()));
        assert_eq!(
            as_text("[0123, \"45\"]"),
            Value::from(vec!["0123".to_owned(), "45".to_owned()])
        );
        assert_eq!(as_text("[]"), Value::from(Vec::<String>::new()));
    }
}
