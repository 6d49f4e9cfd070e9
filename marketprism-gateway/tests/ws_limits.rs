//! WebSocket hardening: subjects with control characters, invalid UTF-8 or empty parts are
//! refused with a 400 that says why; one IP may hold `ws.max_connections_per_ip` live
//! connections, more get 429 with a body.

mod common;

use std::{sync::Arc, time::Duration};

use common::{TestGateway, open_config};
use futures::StreamExt;
use marketprism_gateway::{BusEventSource, StaticUpstreams, config::GatewayConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{Error, client::IntoClientRequest},
};

type Ws = WebSocketStream<TcpStream>;

async fn gateway(config: GatewayConfig) -> TestGateway {
    TestGateway::start(
        config,
        Arc::new(StaticUpstreams::new()),
        Arc::new(BusEventSource::default()),
    )
    .await
}

/// The handshake: the open socket, or the HTTP status and body it was refused with.
async fn handshake(gw: &TestGateway, query: &str) -> Result<Ws, (u16, String)> {
    let request = format!("ws://{}/ws/v1/stream?{query}", gw.addr)
        .into_client_request()
        .expect("request");
    let stream = TcpStream::connect(gw.addr).await.expect("connect");
    match client_async(request, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            Err((status, body))
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

async fn refused(gw: &TestGateway, query: &str) -> (u16, String) {
    match handshake(gw, query).await {
        Ok(_) => panic!("{query}: accepted"),
        Err(refusal) => refusal,
    }
}

#[tokio::test]
async fn malformed_subjects_are_refused_with_the_reason() {
    let gw = gateway(open_config()).await;
    for (query, why) in [
        ("subjects=trade.binance.%00.BTC-USDT", "U+0000"),
        ("subjects=trade.binance.%1B.BTC-USDT", "U+001B"),
        ("subjects=trade.binance.BTC-USDT%0D%0A", "U+000D"),
        ("subjects=trade.%FF.BTC-USDT", "UTF-8"),
        ("subjects=trade.%E2%82", "UTF-8"),
        ("subjects=trade.binance..BTC-USDT", "empty token"),
        (
            "subjects=trade.binance.*.BTC-USDT,,book.okx.%3E",
            "empty subject",
        ),
        ("subjects=trade.binance.*.BTC-USDT,", "empty subject"),
    ] {
        let (status, body) = refused(&gw, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(why), "{query}: {body}");
    }
    // Still fine: valid patterns, spaces after commas, percent-encoded wildcards.
    let ws = handshake(&gw, "subjects=trade.binance.*.BTC-USDT,%20book.okx.%3E").await;
    assert!(ws.is_ok());
}

#[tokio::test]
async fn one_ip_holds_at_most_max_connections_per_ip() {
    let mut config = open_config();
    config.ws.max_connections_per_ip = 2;
    let gw = gateway(config).await;
    let query = "subjects=status.%3E";
    let first = handshake(&gw, query).await.expect("first");
    let _second = handshake(&gw, query).await.expect("second");
    let (status, body) = refused(&gw, query).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("per IP"), "{body}");
    // Closing one frees its place (the guard drops once the server sees the close).
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(ws) = handshake(&gw, query).await {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = reopened.expect("a place again after a client left");
    let hello = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("hello")
        .expect("open")
        .expect("frame");
    assert!(hello.to_text().unwrap_or_default().contains("subscribed"));
}

#[test]
fn the_default_cap_is_sixteen() {
    assert_eq!(GatewayConfig::default().ws.max_connections_per_ip, 16);
}
