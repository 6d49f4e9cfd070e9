//! [`Secret`]: a configured secret that `Debug` never prints.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string: never printed by `Debug` and never serialized back out in clear.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Serialized only to build config layers in memory (figment defaults); kept intact
        // so a round-trip through ConfigLoader does not lose it.
        s.serialize_str(&self.0)
    }
}
