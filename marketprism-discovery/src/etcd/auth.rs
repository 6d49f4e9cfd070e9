//! etcd authentication (`/v3/auth/authenticate`): user name and password from the URL's user
//! info (`etcd://user:pass@host:2379`) or [`EtcdBackend::with_credentials`](super::EtcdBackend::with_credentials).
//! The simple token etcd returns goes in the `Authorization` header of every request; when
//! etcd forgets it (`invalid auth token`, after `--auth-token-ttl` of idleness or a restart)
//! the backend authenticates again once and repeats the request. The password is never
//! logged or shown in errors.

use std::sync::Mutex;

use serde_json::json;

use super::{EtcdBackend, NAME};
use crate::error::{DiscoveryError, Result};

/// User name and password, with a `Debug` that hides the password.
pub(super) struct Credentials {
    pub(super) user: String,
    pub(super) password: String,
    /// The current token (`None` before the first authentication or after etcd refused it).
    pub(super) token: Mutex<Option<String>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub(super) fn new(user: &str, password: &str) -> Self {
        Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
            token: Mutex::new(None),
        }
    }

    pub(super) fn token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set_token(&self, token: Option<String>) {
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }
}

impl EtcdBackend {
    /// The token for the `Authorization` header: the cached one, or a fresh one.
    pub(super) async fn token(&self) -> Result<Option<String>> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        if let Some(t) = creds.token() {
            return Ok(Some(t));
        }
        let body = json!({ "name": creds.user, "password": creds.password });
        let answer = self.post("auth/authenticate", &body, None).await?;
        let token = match answer {
            Ok(v) => v["token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| DiscoveryError::protocol(NAME, "authenticate answered no token"))?,
            Err((code, message)) if code == 3 || code == 16 => {
                return Err(DiscoveryError::Auth {
                    backend: NAME,
                    message: format!(
                        "authentication as user `{}` failed (wrong user name or password?): {message}",
                        creds.user
                    ),
                });
            }
            Err((code, message)) => return Err(self.classify("auth/authenticate", code, message)),
        };
        creds.set_token(Some(token.clone()));
        Ok(Some(token))
    }

    /// The error for gRPC `code` answered to `path`.
    pub(super) fn classify(&self, path: &str, code: i64, message: String) -> DiscoveryError {
        let user = self.credentials.as_ref().map(|c| c.user.as_str());
        match code {
            // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED
            14 | 4 | 8 | 10 => DiscoveryError::Unavailable {
                backend: NAME,
                message: format!("{path}: {message}"),
                source: None,
            },
            7 => DiscoveryError::Auth {
                backend: NAME,
                message: format!(
                    "{path}: {message}: user `{}` needs a role with readwrite on the prefix `/marketprism/discovery/`",
                    user.unwrap_or_default()
                ),
            },
            3 if message.contains("user name is empty") => DiscoveryError::Auth {
                backend: NAME,
                message: format!(
                    "{path}: {message}: this etcd has authentication enabled; give a user and password in the URL (`etcd://user:password@host:2379`)"
                ),
            },
            _ => DiscoveryError::protocol(NAME, format!("{path}: code {code}: {message}")),
        }
    }
}

/// Percent-decodes URL user info (`p%40ss` → `p@ss`); invalid escapes stay as written.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_user_info_and_hides_the_password() {
        assert_eq!(percent_decode("p%40ss%3Aw"), "p@ss:w");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        let c = Credentials::new("mp", "s3cr3t");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
