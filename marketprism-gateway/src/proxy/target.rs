//! Where an instance's requests go — its base URL's scheme, authority, path and the `Host`
//! header — parsed once per instance rather than on every request.
//!
//! Per request the upstream URI is then put together from parsed parts: the client's
//! path and query is reused as hyper parsed it (when the route forwards it unchanged and the
//! base URL has no path), and the `Host` header is the cached value, which hyper-util's client
//! would otherwise format (`host:port`) for every request.

use axum::http::{
    HeaderValue, Uri,
    uri::{Authority, Parts, PathAndQuery, Scheme},
};

/// An instance's parsed base URL.
#[derive(Debug)]
pub(crate) struct Target {
    /// The base URL this was parsed from.
    base_url: String,
    scheme: Scheme,
    authority: Authority,
    /// The base URL's path without its trailing `/` (empty for none).
    base_path: String,
    /// `Host` as hyper-util's client sets it: the host, and the port unless the scheme's
    /// default.
    host: HeaderValue,
}

impl Target {
    /// `None` for a base URL without a scheme or an authority: such a URL is handled as
    /// before, by parsing the whole string per request (which then fails the same way).
    pub(crate) fn parse(base_url: &str) -> Option<Target> {
        let uri: Uri = base_url.parse().ok()?;
        let scheme = uri.scheme()?.clone();
        let authority = uri.authority()?.clone();
        let secure = matches!(scheme.as_str(), "https" | "wss");
        let host = match authority.port_u16() {
            Some(443) if secure => HeaderValue::from_str(authority.host()),
            Some(80) if !secure => HeaderValue::from_str(authority.host()),
            Some(port) => HeaderValue::from_str(&format!("{}:{port}", authority.host())),
            None => HeaderValue::from_str(authority.host()),
        }
        .ok()?;
        Some(Target {
            base_url: base_url.to_owned(),
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            host,
        })
    }

    /// Whether this was parsed from `base_url`.
    pub(crate) fn is_for(&self, base_url: &str) -> bool {
        self.base_url == base_url
    }

    /// The `Host` header for requests to this instance.
    pub(crate) fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// The upstream URI: this base followed by `path_and_query`. `original` is the client's,
    /// reused without parsing when `path_and_query` is it (unchanged by the route) and the
    /// base has no path.
    pub(crate) fn uri(
        &self,
        original: Option<&PathAndQuery>,
        path_and_query: &str,
    ) -> Result<Uri, axum::http::Error> {
        let pq = match original {
            Some(o) if self.base_path.is_empty() && o.as_str() == path_and_query => o.clone(),
            _ if self.base_path.is_empty() => PathAndQuery::try_from(path_and_query)?,
            _ => {
                let mut s = String::with_capacity(self.base_path.len() + path_and_query.len());
                s.push_str(&self.base_path);
                s.push_str(path_and_query);
                PathAndQuery::try_from(s)?
            }
        };
        let mut parts = Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(pq);
        Ok(Uri::from_parts(parts)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_and_host_as_the_whole_string_would_give() {
        let pq = PathAndQuery::from_static("/api/v1/storage/x?limit=5");
        for (base, uri, host) in [
            (
                "http://127.0.0.1:8082",
                "http://127.0.0.1:8082/api/v1/storage/x?limit=5",
                "127.0.0.1:8082",
            ),
            (
                "http://127.0.0.1:8082/",
                "http://127.0.0.1:8082/api/v1/storage/x?limit=5",
                "127.0.0.1:8082",
            ),
            (
                "http://storage:80/base/",
                "http://storage:80/base/api/v1/storage/x?limit=5",
                "storage",
            ),
            (
                "https://storage:443",
                "https://storage:443/api/v1/storage/x?limit=5",
                "storage",
            ),
            (
                "https://storage",
                "https://storage/api/v1/storage/x?limit=5",
                "storage",
            ),
            (
                "https://storage:8443",
                "https://storage:8443/api/v1/storage/x?limit=5",
                "storage:8443",
            ),
        ] {
            let t = Target::parse(base).expect("parses");
            assert!(t.is_for(base));
            assert_eq!(t.uri(Some(&pq), pq.as_str()).expect("uri"), uri, "{base}");
            assert_eq!(t.uri(None, pq.as_str()).expect("uri"), uri, "{base}");
            assert_eq!(t.host(), host, "{base}");
        }
        let t = Target::parse("http://127.0.0.1:1").expect("parses");
        // A rewritten (stripped) path is parsed.
        assert_eq!(
            t.uri(Some(&pq), "/x?y=1").expect("uri"),
            "http://127.0.0.1:1/x?y=1"
        );
        assert!(Target::parse("not a url").is_none());
        assert!(Target::parse("/only/a/path").is_none());
    }
}
