//! Gateway configuration (serde, `deny_unknown_fields`, every key has a default).
//!
//! Load it with `marketprism_core::config::ConfigLoader` (core feature `config`) under a
//! `gateway` section or on its own. Every key is listed in `docs/gateway.md`.
//!
//! ```
//! use marketprism_gateway::config::GatewayConfig;
//! let config = GatewayConfig::default();
//! assert_eq!(config.service_for("/api/v1/storage/hot/trades"), Some("data-storage-service"));
//! assert_eq!(config.service_for("/api/v1/alerts"), Some("monitoring-service"));
//! assert_eq!(config.service_for("/api/v1/storagex"), None);
//! ```

mod route;
mod secret;

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

pub use route::RouteConfig;
pub use secret::Secret;

use crate::auth::{Role, sha256_hex};

/// The whole gateway configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Name shown on `/health` and `/_gateway/status` (default `api-gateway`).
    pub name: String,
    /// Path prefix → service name; longest prefix wins; the path is forwarded unchanged
    /// unless the route strips its prefix (`/monitoring/…`, the status page).
    pub routes: Vec<RouteConfig>,
    /// Static instances per service, for [`crate::StaticUpstreams::from_config`].
    pub upstreams: BTreeMap<String, Vec<UpstreamConfig>>,
    /// Forwarding: timeouts and retries.
    pub proxy: ProxyConfig,
    /// Per-upstream circuit breaker.
    pub breaker: BreakerConfig,
    /// API keys, JWT, roles, public paths.
    pub auth: AuthConfig,
    /// Rate limits and the body size limit.
    pub limits: LimitsConfig,
    /// CORS (off unless origins are listed).
    pub cors: CorsConfig,
    /// The live WebSocket endpoint.
    pub ws: WsConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        let route = |prefix: &str, service: &str| RouteConfig {
            prefix: prefix.to_owned(),
            service: service.to_owned(),
            strip_prefix: false,
        };
        GatewayConfig {
            name: "api-gateway".to_owned(),
            routes: vec![
                route("/api/v1/storage", "data-storage-service"),
                route("/api/v1/collector", "market-data-collector"),
                route("/api/v1/scheduler", "scheduler-service"),
                route("/api/v1/broker", "message-broker-service"),
                route("/api/v1/overview", "monitoring-service"),
                route("/api/v1/services", "monitoring-service"),
                route("/api/v1/alerts", "monitoring-service"),
                route("/api/v1/history", "monitoring-service"),
                // The monitoring status page and its API calls (relative URLs), for browsers.
                RouteConfig {
                    prefix: "/monitoring".to_owned(),
                    service: "monitoring-service".to_owned(),
                    strip_prefix: true,
                },
            ],
            upstreams: BTreeMap::new(),
            proxy: ProxyConfig::default(),
            breaker: BreakerConfig::default(),
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            cors: CorsConfig::default(),
            ws: WsConfig::default(),
        }
    }
}

impl GatewayConfig {
    /// Adds (or replaces) a route.
    ///
    /// ```
    /// use marketprism_gateway::config::GatewayConfig;
    /// let c = GatewayConfig::default().route("/api/v1/echo", "echo-service");
    /// assert_eq!(c.service_for("/api/v1/echo/x"), Some("echo-service"));
    /// ```
    pub fn route(mut self, prefix: impl Into<String>, service: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.routes.retain(|r| r.prefix != prefix);
        self.routes.push(RouteConfig {
            prefix,
            service: service.into(),
            strip_prefix: false,
        });
        self
    }

    /// Adds a static instance of `service` (used by [`crate::StaticUpstreams::from_config`]).
    ///
    /// ```
    /// use marketprism_gateway::config::GatewayConfig;
    /// let c = GatewayConfig::default().upstream("data-storage-service", "s1", "http://127.0.0.1:8082", 1);
    /// assert_eq!(c.upstreams["data-storage-service"][0].url, "http://127.0.0.1:8082");
    /// ```
    pub fn upstream(
        mut self,
        service: impl Into<String>,
        id: impl Into<String>,
        url: impl Into<String>,
        weight: u32,
    ) -> Self {
        self.upstreams
            .entry(service.into())
            .or_default()
            .push(UpstreamConfig {
                id: id.into(),
                url: url.into(),
                weight,
            });
        self
    }

