//! Authentication (API keys, JWT HS256/RS256) and role-based authorization as a tower layer.
//!
//! Credentials, in order:
//! - `Authorization: Bearer <jwt>` (three dot-separated parts) — verified with the HS256
//!   secret or the RS256 public key, whichever matches the token's `alg`;
//! - `Authorization: Bearer <api-key>` or `X-API-Key: <api-key>` — hashed with SHA-256 and
//!   compared in constant time with the configured hashes;
//! - `Authorization: Basic <base64(user:api-key)>` — the password is an API key (the user
//!   name is not checked), for browsers, which cannot send the headers above but ask for and
//!   resend Basic credentials by themselves (the monitoring status page at `/monitoring/`).
//!   Accepted for `GET` and `HEAD` only and worth [`Role::Read`] at most, whatever the key's
//!   roles: a browser resends them on requests other sites make it send, so they must never
//!   authorize a write (cross-site request forgery).
//!
//! Authorization: `GET`/`HEAD`/`OPTIONS` need [`Role::Read`], every other method needs
//! [`Role::Admin`] (so do paths under `auth.admin_paths`, whatever the method); `admin`
//! includes `read`. Public paths need nothing. No or invalid credentials → 401, valid
//! credentials without the role → 403. The authenticated [`Principal`] is put in the request
//! extensions for the per-key rate limit, the access log and the upstream headers.

mod apikey;
mod jwt;
mod layer;

use std::sync::Arc;

use axum::http::{HeaderMap, Method, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use apikey::ApiKeys;
pub use jwt::JwtVerifier;
pub use layer::{AuthFuture, AuthLayer, AuthService};

use crate::{GatewayError, config::AuthConfig};

/// A role. `admin` includes `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access: `GET`, `HEAD`, `OPTIONS`, the live stream.
    Read,
    /// Writes, scheduler and broker control.
    Admin,
}

impl Role {
    /// `read` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    /// Parses `read`/`admin` (case-insensitive); other strings are `None`.
    ///
    /// ```
    /// use marketprism_gateway::Role;
    /// assert_eq!(Role::parse("Admin"), Some(Role::Admin));
    /// assert_eq!(Role::parse("root"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Role> {
        if s.eq_ignore_ascii_case("read") {
            Some(Role::Read)
        } else if s.eq_ignore_ascii_case("admin") {
            Some(Role::Admin)
        } else {
            None
        }
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// An API key.
    ApiKey,
    /// A JWT.
    Jwt,
    /// Authentication is disabled or the path is public.
    Anonymous,
}

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API key's name or the JWT's `sub`.
    pub name: Arc<str>,
    /// Granted roles.
    pub roles: Vec<Role>,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl Principal {
    /// Whether the principal may do what `required` allows (`admin` implies `read`).
    ///
    /// ```
    /// use marketprism_gateway::{auth::{Principal, AuthMethod}, Role};
    /// let p = Principal { name: "ops".into(), roles: vec![Role::Admin], method: AuthMethod::ApiKey };
    /// assert!(p.has(Role::Read) && p.has(Role::Admin));
    /// ```
    pub fn has(&self, required: Role) -> bool {
        self.roles
            .iter()
            .any(|r| *r == required || *r == Role::Admin)
    }
}

/// Filled by the auth layer with the principal's name, read by the access log (which runs
/// outside the auth layer and so cannot see the request's extensions afterwards).
#[derive(Debug, Clone, Default)]
pub(crate) struct PrincipalSlot(Arc<std::sync::OnceLock<Arc<str>>>);

impl PrincipalSlot {
    pub(crate) fn set(&self, name: &Arc<str>) {
        let _ = self.0.set(Arc::clone(name));
    }
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.get().map(|s| &**s)
    }
}

/// Lowercase hex SHA-256 of `bytes` (how API keys are stored in config).
///
/// ```
/// assert_eq!(
///     marketprism_gateway::auth::sha256_hex(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The credential checker shared by the layer.
#[derive(Debug)]
pub struct Authenticator {
    enabled: bool,
    public_paths: Vec<String>,
    admin_paths: Vec<String>,
    keys: ApiKeys,
    jwt: JwtVerifier,
}

impl Authenticator {
    /// Builds the checker, parsing keys (an unreadable PEM or hash is a config error).
    pub fn new(config: &AuthConfig) -> Result<Self, GatewayError> {
        Ok(Authenticator {
            enabled: config.enabled,
            public_paths: config.public_paths.clone(),
            admin_paths: config.admin_paths.clone(),
            keys: ApiKeys::new(&config.api_keys)?,
            jwt: JwtVerifier::new(&config.jwt)?,
        })
    }

    /// Whether `path` needs no credentials.
    pub fn is_public(&self, path: &str) -> bool {
        !self.enabled
            || self
                .public_paths
                .iter()
                .any(|p| match p.strip_suffix("/*") {
                    Some(prefix) => path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
                    None => p == path,
                })
    }

    /// The role a request needs.
    pub fn required_role(&self, method: &Method, path: &str) -> Role {
        let admin_path = self.admin_paths.iter().any(|p| {
            path.strip_prefix(p.trim_end_matches('/'))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if admin_path {
            return Role::Admin;
        }
        match *method {
            Method::GET | Method::HEAD | Method::OPTIONS => Role::Read,
            _ => Role::Admin,
        }
    }

    /// Authenticates and authorizes a request.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Principal, GatewayError> {
        if self.is_public(path) {
            return Ok(Principal {
                name: "anonymous".into(),
                roles: Vec::new(),
                method: AuthMethod::Anonymous,
            });
        }
        let principal = self.authenticate(method, headers)?;
        let required = self.required_role(method, path);
        if principal.has(required) {
            Ok(principal)
        } else {
            metrics::counter!("marketprism_gateway_auth_failures_total", "reason" => "forbidden")
                .increment(1);
            Err(GatewayError::Forbidden {
                required: required.as_str(),
            })
        }
    }

    fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Principal, GatewayError> {
        let fail = |reason: &'static str| {
            metrics::counter!("marketprism_gateway_auth_failures_total", "reason" => reason)
                .increment(1);
            GatewayError::Unauthorized { reason }
        };
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .map(|(scheme, value)| (scheme, value.trim()));
        if let Some((scheme, value)) = authorization
            && scheme.eq_ignore_ascii_case("basic")
        {
            if !matches!(*method, Method::GET | Method::HEAD) {
                return Err(fail("basic credentials are accepted for GET and HEAD only"));
            }
            let key = basic_password(value).ok_or_else(|| fail("invalid basic credentials"))?;
            let mut principal = self
                .keys
                .verify(&key)
                .ok_or_else(|| fail("invalid API key"))?;
            // Never more than read, whatever the key allows elsewhere.
            principal.roles = if principal.has(Role::Read) {
                vec![Role::Read]
            } else {
                Vec::new()
            };
            return Ok(principal);
        }
        let bearer = authorization
            .and_then(|(scheme, value)| scheme.eq_ignore_ascii_case("bearer").then_some(value));
        let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        match (bearer, api_key) {
            (Some(token), _) if token.split('.').count() == 3 => {
                self.jwt.verify(token).map_err(|_| fail("invalid token"))
            }
            (Some(key), _) | (None, Some(key)) => {
                self.keys.verify(key).ok_or_else(|| fail("invalid API key"))
            }
            (None, None) => Err(fail("missing credentials")),
        }
    }
}

/// The password of `Authorization: Basic` credentials (`base64(user:password)`).
fn basic_password(encoded: &str) -> Option<String> {
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_owned())
}
