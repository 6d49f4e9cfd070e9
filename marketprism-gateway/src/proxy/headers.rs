//! Header rewriting both ways: hop-by-hop headers removed (RFC 9110 §7.6.1), client
//! credentials replaced by the authenticated identity and the gateway's service credential,
//! `X-Forwarded-*` added.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use marketprism_core::runtime::SERVICE_TOKEN_HEADER;

use crate::auth::{AuthMethod, Principal};

/// Headers that describe one connection, never forwarded.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_PRINCIPAL: HeaderName = HeaderName::from_static("x-marketprism-principal");
const X_ROLES: HeaderName = HeaderName::from_static("x-marketprism-roles");

const NOT_FORWARDED_LEN: usize = 15;

/// Headers a client may send that never reach an upstream: hop-by-hop (the first eight, as
/// [`HOP_BY_HOP`]), `Host`, `Content-Length` (the client sets it from the body), credentials,
/// and the identity and service credential that only the gateway sets.
static NOT_FORWARDED: [HeaderName; NOT_FORWARDED_LEN] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::AUTHORIZATION,
    X_API_KEY,
    X_PRINCIPAL,
    X_ROLES,
    SERVICE_TOKEN_HEADER,
];

/// Removes those of `names` that `headers` has. The names present are found in one pass
/// over the (few) headers, comparing names; removing every listed name instead costs a hash
/// lookup each, hits or not.
fn remove_present(headers: &mut HeaderMap, names: &[HeaderName]) {
    let mut present = [false; NOT_FORWARDED_LEN];
    let mut any = false;
    for name in headers.keys() {
        if let Some(p) = names
            .iter()
            .position(|n| n == name)
            .and_then(|i| present.get_mut(i))
        {
            *p = true;
            any = true;
        }
    }
    if any {
        for (name, _) in names.iter().zip(present).filter(|(_, p)| *p) {
            headers.remove(name);
        }
    }
}

/// Removes the headers that `Connection` names (hop-by-hop too). Collected first (the map is
/// borrowed); the common case, no `Connection` header, allocates nothing.
fn remove_listed_in_connection(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
}

/// Removes hop-by-hop headers, including those named in `Connection`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    remove_listed_in_connection(headers);
    remove_present(headers, &HOP_BY_HOP);
}

/// Turns the client's request headers into the upstream's, in place (the request is owned,
/// so nothing is copied): hop-by-hop, `Host`, `Content-Length` (the client sets it from the
/// body) and credentials removed; identity, the service credential (`service_token`, sent
/// instead of any the client put in that header) and `X-Forwarded-*` set by the gateway.
/// `peer_ip` is the address of the TCP peer, appended to `X-Forwarded-For`.
pub(crate) fn upstream_headers(
    mut headers: HeaderMap,
    principal: Option<&Principal>,
    peer_ip: Option<std::net::IpAddr>,
    service_token: Option<&HeaderValue>,
) -> HeaderMap {
    // Read before stripping: a `Connection` header must not hide them.
    let host = headers.get(header::HOST).cloned();
    let prior_forwarded_for = headers.get(&X_FORWARDED_FOR).cloned();
    remove_listed_in_connection(&mut headers);
    // Only the gateway sets identity and the service credential: a client's are dropped,
    // never forwarded as a guess.
    remove_present(&mut headers, &NOT_FORWARDED);
    if let Some(token) = service_token {
        headers.insert(SERVICE_TOKEN_HEADER, token.clone());
    }
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if let Some(ip) = peer_ip {
        let prior = prior_forwarded_for.as_ref().and_then(|v| v.to_str().ok());
        let mut value = String::with_capacity(prior.map_or(0, |p| p.len() + 2) + 15);
        if let Some(prior) = prior {
            value.push_str(prior);
            value.push_str(", ");
        }
        push_ip(&mut value, ip);
        // From a String: the header value takes the buffer without copying it.
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    if let Some(p) = principal.filter(|p| p.method != AuthMethod::Anonymous) {
        if let Ok(v) = HeaderValue::from_str(&p.name) {
            headers.insert(X_PRINCIPAL, v);
        }
        let mut roles = String::with_capacity(16);
        for (i, r) in p.roles.iter().enumerate() {
            if i > 0 {
                roles.push(',');
            }
            roles.push_str(r.as_str());
        }
        if let Ok(v) = HeaderValue::try_from(roles) {
            headers.insert(X_ROLES, v);
        }
    }
    headers
}

/// Appends `ip` as `Display` writes it; IPv4 (the common case) without the formatting
/// machinery, which cost more than the rest of the header rewriting.
fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ip_text_is_display() {
        for ip in [
            "0.0.0.0",
            "10.0.0.1",
            "127.0.0.1",
            "192.168.100.255",
            "255.9.99.100",
            "::1",
            "2001:db8::7",
        ] {
            let ip: std::net::IpAddr = ip.parse().expect("ip");
            let mut s = String::new();
            super::push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }

    use super::*;
    use crate::Role;

    #[test]
    fn hop_by_hop_credentials_and_spoofed_identity_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-custom-hop"),
        );
        h.insert("x-custom-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret"),
        );
        h.insert("x-api-key", HeaderValue::from_static("secret"));
        h.insert("x-marketprism-principal", HeaderValue::from_static("root"));
        h.insert("x-request-id", HeaderValue::from_static("abc"));
        h.insert(header::HOST, HeaderValue::from_static("gw:8080"));
        h.insert(
            "x-marketprism-service-token",
            HeaderValue::from_static("client-guess"),
        );
        let out = upstream_headers(h, None, "10.0.0.1".parse().ok(), None);
        for gone in [
            "connection",
            "x-custom-hop",
            "keep-alive",
            "authorization",
            "x-api-key",
            "x-marketprism-principal",
            "x-marketprism-service-token",
            "host",
        ] {
            assert!(!out.contains_key(gone), "{gone} should be removed");
        }
        assert_eq!(out["x-request-id"], "abc");
        assert_eq!(out["x-forwarded-for"], "10.0.0.1");
        assert_eq!(out["x-forwarded-host"], "gw:8080");
    }

    #[test]
    fn identity_and_forwarded_chain_are_set() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        // Listing a header in `Connection` does not drop the client's chain.
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("x-forwarded-for"),
        );
        let p = Principal {
            name: "ops".into(),
            roles: vec![Role::Read, Role::Admin],
            method: AuthMethod::ApiKey,
        };
        h.insert(
            "x-marketprism-service-token",
            HeaderValue::from_static("client-guess"),
        );
        let token = HeaderValue::from_static("configured-service-token");
        let out = upstream_headers(h, Some(&p), "10.0.0.1".parse().ok(), Some(&token));
        assert_eq!(
            out["x-marketprism-service-token"],
            "configured-service-token"
        );
        assert_eq!(out["x-forwarded-for"], "1.2.3.4, 10.0.0.1");
        assert_eq!(out["x-marketprism-principal"], "ops");
        assert_eq!(out["x-marketprism-roles"], "read,admin");
        assert_eq!(out["x-forwarded-proto"], "http");
    }
}
