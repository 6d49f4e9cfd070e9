//! The crate's error type and its HTTP rendering.

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Errors of `marketprism-gateway`.
///
/// Every variant maps to one HTTP status ([`GatewayError::status`]); the response body is
/// `{"error": "<message>", "code": <status>}` and never contains secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration is invalid (a key that cannot be parsed, a bad route, ...).
    #[error("invalid gateway configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No route of the route table matches the path.
    #[error("no route for `{path}`")]
    NoRoute {
        /// The request path.
        path: String,
    },
    /// Discovery knows no healthy instance of the service (or every breaker is open).
    #[error("no available instance of `{service}`")]
    NoInstance {
        /// The service name.
        service: String,
        /// When the earliest open breaker lets a probe through, if any is open.
        retry_after: Option<Duration>,
    },
    /// Discovery failed.
    #[error("discovery of `{service}` failed")]
    Discovery {
        /// The service name.
        service: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The upstream could not be reached or failed mid-request.
    #[error("upstream `{instance}` of `{service}` failed")]
    Upstream {
        /// The service name.
        service: String,
        /// The instance id.
        instance: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The upstream did not answer within the configured timeout.
    #[error("upstream `{instance}` of `{service}` timed out")]
    UpstreamTimeout {
        /// The service name.
        service: String,
        /// The instance id.
        instance: String,
    },
    /// No credentials, or credentials that are not valid.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// Why (never contains the credential itself).
        reason: &'static str,
    },
    /// Valid credentials without the role the route needs.
    #[error("forbidden: role `{required}` required")]
    Forbidden {
        /// The role the route needs.
        required: &'static str,
    },
    /// A rate limit was exceeded.
    #[error("rate limit exceeded ({scope})")]
    RateLimited {
        /// `ip` or `key`.
        scope: &'static str,
        /// When a request may succeed again.
        retry_after: Duration,
    },
    /// The request body is larger than the configured limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request is malformed (bad query, unreadable body, ...).
    #[error("bad request: {message}")]
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// The live event source failed.
    #[error("event source failed: {message}")]
    EventSource {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Too many WebSocket clients are connected.
    #[error("too many live clients (limit {limit})")]
    TooManyClients {
        /// The configured limit.
        limit: usize,
    },
    /// One client IP holds too many live WebSocket connections.
    #[error("too many live connections from this address (limit {limit} per IP)")]
    TooManyConnectionsPerIp {
        /// The configured limit (`ws.max_connections_per_ip`).
        limit: usize,
    },
    /// An I/O error (listener).
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The service runtime failed.
    #[error("service runtime error")]
    Core(#[from] marketprism_core::Error),
}

impl GatewayError {
    /// The HTTP status this error is answered with.
    ///
    /// ```
    /// use marketprism_gateway::GatewayError;
    /// use axum::http::StatusCode;
    /// let e = GatewayError::Unauthorized { reason: "missing credentials" };
    /// assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoRoute { .. } => StatusCode::NOT_FOUND,
            GatewayError::NoInstance { .. }
            | GatewayError::Discovery { .. }
            | GatewayError::TooManyClients { .. }
            | GatewayError::EventSource { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden { .. } => StatusCode::FORBIDDEN,
            GatewayError::RateLimited { .. } | GatewayError::TooManyConnectionsPerIp { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            GatewayError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            GatewayError::Config { .. } | GatewayError::Io(_) | GatewayError::Core(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Whether trying the request again (on another instance) may succeed.
    ///
    /// ```
    /// use marketprism_gateway::GatewayError;
    /// assert!(!GatewayError::Forbidden { required: "admin" }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::Upstream { .. }
                | GatewayError::UpstreamTimeout { .. }
                | GatewayError::NoInstance { .. }
                | GatewayError::Discovery { .. }
        )
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        GatewayError::Config {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn config_with(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        GatewayError::Config {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, source = ?std::error::Error::source(&self).map(ToString::to_string), "gateway error");
        }
        let body = serde_json::json!({ "error": self.to_string(), "code": status.as_u16() });
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            GatewayError::RateLimited { retry_after, .. } => Some(*retry_after),
            GatewayError::NoInstance { retry_after, .. } => *retry_after,
            _ => None,
        };
        if let Some(d) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(d)));
        }
        if status == StatusCode::UNAUTHORIZED {
            let headers = response.headers_mut();
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"marketprism\""),
            );
            // Browsers (the status page) then ask for a user name and an API key as password.
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"marketprism\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
