//! The crate's error type.

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of `marketprism-discovery`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The backend URL cannot be parsed or has an invalid option.
    #[error("invalid discovery URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No backend is known for this URL scheme.
    #[error(
        "unknown discovery backend scheme `{scheme}` (known: memory, etcd, nats, redis, consul)"
    )]
    UnknownScheme {
        /// The scheme given.
        scheme: String,
    },
    /// The backend exists but this build does not include it.
    #[error(
        "discovery backend `{scheme}` is not compiled in: enable the `{feature}` feature of marketprism-discovery"
    )]
    FeatureDisabled {
        /// The scheme given.
        scheme: String,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// An instance fails validation (bad name, empty host, zero weight, ...).
    #[error("invalid service instance: {reason}")]
    InvalidInstance {
        /// What is wrong.
        reason: String,
    },
    /// The instance is not registered (never was, was deregistered, or its TTL expired).
    #[error("instance `{id}` of service `{service}` is not registered (deregistered or expired)")]
    NotFound {
        /// Service name.
        service: String,
        /// Instance id.
        id: String,
    },
    /// The backend cannot be reached or answered with a transient failure.
    #[error("discovery backend `{backend}` unavailable: {message}")]
    Unavailable {
        /// Backend name (`etcd`, `nats`, ...).
        backend: &'static str,
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend answered something this client does not understand or refuses the request.
    #[error("discovery backend `{backend}` protocol error: {message}")]
    Protocol {
        /// Backend name.
        backend: &'static str,
        /// What is wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend refused the credentials or the permission (wrong password, no user name
    /// where one is required, a role without access). Not retryable: fix the configuration.
    #[error("discovery backend `{backend}` refused access: {message}")]
    Auth {
        /// Backend name.
        backend: &'static str,
        /// What was refused and what to change (never the password).
        message: String,
    },
    /// A watch stream fell behind and lost events; list the service again to resynchronize.
    #[error("watch stream lagged behind and missed {missed} events")]
    Lagged {
        /// How many events were lost (0 when unknown).
        missed: u64,
    },
    /// No healthy instance of the service is known.
    #[error("no healthy instance of service `{service}`")]
    NoHealthyInstance {
        /// Service name.
        service: String,
    },
    /// The registry was shut down.
    #[error("the discovery registry is shut down")]
    Closed,
    /// A stored record is not valid JSON for a [`ServiceInstance`](crate::ServiceInstance).
    #[error("invalid instance record: {0}")]
    Json(#[from] serde_json::Error),
}

impl DiscoveryError {
    /// Whether retrying the failed operation may succeed.
    ///
    /// ```
    /// use marketprism_discovery::DiscoveryError;
    /// let down = DiscoveryError::Unavailable { backend: "etcd", message: "refused".into(), source: None };
    /// assert!(down.is_retryable());
    /// assert!(!DiscoveryError::UnknownScheme { scheme: "zk".into() }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DiscoveryError::Unavailable { .. } | DiscoveryError::Lagged { .. }
        )
    }

    /// `Unavailable` with a source (for backend implementations).
    pub fn unavailable(
        backend: &'static str,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        DiscoveryError::Unavailable {
            backend,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// `Protocol` without a source (for backend implementations).
    pub fn protocol(backend: &'static str, message: impl Into<String>) -> Self {
        DiscoveryError::Protocol {
            backend,
            message: message.into(),
            source: None,
        }
    }

    /// `NotFound` for an instance (for backend implementations).
    pub fn not_found(service: &str, id: &str) -> Self {
        DiscoveryError::NotFound {
            service: service.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// Result with [`DiscoveryError`].
pub type Result<T, E = DiscoveryError> = std::result::Result<T, E>;
