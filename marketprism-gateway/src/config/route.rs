//! The route table: path prefix → service, longest prefix on whole segments, and the path
//! sent upstream (unchanged, or without the prefix for `strip_prefix` routes).

use serde::{Deserialize, Serialize};

use super::GatewayConfig;

impl GatewayConfig {
    /// The service a path is routed to: the longest matching prefix, matched on whole path
    /// segments (`/api/v1/storage` matches `/api/v1/storage` and `/api/v1/storage/x`, not
    /// `/api/v1/storagex`).
    pub fn service_for(&self, path: &str) -> Option<&str> {
        self.route_for(path).map(|r| r.service.as_str())
    }

    /// The route a path takes: the longest matching prefix, on whole path segments.
    ///
    /// ```
    /// use marketprism_gateway::config::GatewayConfig;
    /// let c = GatewayConfig::default();
    /// let r = c.route_for("/monitoring/api/v1/overview").unwrap();
    /// assert_eq!(r.service, "monitoring-service");
    /// assert_eq!(r.upstream_path("/monitoring/api/v1/overview?x=1"), "/api/v1/overview?x=1");
    /// ```
    pub fn route_for(&self, path: &str) -> Option<&RouteConfig> {
        self.routes
            .iter()
            .filter(|r| {
                let prefix = r.prefix.trim_end_matches('/');
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|r| r.prefix.len())
    }
}

/// One route: a path prefix and the service it goes to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Path prefix, e.g. `/api/v1/storage`.
    pub prefix: String,
    /// Service name in discovery, e.g. `data-storage-service`.
    pub service: String,
    /// Forward the path without the prefix (`/monitoring/api/v1/alerts` → `/api/v1/alerts`,
    /// `/monitoring/` → `/`): a service's own pages, whose relative links then stay under the
    /// prefix. Default false: the path is forwarded unchanged.
    #[serde(default)]
    pub strip_prefix: bool,
}

impl RouteConfig {
    /// The path and query sent upstream for `path_and_query` (which matched this route).
    pub fn upstream_path<'a>(&self, path_and_query: &'a str) -> std::borrow::Cow<'a, str> {
        let prefix = self.prefix.trim_end_matches('/');
        match path_and_query.strip_prefix(prefix) {
            Some(rest) if self.strip_prefix && !prefix.is_empty() => {
                if rest.starts_with('/') {
                    rest.into()
                } else {
                    format!("/{rest}").into()
                }
            }
            _ => path_and_query.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_on_segment_boundary() {
        let c = GatewayConfig::default()
            .route("/api/v1/storage/admin", "storage-admin")
            .route("/api/v1/storage", "storage-2");
        assert_eq!(
            c.service_for("/api/v1/storage/admin/x"),
            Some("storage-admin")
        );
        assert_eq!(c.service_for("/api/v1/storage"), Some("storage-2"));
        assert_eq!(c.service_for("/api/v1/storage/hot"), Some("storage-2"));
        assert_eq!(c.service_for("/api/v2/storage"), None);
    }

    #[test]
    fn a_stripping_route_forwards_the_rest_of_the_path() {
        let c = GatewayConfig::default();
        let page = |p: &str| {
            let r = c
                .route_for(p.split('?').next().unwrap_or(p))
                .expect("route");
            (r.service.clone(), r.upstream_path(p).into_owned())
        };
        let mon = |p: &str| ("monitoring-service".to_owned(), p.to_owned());
        assert_eq!(page("/monitoring"), mon("/"));
        assert_eq!(page("/monitoring?x=1"), mon("/?x=1"));
        assert_eq!(page("/monitoring/"), mon("/"));
        assert_eq!(page("/monitoring/api/v1/history"), mon("/api/v1/history"));
        assert_eq!(page("/api/v1/history"), mon("/api/v1/history"));
        assert_eq!(c.route_for("/monitoringx"), None);
        // Ordinary routes forward the path unchanged.
        let storage = c.route_for("/api/v1/storage/x").expect("route");
        assert_eq!(
            storage.upstream_path("/api/v1/storage/x?a=b"),
            "/api/v1/storage/x?a=b"
        );
    }
}