    /// Adds an API key, stored as its SHA-256 hash (the key itself is not kept).
    ///
    /// ```
    /// use marketprism_gateway::{config::GatewayConfig, Role};
    /// let c = GatewayConfig::default().api_key("bot-1", "s3cret", &[Role::Read]);
    /// assert_eq!(c.auth.api_keys[0].name, "bot-1");
    /// assert_ne!(c.auth.api_keys[0].sha256, "s3cret");
    /// ```
    pub fn api_key(mut self, name: impl Into<String>, key: &str, roles: &[Role]) -> Self {
        self.auth.api_keys.push(ApiKeyConfig {
            name: name.into(),
            sha256: sha256_hex(key.as_bytes()),
            roles: roles.to_vec(),
        });
        self
    }

    /// Disables authentication (every path is public). For tests and trusted networks only.
    ///
    /// ```
    /// let c = marketprism_gateway::config::GatewayConfig::default().without_auth();
    /// assert!(!c.auth.enabled);
    /// ```
    pub fn without_auth(mut self) -> Self {
        self.auth.enabled = false;
        self
    }

    /// Disables both rate limits.
    ///
    /// ```
    /// let c = marketprism_gateway::config::GatewayConfig::default().without_rate_limits();
    /// assert!(c.limits.per_ip.is_none() && c.limits.per_key.is_none());
    /// ```
    pub fn without_rate_limits(mut self) -> Self {
        self.limits.per_ip = None;
        self.limits.per_key = None;
        self
    }
}

/// A statically configured instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Instance id (unique within the service).
    pub id: String,
    /// Base URL, e.g. `http://10.0.0.5:8082`.
    pub url: String,
    /// Weight for weighted round-robin (default 1; 0 takes it out of rotation).
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Forwarding settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Per-attempt timeout, until the response body has been read (default 10 000 ms).
    pub timeout_ms: u64,
    /// TCP connect timeout (default 1 000 ms).
    pub connect_timeout_ms: u64,
    /// Extra attempts on other instances for idempotent methods (default 1).
    pub max_retries: u32,
    /// Idle pooled connections kept per upstream host (default 64).
    pub pool_max_idle_per_host: usize,
    /// How an instance is chosen: `weighted_round_robin` (default), `least_connections`
    /// (fewest requests in flight per unit of weight; a request counts until the upstream
    /// has answered) or `random` (weighted).
    pub balance: marketprism_core::balance::Strategy,
    /// The service credential sent to upstreams in `X-MarketPrism-Service-Token` (a secret,
    /// never printed); whatever a client sent in that header is dropped (default none).
    pub service_token: Option<Secret>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            timeout_ms: 10_000,
            connect_timeout_ms: 1_000,
            max_retries: 1,
            pool_max_idle_per_host: 64,
            balance: marketprism_core::balance::Strategy::WeightedRoundRobin,
            service_token: None,
        }
    }
}

/// Circuit-breaker settings (one breaker per upstream instance).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures within `window_ms` that open the breaker (default 5).
    pub failure_threshold: u32,
    /// The failure-counting window (default 10 000 ms).
    pub window_ms: u64,
    /// How long an open breaker rejects before admitting one probe (default 5 000 ms).
    pub cooldown_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            window_ms: 10_000,
            cooldown_ms: 5_000,
        }
    }
}

impl BreakerConfig {
    pub(crate) fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }
    pub(crate) fn cooldown(&self) -> Duration {
        Duration::from_millis(self.cooldown_ms)
    }
}

/// Authentication and authorization.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When false every path is public (default true).
    pub enabled: bool,
    /// Exact paths or `prefix/*` patterns that need no credentials (default `/health`,
    /// `/metrics`).
    pub public_paths: Vec<String>,
    /// Path prefixes that need `admin` for every method, reads included (default none).
    pub admin_paths: Vec<String>,
    /// API keys (hashed).
    pub api_keys: Vec<ApiKeyConfig>,
    /// JWT verification.
    pub jwt: JwtConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            public_paths: vec!["/health".to_owned(), "/metrics".to_owned()],
            admin_paths: Vec::new(),
            api_keys: Vec::new(),
            jwt: JwtConfig::default(),
        }
    }
}

/// One API key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Who the key belongs to (logged, used as the rate-limit key).
    pub name: String,
    /// Lowercase hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
    /// Roles granted.
    pub roles: Vec<Role>,
}

