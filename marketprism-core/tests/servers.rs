//! The real servers the platform's integration tests use answer their own protocols:
//! a guard that `scripts/services.sh` started what later tests rely on.

use marketprism_core::testing::{TestServer, host_port, require_server};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn connect(url: &str) -> TcpStream {
    let addr = host_port(url).expect("url has host:port");
    TcpStream::connect(addr).await.expect("connect")
}

/// Minimal HTTP/1.0 exchange (the server closes the connection after the response).
async fn http(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = connect(url).await;
    let host = host_port(url).expect("host");
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn clickhouse_answers_queries() {
    let Some(url) = require_server(TestServer::ClickHouse) else {
        return;
    };
    let (status, body) = http(&url, "GET", "/?query=SELECT%20version()", "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit()),
        "{body}"
    );
    let (status, body) = http(&url, "POST", "/", "SELECT toDecimal64('1.25', 2) * 2").await;
    assert_eq!((status, body.trim()), (200, "2.50"));
}

#[tokio::test]
async fn redis_answers_ping_and_set() {
    let Some(url) = require_server(TestServer::Redis) else {
        return;
    };
    let mut s = BufReader::new(connect(&url).await);
    s.get_mut()
        .write_all(
            b"PING\r\nSET marketprism:test:servers v EX 5\r\nGET marketprism:test:servers\r\n",
        )
        .await
        .expect("write");
    let mut lines = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        s.read_line(&mut line).await.expect("read");
        lines.push(line.trim_end().to_owned());
    }
    assert_eq!(lines, ["+PONG", "+OK", "$1", "v"]);
}

#[tokio::test]
async fn nats_has_jetstream_and_answers_ping() {
    let Some(url) = require_server(TestServer::Nats) else {
        return;
    };
    let mut s = BufReader::new(connect(&url).await);
    let mut info = String::new();
    s.read_line(&mut info).await.expect("INFO");
    assert!(info.starts_with("INFO "), "{info}");
    let info: serde_json::Value = serde_json::from_str(&info[5..]).expect("INFO json");
    assert_eq!(info["jetstream"], true, "JetStream must be enabled: {info}");
    let version = info["version"].as_str().expect("version");
    let major_minor: Vec<u32> = version
        .split('.')
        .take(2)
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(
        major_minor >= vec![2, 10],
        "NATS {version} is too old for async-nats KV"
    );
    s.get_mut()
        .write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .await
        .expect("write");
    let mut pong = String::new();
    s.read_line(&mut pong).await.expect("PONG");
    assert_eq!(pong.trim_end(), "PONG");
}

#[tokio::test]
async fn etcd_v3_gateway_puts_and_ranges() {
    let Some(url) = require_server(TestServer::Etcd) else {
        return;
    };
    // key "marketprism/test" and value "v" in base64.
    let (status, body) = http(
        &url,
        "POST",
        "/v3/kv/put",
        r#"{"key":"bWFya2V0cHJpc20vdGVzdA==","value":"dg=="}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        &url,
        "POST",
        "/v3/kv/range",
        r#"{"key":"bWFya2V0cHJpc20vdGVzdA=="}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["kvs"][0]["value"], "dg==", "{body}");
}
