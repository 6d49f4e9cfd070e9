//! Consul over HTTPS (`consul+https://`): the client trusts the system's roots plus the PEM
//! certificates given (`ca_file`).

use std::time::Duration;

use super::{ConsulBackend, NAME};
use crate::{
    error::{DiscoveryError, Result},
    instance::validate_name,
};

impl ConsulBackend {
    /// A client of the Consul agent's HTTPS endpoint (`https://127.0.0.1:8501`), trusting the
    /// system's roots plus the PEM certificates in `ca_pem` (a private CA, a self-signed
    /// agent certificate).
    ///
    /// ```
    /// use marketprism_discovery::consul::ConsulBackend;
    /// let consul = ConsulBackend::with_tls("https://127.0.0.1:8501", "default", None)?;
    /// assert_eq!(consul.endpoint(), "https://127.0.0.1:8501");
    /// assert!(ConsulBackend::with_tls("https://h:8501", "default", Some(b"not pem")).is_err());
    /// # Ok::<(), marketprism_discovery::DiscoveryError>(())
    /// ```
    pub fn with_tls(endpoint: &str, namespace: &str, ca_pem: Option<&[u8]>) -> Result<Self> {
        validate_name("namespace", namespace)?;
        let mut builder = crate::http_client_builder()
            .connect_timeout(Duration::from_secs(3))
            .https_only(true);
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| DiscoveryError::InvalidUrl {
                    url: endpoint.to_owned(),
                    reason: "ca_file holds no PEM certificate".to_owned(),
                })?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| DiscoveryError::unavailable(NAME, "cannot build HTTPS client", e))?;
        Ok(Self {
            http,
            base: endpoint.trim_end_matches('/').to_owned(),
            token: None,
            dc: None,
            namespace: namespace.to_owned(),
        })
    }
}
