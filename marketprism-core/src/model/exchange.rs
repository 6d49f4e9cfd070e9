//! [`ExchangeId`]: the open, validated identity of an exchange.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The identity of an exchange: a short lowercase name such as `binance` or `bybit`.
///
/// The set is open: the built-ins have constants ([`ExchangeId::BINANCE`], [`ExchangeId::OKX`],
/// [`ExchangeId::DERIBIT`]) and any other valid name is accepted by [`ExchangeId::new`], so a
/// user's fourth exchange flows through subjects, storage and the gateway like the built-ins.
///
/// A valid name is 1 to [`ExchangeId::MAX_LEN`] characters of lowercase ASCII letters, digits,
/// `-` and `_`: a safe NATS subject token, ClickHouse value and Redis key part. The value is
/// `Copy` (one `&'static str`): names are interned in a global table bounded to
/// [`ExchangeId::MAX_INTERNED`] distinct names, so hostile input cannot grow memory without
/// bound; the built-ins never allocate. Equality, ordering and hashing are by name.
///
/// ```
/// use marketprism_core::model::ExchangeId;
///
/// let bybit = ExchangeId::new("bybit")?;
/// assert_eq!(bybit.as_str(), "bybit");
/// assert_eq!(bybit, "bybit".parse()?);
/// assert_eq!("OKX".parse::<ExchangeId>()?, ExchangeId::OKX);
/// assert!(ExchangeId::new("By Bit").is_err());
/// assert!(ExchangeId::new("a.b").is_err());
///
/// // The built-ins are constants, usable as patterns.
/// let fee_tier = match bybit {
///     ExchangeId::BINANCE | ExchangeId::OKX => "vip0",
///     ExchangeId::DERIBIT => "default",
///     _ => "unknown",
/// };
/// assert_eq!(fee_tier, "unknown");
///
/// // Serialized as a plain string.
/// assert_eq!(serde_json::to_string(&ExchangeId::OKX)?, r#""okx""#);
/// let back: ExchangeId = serde_json::from_str(r#""bybit""#)?;
/// assert_eq!(back, bybit);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExchangeId(&'static str);

impl ExchangeId {
    /// Binance (spot, USDⓈ-M futures, COIN-M futures).
    pub const BINANCE: ExchangeId = ExchangeId("binance");
    /// OKX v5 (spot, swap, futures, options).
    pub const OKX: ExchangeId = ExchangeId("okx");
    /// Deribit v2 (futures, perpetuals, options).
    pub const DERIBIT: ExchangeId = ExchangeId("deribit");

    /// The exchanges built into MarketPrism, in a stable order. Other exchanges are valid too:
    /// this is not the set of every exchange that may appear in data.
    pub const BUILT_IN: [ExchangeId; 3] =
        [ExchangeId::BINANCE, ExchangeId::OKX, ExchangeId::DERIBIT];

    /// Longest valid name, in bytes.
    pub const MAX_LEN: usize = 32;

    /// Most distinct non-built-in names one process interns; [`ExchangeId::new`] refuses more.
    pub const MAX_INTERNED: usize = 1024;

    /// The identity named `name`, which must be valid (see the type's docs); interned on first
    /// use. Errors name the value; a new name beyond [`ExchangeId::MAX_INTERNED`] is an error.
    ///
    /// ```
    /// use marketprism_core::model::ExchangeId;
    /// assert_eq!(ExchangeId::new("okx")?, ExchangeId::OKX);
    /// assert_eq!(ExchangeId::new("gate_io")?.as_str(), "gate_io");
    /// assert!(ExchangeId::new("").is_err());
    /// assert!(ExchangeId::new("Binance").is_err()); // names are lowercase; `parse` folds case
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    pub fn new(name: &str) -> Result<ExchangeId, Error> {
        if let Some(id) = ExchangeId::BUILT_IN.into_iter().find(|b| b.0 == name) {
            return Ok(id);
        }
        if let Err(reason) = validate(name) {
            return Err(invalid(name, reason));
        }
        intern(name).map(ExchangeId)
    }

    /// A constant identity for a user's own exchange, checked at compile time when used in a
    /// `const`. Not interned and not counted against [`ExchangeId::MAX_INTERNED`].
    ///
    /// ```
    /// use marketprism_core::model::ExchangeId;
    /// const BYBIT: ExchangeId = ExchangeId::from_static("bybit");
    /// assert_eq!(BYBIT, ExchangeId::new("bybit")?);
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// When `name` is invalid; in a `const` item that is a compile error, which is the
    /// intended use. For names known only at run time, use [`ExchangeId::new`].
    pub const fn from_static(name: &'static str) -> ExchangeId {
        if validate(name).is_err() {
            panic!("invalid exchange name: 1 to 32 of a-z, 0-9, `-`, `_`");
        }
        ExchangeId(name)
    }