/// JWT verification keys and claims checks. Tokens need `exp`; roles come from the `roles`
/// claim (array) or `role` (string).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// Shared secret for HS256 tokens.
    pub hs256_secret: Option<Secret>,
    /// PEM public key (SPKI or PKCS#1) for RS256 tokens.
    pub rs256_public_key_pem: Option<String>,
    /// Required `iss`, if set.
    pub issuer: Option<String>,
    /// Required `aud`, if set.
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp`/`nbf`, seconds (default 30).
    pub leeway_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            hs256_secret: None,
            rs256_public_key_pem: None,
            issuer: None,
            audience: None,
            leeway_secs: 30,
        }
    }
}

/// Rate limits and body size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body in bytes (default 1 MiB) → 413 beyond.
    pub body_bytes: usize,
    /// Token bucket per client IP (default 100/s, burst 200); `None` disables.
    pub per_ip: Option<RateConfig>,
    /// Token bucket per authenticated principal (default 50/s, burst 100); `None` disables.
    pub per_key: Option<RateConfig>,
    /// Take the client IP from `X-Forwarded-For` when the TCP peer is one of
    /// `trusted_proxies` (behind a load balancer or ingress; default false).
    pub trust_forwarded_for: bool,
    /// CIDRs (or single addresses) of the proxies whose `X-Forwarded-For` is believed; the
    /// client is the right-most entry that is not one of them (default loopback and the
    /// private ranges: `127.0.0.0/8`, `::1/128`, `10.0.0.0/8`, `172.16.0.0/12`,
    /// `192.168.0.0/16`, `fc00::/7`).
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            body_bytes: 1024 * 1024,
            per_ip: Some(RateConfig {
                per_second: 100,
                burst: 200,
            }),
            per_key: Some(RateConfig {
                per_second: 50,
                burst: 100,
            }),
            trust_forwarded_for: false,
            trusted_proxies: [
                "127.0.0.0/8",
                "::1/128",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Sustained requests per second (at least 1).
    pub per_second: u32,
    /// Bucket size (at least 1).
    pub burst: u32,
}

/// CORS. Empty `allowed_origins` means no CORS headers at all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins (`*` for any).
    pub allowed_origins: Vec<String>,
    /// Allowed methods (default GET, HEAD, POST, PUT, PATCH, DELETE).
    pub allowed_methods: Vec<String>,
    /// Allowed request headers (default authorization, content-type, x-api-key, x-request-id).
    pub allowed_headers: Vec<String>,
    /// Preflight cache lifetime in seconds (default 600).
    pub max_age_secs: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            allowed_methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: ["authorization", "content-type", "x-api-key", "x-request-id"]
                .map(String::from)
                .to_vec(),
            max_age_secs: 600,
        }
    }
}

/// The live WebSocket endpoint (`/ws/v1/stream`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    /// Events buffered per client before it is disconnected as too slow (default 1024).
    pub client_buffer: usize,
    /// Most subject patterns one client may subscribe to (default 16).
    pub max_subjects: usize,
    /// Most concurrent clients (default 10 000).
    pub max_clients: usize,
    /// Most concurrent clients from one IP (the client IP of `limits.trusted_proxies`);
    /// more are answered 429 (default 16; 0: no per-IP cap).
    pub max_connections_per_ip: usize,
    /// How long the close frame to a slow client may take before the socket is dropped
    /// (default 5 000 ms).
    pub close_timeout_ms: u64,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            client_buffer: 1024,
            max_subjects: 16,
            max_clients: 10_000,
            max_connections_per_ip: 16,
            close_timeout_ms: 5_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_rejected_and_defaults_fill_in() {
        let ok: GatewayConfig =
            serde_json::from_str(r#"{"proxy": {"max_retries": 3}}"#).expect("valid");
        assert_eq!(ok.proxy.max_retries, 3);
        assert_eq!(ok.proxy.timeout_ms, 10_000);
        assert_eq!(ok.routes.len(), 9);
        let bad = serde_json::from_str::<GatewayConfig>(r#"{"proxy": {"max_retry": 3}}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let mut c = GatewayConfig::default();
        c.auth.jwt.hs256_secret = Some(Secret::new("topsecret"));
        c.proxy.service_token = Some(Secret::new("service-secret-0123456789"));
        let printed = format!("{c:?}");
        assert!(!printed.contains("topsecret"));
        assert!(!printed.contains("service-secret"), "{printed}");
    }
}
