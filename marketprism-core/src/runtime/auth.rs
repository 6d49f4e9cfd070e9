//! The service credential: what the services behind the gateway ask of every caller on every
//! route but `/health` and `/metrics`.
//!
//! The gateway, the scheduler and the other services send one shared secret in
//! [`SERVICE_TOKEN_HEADER`]; a service accepts any of its configured tokens, so a secret is
//! rotated by adding the new one everywhere, switching senders to it, then removing the old.

use std::sync::Arc;

use axum::{
    Json,
    extract::Request,
    http::{HeaderName, StatusCode},
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

/// The header that carries the service credential.
pub const SERVICE_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-marketprism-service-token");

/// Routes that answer without the credential: liveness and scraping.
pub const PUBLIC_PATHS: [&str; 2] = ["/health", "/metrics"];

/// The tokens a service accepts (any of them; the first is the one it sends itself).
#[derive(Clone, Default)]
pub struct ServiceTokens {
    accepted: Arc<[Vec<u8>]>,
}

impl std::fmt::Debug for ServiceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ServiceTokens({} configured, redacted)",
            self.accepted.len()
        )
    }
}

impl ServiceTokens {
    /// Accepts each of `tokens` (empty strings are ignored; none at all means no check).
    ///
    /// ```
    /// use marketprism_core::runtime::ServiceTokens;
    /// let t = ServiceTokens::new(["new-secret", "old-secret"]);
    /// assert!(t.accepts(b"old-secret"));
    /// assert!(!t.accepts(b"guess"));
    /// assert!(ServiceTokens::new([""; 0]).is_open());
    /// ```
    pub fn new<I, S>(tokens: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let accepted: Vec<Vec<u8>> = tokens
            .into_iter()
            .map(|t| t.as_ref().as_bytes().to_vec())
            .filter(|t| !t.is_empty())
            .collect();
        ServiceTokens {
            accepted: accepted.into(),
        }
    }

    /// Whether no token is configured (every caller is accepted).
    pub fn is_open(&self) -> bool {
        self.accepted.is_empty()
    }

    /// Whether `presented` is one of the tokens (constant time in the token's content).
    pub fn accepts(&self, presented: &[u8]) -> bool {
        // Every token is compared, so the time does not tell which one matched.
        self.accepted.iter().fold(false, |ok, t| {
            ok | bool::from(t.as_slice().ct_eq(presented))
        })
    }
}

/// The 401 answer to a request without an accepted token, unless it asks for a public path;
/// `None` when the request may go on.
pub(crate) fn refusal(tokens: &ServiceTokens, req: &Request) -> Option<Response> {
    if tokens.is_open() || PUBLIC_PATHS.contains(&req.uri().path()) {
        return None;
    }
    let presented = req.headers().get(&SERVICE_TOKEN_HEADER);
    if presented.is_some_and(|v| tokens.accepts(v.as_bytes())) {
        return None;
    }
    let why = if presented.is_some() {
        "the service credential is not accepted"
    } else {
        "a service credential is required"
    };
    Some(
        (
            StatusCode::UNAUTHORIZED,
            Json(serde_json::json!({
                "error": format!("{why} (header `{SERVICE_TOKEN_HEADER}`); call this service through the api-gateway"),
                "field": SERVICE_TOKEN_HEADER.as_str(),
            })),
        )
            .into_response(),
    )
}
