//! End-to-end tests: a simulator on 127.0.0.1:0 per test, driven by a raw WebSocket client
//! and a minimal HTTP/1.1 client.
#![allow(clippy::unwrap_used)]

mod binance;
mod deribit;
mod okx;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::{SimConfig, SimHandle};

pub(super) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn start(config: SimConfig) -> SimHandle {
    SimHandle::start(config).await.unwrap()
}

pub(super) async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// What the client saw next.
#[derive(Debug)]
pub(super) enum Seen {
    Json(Value),
    Text(String),
    Ping,
    Close(Option<u16>),
    /// Connection ended without a close frame.
    Dropped,
    Timeout,
}

pub(super) async fn next(ws: &mut Ws, wait: Duration) -> Seen {
    match tokio::time::timeout(wait, ws.next()).await {
        Err(_) => Seen::Timeout,
        Ok(None) | Ok(Some(Err(_))) => Seen::Dropped,
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str(t.as_str()) {
            Ok(v) => Seen::Json(v),
            Err(_) => Seen::Text(t.to_string()),
        },
        Ok(Some(Ok(Message::Ping(_)))) => Seen::Ping,
        Ok(Some(Ok(Message::Close(f)))) => Seen::Close(f.map(|f| u16::from(f.code))),
        Ok(Some(Ok(_))) => Seen::Text(String::new()),
    }
}

/// Next JSON frame satisfying `pred` (others skipped), within 5 s.
pub(super) async fn wait_json(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next(ws, left).await {
            Seen::Json(v) if pred(&v) => return v,
            Seen::Json(_) | Seen::Ping | Seen::Text(_) => {}
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

/// Every JSON frame until `quiet` passes without one.
pub(super) async fn drain(ws: &mut Ws, quiet: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        match next(ws, quiet).await {
            Seen::Json(v) => out.push(v),
            Seen::Ping | Seen::Text(_) => {}
            _ => return out,
        }
    }
}

/// Every JSON frame received during `dur`.
pub(super) async fn collect_for(ws: &mut Ws, dur: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + dur;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next(ws, left).await {
            Seen::Json(v) => out.push(v),
            Seen::Ping | Seen::Text(_) => {}
            _ => return out,
        }
    }
}

pub(super) async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// A minimal HTTP/1.1 request: (status, lower-case headers, body).
pub(super) async fn http(
    sim: &SimHandle,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, BTreeMap<String, String>, String) {
    let mut s = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

pub(super) async fn get_json(sim: &SimHandle, path: &str) -> Value {
    let (status, _, body) = http(sim, "GET", path, "").await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

pub(super) async fn post(sim: &SimHandle, path: &str, body: Value) -> Value {
    let (status, _, body) = http(sim, "POST", path, &body.to_string()).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

pub(super) fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

/// A client-side book: price → size.
#[derive(Debug, Default)]
pub(super) struct Book {
    pub(super) bids: BTreeMap<Decimal, Decimal>,
    pub(super) asks: BTreeMap<Decimal, Decimal>,
}

impl Book {
    pub(super) fn set(side: &mut BTreeMap<Decimal, Decimal>, price: Decimal, size: Decimal) {
        if size.is_zero() {
            side.remove(&price);
        } else {
            side.insert(price, size);
        }
    }

    /// Applies `[[price, size], …]` levels (Binance / OKX arrays).
    pub(super) fn apply_levels(side: &mut BTreeMap<Decimal, Decimal>, levels: &Value) {
        for l in levels.as_array().unwrap() {
            Self::set(side, dec(&l[0]), dec(&l[1]));
        }
    }

    /// Asserts equality with `/_sim/book`.
    pub(super) async fn assert_matches(&self, sim: &SimHandle, symbol: &str) -> u64 {
        let truth = get_json(sim, &format!("/_sim/book?symbol={symbol}")).await;
        let side = |v: &Value| -> BTreeMap<Decimal, Decimal> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|l| (dec(&l[0]), dec(&l[1])))
                .collect()
        };
        assert_eq!(self.bids, side(&truth["bids"]), "bids differ");
        assert_eq!(self.asks, side(&truth["asks"]), "asks differ");
        assert!(
            self.bids.keys().next_back() < self.asks.keys().next(),
            "crossed"
        );
        truth["sequence"].as_u64().unwrap()
    }
}