    /// The lowercase name used in subjects, config, keys and JSON.
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// Whether this is one of [`ExchangeId::BUILT_IN`].
    ///
    /// ```
    /// use marketprism_core::model::ExchangeId;
    /// assert!(ExchangeId::DERIBIT.is_built_in());
    /// assert!(!ExchangeId::new("bybit")?.is_built_in());
    /// # Ok::<_, marketprism_core::Error>(())
    /// ```
    pub fn is_built_in(self) -> bool {
        ExchangeId::BUILT_IN.contains(&self)
    }
}

/// Checks the name rules; `Err` carries the reason.
const fn validate(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err("empty");
    }
    if bytes.len() > ExchangeId::MAX_LEN {
        return Err("longer than 32 characters");
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err("only lowercase ASCII letters, digits, `-` and `_` are allowed");
        }
        i += 1;
    }
    Ok(())
}

fn invalid(name: &str, reason: &'static str) -> Error {
    // Hostile input: quote at most 64 characters of it.
    let shown: String = name.chars().take(64).collect();
    Error::InvalidName {
        what: "exchange",
        name: shown,
        reason,
    }
}

/// The global interning table.
fn intern(name: &str) -> Result<&'static str, Error> {
    static TABLE: OnceLock<Interner> = OnceLock::new();
    TABLE
        .get_or_init(|| Interner::new(ExchangeId::MAX_INTERNED))
        .intern(name)
}

/// A set of leaked names, bounded to `limit` entries.
struct Interner {
    names: Mutex<HashSet<&'static str>>,
    limit: usize,
}

impl Interner {
    fn new(limit: usize) -> Self {
        Interner {
            names: Mutex::new(HashSet::new()),
            limit,
        }
    }

    fn intern(&self, name: &str) -> Result<&'static str, Error> {
        // A panic while holding the lock cannot leave the set inconsistent: keep using it.
        let mut set = self
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&interned) = set.get(name) {
            return Ok(interned);
        }
        if set.len() >= self.limit {
            return Err(Error::LimitExceeded {
                what: "distinct exchange names",
                limit: self.limit,
            });
        }
        // Leaking is bounded by limit * MAX_LEN bytes.
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        set.insert(leaked);
        Ok(leaked)
    }
}

impl std::fmt::Debug for ExchangeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ExchangeId").field(&self.0).finish()
    }
}

impl std::fmt::Display for ExchangeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl AsRef<str> for ExchangeId {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl std::str::FromStr for ExchangeId {
    type Err = Error;
    /// Case-insensitive: the name is folded to lowercase, then checked by [`ExchangeId::new`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            if s.len() > ExchangeId::MAX_LEN {
                return Err(invalid(s, "longer than 32 characters"));
            }
            ExchangeId::new(&s.to_ascii_lowercase())
        } else {
            ExchangeId::new(s)
        }
    }
}

impl TryFrom<&str> for ExchangeId {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ExchangeId::new(s)
    }
}

impl Serialize for ExchangeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for ExchangeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ExchangeId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an exchange name (lowercase letters, digits, `-`, `_`)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ExchangeId, E> {
                ExchangeId::new(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_are_themselves() {
        for b in ExchangeId::BUILT_IN {
            assert_eq!(ExchangeId::new(b.as_str()).expect("valid"), b);
        }
    }

    #[test]
    fn rejects_and_names_the_value() {
        for bad in ["", "a.b", "a b", "A", "bin*", ">", "é", &"x".repeat(33)] {
            let err = ExchangeId::new(bad).expect_err(bad);
            let shown: String = bad.chars().take(64).collect();
            assert!(err.to_string().contains(&shown), "{err}");
        }
        assert!(ExchangeId::new(&"x".repeat(32)).is_ok());
        assert!(
            "Bybit"
                .parse::<ExchangeId>()
                .is_ok_and(|e| e.as_str() == "bybit")
        );
        assert!(serde_json::from_str::<ExchangeId>(r#""a.b""#).is_err());
    }

    #[test]
    fn interning_returns_one_copy_and_is_bounded() {
        let a = ExchangeId::new("intern-test").expect("valid");
        let b = ExchangeId::new("intern-test").expect("valid");
        assert!(std::ptr::eq(a.as_str(), b.as_str()));

        let table = Interner::new(3);
        for name in ["a", "b", "c", "a"] {
            table.intern(name).expect("within the bound");
        }
        assert!(matches!(
            table.intern("d"),
            Err(Error::LimitExceeded { limit: 3, .. })
        ));
        assert_eq!(table.intern("b").expect("known name"), "b");
    }
}
