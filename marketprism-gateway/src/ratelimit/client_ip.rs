//! The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
//!
//! Each proxy appends the address it was connected from, so the entries a client writes come
//! first (left) and are never believed: walking from the right over trusted proxies stops at
//! the first address a trusted proxy saw, which is the client.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, connect_info::MockConnectInfo},
    http::Request,
};
use ipnet::IpNet;

use crate::{GatewayError, config::LimitsConfig};

/// The proxies whose `X-Forwarded-For` is believed (none: the header is ignored).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Arc<[IpNet]>,
}

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses (`10.1.2.3`).
    ///
    /// ```
    /// use marketprism_gateway::ratelimit::TrustedProxies;
    /// let t = TrustedProxies::new(["10.0.0.0/8", "192.168.1.1"])?;
    /// assert!(t.contains("10.2.3.4".parse()?));
    /// assert!(t.contains("::ffff:10.2.3.4".parse()?)); // IPv4-mapped peers too
    /// assert!(!t.contains("192.168.1.2".parse()?));
    /// assert!(TrustedProxies::new(["10.0.0.0/33"]).is_err());
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<I, S>(cidrs: I) -> Result<Self, GatewayError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = cidrs
            .into_iter()
            .map(|c| {
                let c = c.as_ref().trim();
                c.parse::<IpNet>()
                    .or_else(|_| c.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|e| {
                        GatewayError::config_with(
                            format!(
                                "limits.trusted_proxies: `{c}` is not a CIDR (e.g. 10.0.0.0/8)"
                            ),
                            e,
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies { nets: nets.into() })
    }

    /// What `limits` asks for: `trusted_proxies` when `trust_forwarded_for` is on, else none.
    pub fn from_config(limits: &LimitsConfig) -> Result<Self, GatewayError> {
        let parsed = TrustedProxies::new(&limits.trusted_proxies)?;
        Ok(if limits.trust_forwarded_for {
            parsed
        } else {
            TrustedProxies::default()
        })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values in order).
    ///
    /// ```
    /// use marketprism_gateway::ratelimit::TrustedProxies;
    /// let t = TrustedProxies::new(["10.0.0.0/8"])?;
    /// let lb = "10.0.0.2".parse()?;
    /// // The client wrote `6.6.6.6`; the load balancer appended who connected to it.
    /// assert_eq!(t.resolve(lb, ["6.6.6.6, 203.0.113.9"]), "203.0.113.9".parse::<std::net::IpAddr>()?);
    /// // From an untrusted peer the header is ignored.
    /// assert_eq!(t.resolve("203.0.113.9".parse()?, ["6.6.6.6"]), "203.0.113.9".parse::<std::net::IpAddr>()?);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// ```
    pub fn resolve<'a, I>(&self, peer: IpAddr, forwarded_for: I) -> IpAddr
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: DoubleEndedIterator,
    {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        // Right to left over every header line; a line of several entries as well.
        for line in forwarded_for.into_iter().rev() {
            for entry in line.rsplit(',') {
                let Some(ip) = parse_entry(entry) else {
                    // Not an address a trusted proxy would write: stop at the last known one.
                    return client;
                };
                client = ip;
                if !self.contains(ip) {
                    return client;
                }
            }
        }
        // Every hop is a trusted proxy: the left-most is the best guess.
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The TCP peer (`ConnectInfo` of [`crate::serve`]'s listener or of a `SocketAddr`, or
/// `MockConnectInfo` in router tests), or `None` in socket-less tests.
pub fn peer_ip<B>(req: &Request<B>) -> Option<IpAddr> {
    let extensions = req.extensions();
    extensions
        .get::<ConnectInfo<crate::lenient::PeerAddr>>()
        .map(|c| c.0.0.ip())
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        // What axum's `ConnectInfo` extractor also falls back to (router tests).
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .map(|ip| ip.to_canonical())
}

/// The client's IP: the peer address, or when the peer is one of `trusted` the right-most
/// `X-Forwarded-For` entry that is not ([`TrustedProxies::resolve`]); `None` without a peer
/// address (an unknown peer is never trusted).
pub fn client_ip<B>(req: &Request<B>, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = peer_ip(req)?;
    if trusted.nets.is_empty() {
        return Some(peer);
    }
    let lines: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(trusted.resolve(peer, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn spoofed_left_entries_do_not_matter() {
        let t = TrustedProxies::new(["10.0.0.0/8", "127.0.0.1"]).expect("valid");
        let lb = ip("10.0.0.2");
        for spoofed in ["1.1.1.1, 203.0.113.9", "2.2.2.2, 3.3.3.3, 203.0.113.9"] {
            assert_eq!(t.resolve(lb, [spoofed]), ip("203.0.113.9"));
        }
        // Two trusted hops: skip both.
        assert_eq!(
            t.resolve(lb, ["9.9.9.9", "203.0.113.9, 10.0.0.7"]),
            ip("203.0.113.9")
        );
        // A client pretending to be a trusted proxy only hides behind itself.
        assert_eq!(t.resolve(lb, ["10.9.9.9, 203.0.113.9"]), ip("203.0.113.9"));
        // Garbage stops the walk at the last address a trusted hop wrote.
        assert_eq!(t.resolve(lb, ["junk, 10.0.0.7"]), ip("10.0.0.7"));
        assert_eq!(t.resolve(lb, ["[2001:db8::1]:443"]), ip("2001:db8::1"));
        // No header at all: the peer.
        assert_eq!(t.resolve(lb, []), lb);
    }

    #[test]
    fn untrusted_peers_and_disabled_trust_ignore_the_header() {
        let t = TrustedProxies::new(["10.0.0.0/8"]).expect("valid");
        assert_eq!(
            t.resolve(ip("198.51.100.1"), ["1.1.1.1"]),
            ip("198.51.100.1")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.resolve(ip("10.0.0.2"), ["1.1.1.1"]), ip("10.0.0.2"));
    }

    #[test]
    fn mapped_ipv4_peers_are_canonical() {
        let t = TrustedProxies::new(["10.0.0.0/8"]).expect("valid");
        assert_eq!(
            t.resolve(ip("::ffff:10.0.0.2"), ["203.0.113.9"]),
            ip("203.0.113.9")
        );
    }
}
