//! JWT verification: HS256 with a shared secret, RS256 with a PEM public key.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::{AuthMethod, Principal, Role};
use crate::{GatewayError, config::JwtConfig};

/// Verifies tokens against the configured keys.
pub struct JwtVerifier {
    hs256: Option<(DecodingKey, Validation)>,
    rs256: Option<(DecodingKey, Validation)>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("hs256", &self.hs256.is_some())
            .field("rs256", &self.rs256.is_some())
            .finish()
    }
}

/// The claims the gateway reads. `exp` is required and checked by the library.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    role: Option<String>,
}

impl JwtVerifier {
    /// Parses the keys. No key configured means every JWT is rejected.
    pub fn new(config: &JwtConfig) -> Result<Self, GatewayError> {
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.leeway = config.leeway_secs;
            v.validate_nbf = true;
            if let Some(iss) = &config.issuer {
                v.set_issuer(&[iss]);
            }
            if let Some(aud) = &config.audience {
                v.set_audience(&[aud]);
            }
            v
        };
        let hs256 = config.hs256_secret.as_ref().map(|s| {
            (
                DecodingKey::from_secret(s.expose().as_bytes()),
                validation(Algorithm::HS256),
            )
        });
        let rs256 = match &config.rs256_public_key_pem {
            Some(pem) => Some((
                DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    GatewayError::config_with(
                        "auth.jwt.rs256_public_key_pem is not an RSA public key",
                        e,
                    )
                })?,
                validation(Algorithm::RS256),
            )),
            None => None,
        };
        Ok(JwtVerifier { hs256, rs256 })
    }

    /// Verifies `token` and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, GatewayError> {
        let invalid = GatewayError::Unauthorized {
            reason: "invalid token",
        };
        let header = decode_header(token).map_err(|_| GatewayError::Unauthorized {
            reason: "invalid token",
        })?;
        let (key, validation) = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or(GatewayError::Unauthorized {
            reason: "unsupported token algorithm",
        })?;
        let data = decode::<Claims>(token, key, validation).map_err(|e| {
            tracing::debug!(error = %e, "JWT rejected");
            invalid
        })?;
        let claims = data.claims;
        let roles = claims
            .roles
            .iter()
            .map(String::as_str)
            .chain(claims.role.as_deref())
            .filter_map(Role::parse)
            .collect();
        Ok(Principal {
            name: claims.sub.unwrap_or_else(|| "jwt".to_owned()).into(),
            roles,
            method: AuthMethod::Jwt,
        })
    }
}
