//! The HTTP client under the `clickhouse` crate: its default, with Nagle's algorithm off.
//!
//! An insert streams its body in chunks and ends with a small terminating chunk; with Nagle
//! on, that last write waits for the server's delayed ACK of the previous one (up to 40 ms
//! on Linux) before ClickHouse even sees the end of the insert. Every insert, one per table
//! and batch, paid it.

use std::time::Duration;

use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// As the `clickhouse` crate's default (60 s keepalive probes; idle connections closed
/// after 2 s, before ClickHouse's own 3 s keep-alive timeout closes them under a request).
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// A `clickhouse::Client` over a plain-HTTP connector with `TCP_NODELAY`.
pub(super) fn client() -> clickhouse::Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(TCP_KEEPALIVE));
    let http = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector);
    clickhouse::Client::with_http_client(http)
}
