//! Issue 16 item 3: a client that does not percent-encode (`subjects=trade.>`) is served,
//! and every refusal on the WebSocket route carries a body that says why (no upgrade
//! headers, no or bad subjects, wrong method, no credentials).

mod common;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use common::{TestGateway, open_config};
use marketprism_gateway::{BusEventSource, Role, StaticUpstreams};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// Sends `head` (request line + headers, without the final blank line) as raw bytes, exactly
/// as a client that does not percent-encode would; returns (status, body).
async fn raw(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let request = format!("{head}Host: {addr}\r\n\r\n");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn every_refusal_says_why() {
    let mut config = open_config()
        .api_key("bot", "live-key", &[Role::Read])
        .api_key("ops", "admin-key", &[Role::Admin]);
    config.auth.enabled = true;
    let gw = TestGateway::start(
        config,
        Arc::new(StaticUpstreams::new()),
        Arc::new(BusEventSource::default()),
    )
    .await;
    let key = "X-API-Key: live-key\r\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("GET /ws/v1/stream?subjects=trade.%3E HTTP/1.1\r\n{key}"),
            "WebSocket handshake",
        ),
        (
            format!("GET /ws/v1/stream HTTP/1.1\r\n{UPGRADE}{key}"),
            "subjects",
        ),
        (
            format!("GET /ws/v1/stream?subjects=trade..x HTTP/1.1\r\n{UPGRADE}{key}"),
            "trade..x",
        ),
        (
            format!(
                "POST /ws/v1/stream?subjects=trade.%3E HTTP/1.1\r\n{UPGRADE}{key}Content-Length: 0\r\n"
            ),
            "role",
        ),
        (
            format!(
                "POST /ws/v1/stream?subjects=trade.%3E HTTP/1.1\r\n{UPGRADE}X-API-Key: admin-key\r\nContent-Length: 0\r\n"
            ),
            "only GET",
        ),
        (
            format!("GET /ws/v1/stream?subjects=trade.%3E HTTP/1.1\r\n{UPGRADE}"),
            "",
        ),
    ];
    // A raw `>` (a client that does not percent-encode) is accepted like `%3E`, instead of
    // the HTTP parser's empty 400.
    let (status, body) = raw(
        gw.addr,
        &format!("GET /ws/v1/stream?subjects=trade.> HTTP/1.1\r\n{UPGRADE}{key}"),
    )
    .await;
    assert_eq!(status, 101, "{body}");
    assert!(body.contains(r#""subjects":["trade.>"]"#), "{body}");
    for (head, why) in cases {
        let (status, body) = raw(gw.addr, &head).await;
        let line = head.lines().next().unwrap_or_default();
        eprintln!("{line} -> {status} {body}");
        assert!((400..500).contains(&status), "{line}: {status} {body}");
        assert!(
            !body.trim().is_empty(),
            "{line}: {status} with an empty body"
        );
        assert!(
            body.contains(why),
            "{line}: {status} {body} does not mention `{why}`"
        );
    }
}
