//! API keys, stored as SHA-256 hashes and compared in constant time.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthMethod, Principal, Role};
use crate::{GatewayError, config::ApiKeyConfig};

#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    hash: [u8; 32],
    roles: Vec<Role>,
}

/// The configured API keys.
#[derive(Debug, Default)]
pub struct ApiKeys {
    entries: Vec<Entry>,
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

impl ApiKeys {
    /// Parses the configured hashes; a hash that is not 64 hex digits is an error.
    pub fn new(config: &[ApiKeyConfig]) -> Result<Self, GatewayError> {
        let entries = config
            .iter()
            .map(|k| {
                let hash = parse_hex32(&k.sha256).ok_or_else(|| {
                    GatewayError::config(format!(
                        "auth.api_keys `{}`: sha256 must be 64 hex digits",
                        k.name
                    ))
                })?;
                Ok(Entry {
                    name: k.name.as_str().into(),
                    hash,
                    roles: k.roles.clone(),
                })
            })
            .collect::<Result<_, GatewayError>>()?;
        Ok(ApiKeys { entries })
    }

    /// The principal owning `key`, if any. Every entry is compared (no early exit), each in
    /// constant time, so timing reveals nothing about which hash was close.
    pub fn verify(&self, key: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found: Option<&Entry> = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&digest)) {
                found = Some(entry);
            }
        }
        found.map(|e| Principal {
            name: Arc::clone(&e.name),
            roles: e.roles.clone(),
            method: AuthMethod::ApiKey,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sha256_hex;

    #[test]
    fn verifies_by_hash() {
        let keys = ApiKeys::new(&[ApiKeyConfig {
            name: "bot".into(),
            sha256: sha256_hex(b"k1"),
            roles: vec![Role::Read],
        }])
        .expect("valid");
        assert_eq!(
            keys.verify("k1").map(|p| p.name.to_string()),
            Some("bot".into())
        );
        assert!(keys.verify("k2").is_none());
        assert!(
            ApiKeys::new(&[ApiKeyConfig {
                name: "x".into(),
                sha256: "zz".into(),
                roles: vec![]
            }])
            .is_err()
        );
    }
}
