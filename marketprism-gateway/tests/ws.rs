//! Live WebSocket fan-out: clients receive the events of their subjects, from the in-process
//! bus and from real NATS; a client that stops reading is disconnected with the close reason
//! while the others keep receiving everything.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::{TestGateway, open_config};
use futures::StreamExt;
use marketprism_core::{
    bus::Bus,
    model::{ExchangeId, MarketEvent, MarketType, Side, Symbol, Trade},
};
use marketprism_gateway::{
    BusEventSource, EventSource, Role, StaticUpstreams, config::GatewayConfig,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{Message, client::IntoClientRequest},
};

type Ws = WebSocketStream<TcpStream>;

fn trade(exchange: ExchangeId, symbol: &str, id: usize) -> MarketEvent {
    MarketEvent::Trade(Trade {
        exchange,
        market: MarketType::Spot,
        symbol: Symbol::new(symbol),
        trade_id: id.to_string().into(),
        side: Side::Buy,
        price: rust_decimal::Decimal::new(6_400_012, 2),
        size: rust_decimal::Decimal::new(5, 1),
        exchange_ts: 1_700_000_000_000_000_000,
        local_ts: 1_700_000_000_000_000_001,
    })
}

/// A symbol unique to this run (keeps parallel runs on one NATS server apart).
fn run_symbol(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}{nanos}-USDT")
}

fn config() -> GatewayConfig {
    let mut c = open_config().api_key("bot", "live-key", &[Role::Read]);
    c.auth.enabled = true;
    c.ws.client_buffer = 256;
    c.ws.close_timeout_ms = 20_000;
    c
}

/// Connects with the API key; `stalled` shrinks the receive buffer so a client that does
/// not read backs up quickly.
async fn connect(addr: SocketAddr, subjects: &str, stalled: bool) -> Ws {
    let mut request = format!("ws://{addr}/ws/v1/stream?subjects={subjects}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("x-api-key", "live-key".parse().expect("header"));
    let socket = TcpSocket::new_v4().expect("socket");
    if stalled {
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
    }
    let stream = socket.connect(addr).await.expect("connect");
    let (ws, _) = client_async(request, stream).await.expect("handshake");
    ws
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("open")
            .expect("frame");
        match msg {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads `count` events, counting them in `progress` as they arrive; returns their JSON.
fn reader(
    mut ws: Ws,
    count: usize,
    progress: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Vec<serde_json::Value>> {
    tokio::spawn(async move {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let text = next_text(&mut ws).await;
            out.push(serde_json::from_str(&text).expect("event JSON"));
            progress.fetch_add(1, Ordering::SeqCst);
        }
        let _ = ws.close(None).await;
        out
    })
}

/// Reads what the stalled client was sent: events, then the close frame.
async fn drain_until_close(ws: &mut Ws) -> (usize, Option<(u16, String)>) {
    let mut events = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => events += 1,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (
                    events,
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                );
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return (events, None),
            Err(_) => panic!("no close frame within 15 s"),
        }
    }
}

/// Publishes `n` events through `publish`, never more than 200 ahead of the fast reader, so
/// only the stalled client can fall behind.
async fn paced<F, Fut>(n: usize, fast: &AtomicUsize, mut publish: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..n {
        while i.saturating_sub(fast.load(Ordering::SeqCst)) > 200 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        publish(i).await;
    }
}

/// Keeps publishing batches (past what the fast client needed) until the gateway reports the
/// stalled client disconnected, so the test does not depend on kernel socket buffer sizes.
async fn until_slow_disconnect<F, Fut>(gw: &TestGateway, mut publish_batch: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let client = common::http();
    for batch in 0..400 {
        let status: serde_json::Value = client
            .get(format!("{}/_gateway/status", gw.url))
            .header("x-api-key", "live-key")
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        if status["ws_slow_disconnects"].as_u64() > Some(0) {
            return;
        }
        publish_batch(batch).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the stalled client was never disconnected");
}

#[tokio::test]
async fn bus_events_reach_subscribers_and_a_stalled_client_is_dropped() {
    const N: usize = 20_000;
    let bus = Bus::new();
    let events: Arc<dyn EventSource> = Arc::new(BusEventSource::new(bus.clone()));
    let gw = TestGateway::start(config(), Arc::new(StaticUpstreams::new()), events).await;

    let mut fast = connect(gw.addr, "trade.binance.*.BTC-USDT", false).await;
    let mut okx = connect(gw.addr, "trade.okx.%3E", false).await;
    let mut stalled = connect(gw.addr, "trade.binance.*.BTC-USDT", true).await;
    for ws in [&mut fast, &mut okx] {
        let hello: serde_json::Value = serde_json::from_str(&next_text(ws).await).expect("json");
        assert_eq!(hello["type"], "subscribed");
    }
    assert_eq!(
        bus.subscriber_count(),
        3,
        "subscriptions are live after the handshake"
    );

    let fast_progress = Arc::new(AtomicUsize::new(0));
    let fast_reader = reader(fast, N, Arc::clone(&fast_progress));
    let okx_reader = reader(okx, N / 100, Arc::new(AtomicUsize::new(0)));

    paced(N, &fast_progress, |i| {
        let bus = bus.clone();
        async move {
            bus.publish(trade(ExchangeId::BINANCE, "BTC-USDT", i))
                .await
                .expect("publish");
            bus.publish(trade(ExchangeId::BINANCE, "ETH-USDT", i))
                .await
                .expect("publish");
            if i % 100 == 0 {
                bus.publish(trade(ExchangeId::OKX, "BTC-USDT", i))
                    .await
                    .expect("publish");
            }
        }
    })
    .await;

    let got = tokio::time::timeout(Duration::from_secs(60), fast_reader)
        .await
        .expect("fast client done in time")
        .expect("join");
    assert_eq!(got.len(), N);
    for (i, event) in got.iter().enumerate() {
        assert_eq!(event["type"], "trade");
        assert_eq!(event["symbol"], "BTC-USDT");
        assert_eq!(event["exchange"], "binance");
        assert_eq!(event["trade_id"], i.to_string(), "in order, none missing");
    }
    assert_eq!(got[0]["price"], "64000.12", "exact decimals on the wire");
    let okx_got = okx_reader.await.expect("join");
    assert!(okx_got.iter().all(|e| e["exchange"] == "okx"));
    until_slow_disconnect(&gw, |b| {
        let bus = bus.clone();
        async move {
            for i in 0..500 {
                let _ = bus.try_publish(trade(ExchangeId::BINANCE, "BTC-USDT", N + b * 500 + i));
            }
        }
    })
    .await;

    let (received, close) = drain_until_close(&mut stalled).await;
    assert_eq!(
        close,
        Some((1008, "client too slow".to_owned())),
        "stalled client closed with the reason after {received} events"
    );
    assert!(
        received < N,
        "the stalled client did not get everything ({received})"
    );
    assert_eq!(bus.subscriber_count(), 0, "every subscription released");
}

#[cfg(feature = "nats")]
#[tokio::test]
async fn nats_events_reach_subscribers_and_a_stalled_client_is_dropped() {
    use marketprism_core::{
        subject::subject_of,
        testing::{TestServer, require_server},
    };
    let Some(url) = require_server(TestServer::Nats) else {
        return;
    };
    const N: usize = 10_000;
    let client = async_nats::connect(&url).await.expect("connect NATS");
    let source: Arc<dyn EventSource> =
        Arc::new(marketprism_gateway::NatsEventSource::new(client.clone()));
    let gw = TestGateway::start(config(), Arc::new(StaticUpstreams::new()), source).await;
    let symbol = run_symbol("GW");
    let pattern = format!("trade.binance.*.{symbol}");
    let mut fast = connect(gw.addr, &pattern, false).await;
    let mut stalled = connect(gw.addr, &pattern, true).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&next_text(&mut fast).await).expect("json")["type"],
        "subscribed"
    );
    let fast_progress = Arc::new(AtomicUsize::new(0));
    let fast_reader = reader(fast, N, Arc::clone(&fast_progress));

    let mut first_payload = None;
    paced(N, &fast_progress, |i| {
        let client = client.clone();
        let event = trade(ExchangeId::BINANCE, &symbol, i);
        let other = trade(ExchangeId::BINANCE, "NOT-MINE", i);
        let payload = serde_json::to_vec(&event).expect("json");
        if i == 0 {
            first_payload = Some(payload.clone());
        }
        async move {
            client
                .publish(subject_of(&event), payload.into())
                .await
                .expect("publish");
            client
                .publish(
                    subject_of(&other),
                    serde_json::to_vec(&other).expect("json").into(),
                )
                .await
                .expect("publish");
        }
    })
    .await;
    client.flush().await.expect("flush");

    let got = tokio::time::timeout(Duration::from_secs(60), fast_reader)
        .await
        .expect("fast client done in time")
        .expect("join");
    assert_eq!(got.len(), N);
    for (i, event) in got.iter().enumerate() {
        assert_eq!(event["symbol"], symbol.as_str());
        assert_eq!(event["trade_id"], i.to_string());
    }
    let first: serde_json::Value =
        serde_json::from_slice(&first_payload.expect("published")).expect("json");
    assert_eq!(got[0], first, "the payload is forwarded as published");
    until_slow_disconnect(&gw, |b| {
        let client = client.clone();
        let symbol = symbol.clone();
        async move {
            for i in 0..500 {
                let event = trade(ExchangeId::BINANCE, &symbol, N + b * 500 + i);
                let payload = serde_json::to_vec(&event).expect("json");
                client
                    .publish(subject_of(&event), payload.into())
                    .await
                    .expect("publish");
            }
            client.flush().await.expect("flush");
        }
    })
    .await;

    let (received, close) = drain_until_close(&mut stalled).await;
    assert_eq!(
        close,
        Some((1008, "client too slow".to_owned())),
        "after {received} events"
    );
}

/// A NATS message carrying several events (JSON lines with the count header, as the
/// collector publishes under load) reaches a client as one frame per event, in order.
#[cfg(feature = "nats")]
#[tokio::test]
async fn nats_several_event_messages_reach_clients_one_event_per_frame() {
    use marketprism_core::{
        framing::{EVENTS_HEADER, push_line},
        subject::subject_of,
        testing::{TestServer, require_server},
    };
    let Some(url) = require_server(TestServer::Nats) else {
        return;
    };
    let client = async_nats::connect(&url).await.expect("connect NATS");
    let source: Arc<dyn EventSource> =
        Arc::new(marketprism_gateway::NatsEventSource::new(client.clone()));
    let gw = TestGateway::start(config(), Arc::new(StaticUpstreams::new()), source).await;
    let symbol = run_symbol("GWB");
    let mut ws = connect(gw.addr, &format!("trade.binance.*.{symbol}"), false).await;
    assert!(next_text(&mut ws).await.contains("subscribed"));
    let events: Vec<MarketEvent> = (0..5)
        .map(|i| trade(ExchangeId::BINANCE, &symbol, i))
        .collect();
    let json = |e: &MarketEvent| serde_json::to_vec(e).expect("json");
    let subject = subject_of(&events[0]);
    client
        .publish(subject.clone(), json(&events[0]).into())
        .await
        .expect("publish one");
    let mut lines = Vec::new();
    for e in &events[1..4] {
        push_line(&mut lines, &json(e));
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(EVENTS_HEADER, "3");
    client
        .publish_with_headers(subject.clone(), headers, lines.into())
        .await
        .expect("publish three");
    client
        .publish(subject, json(&events[4]).into())
        .await
        .expect("publish one more");
    client.flush().await.expect("flush");
    for e in &events {
        let got: serde_json::Value =
            serde_json::from_str(&next_text(&mut ws).await).expect("json frame");
        let want: serde_json::Value = serde_json::from_slice(&json(e)).expect("json");
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn live_clients_are_closed_with_1001_on_shutdown() {
    let gw = TestGateway::start(
        config(),
        Arc::new(StaticUpstreams::new()),
        Arc::new(BusEventSource::default()),
    )
    .await;
    let mut ws = connect(gw.addr, "status.%3E", false).await;
    assert!(next_text(&mut ws).await.contains("subscribed"));
    drop(gw);
    let (_, close) = drain_until_close(&mut ws).await;
    assert_eq!(close, Some((1001, "gateway shutting down".to_owned())));
}

#[tokio::test]
async fn bad_subjects_and_missing_credentials_fail_the_handshake() {
    let gw = TestGateway::start(
        config(),
        Arc::new(StaticUpstreams::new()),
        Arc::new(BusEventSource::default()),
    )
    .await;
    let handshake_status = |query: &'static str, key: bool| {
        let addr = gw.addr;
        async move {
            let mut request = format!("ws://{addr}/ws/v1/stream{query}")
                .into_client_request()
                .expect("request");
            if key {
                request
                    .headers_mut()
                    .insert("x-api-key", "live-key".parse().expect("header"));
            }
            let stream = TcpStream::connect(addr).await.expect("connect");
            match client_async(request, stream).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    response.status().as_u16()
                }
                Err(e) => panic!("unexpected error {e}"),
                Ok(_) => 101,
            }
        }
    };
    assert_eq!(handshake_status("", true).await, 400);
    assert_eq!(handshake_status("?subjects=a..b", true).await, 400);
    assert_eq!(handshake_status("?subjects=a.%3E.b", true).await, 400);
    assert_eq!(handshake_status("?subjects=trade.%3E", false).await, 401);
    assert_eq!(handshake_status("?subjects=trade.%3E", true).await, 101);
}

#[tokio::test]
async fn a_user_exchange_streams_like_the_built_ins() {
    let bus = Bus::new();
    let events: Arc<dyn EventSource> = Arc::new(BusEventSource::new(bus.clone()));
    let gw = TestGateway::start(config(), Arc::new(StaticUpstreams::new()), events).await;
    let bybit = ExchangeId::new("bybit").expect("valid");
    let mut ws = connect(gw.addr, "trade.bybit.%3E", false).await;
    let hello: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).expect("json");
    assert_eq!(hello["type"], "subscribed");
    bus.publish(trade(ExchangeId::BINANCE, "BTC-USDT", 1))
        .await
        .expect("publish");
    bus.publish(trade(bybit, "BTC-USDT", 2))
        .await
        .expect("publish");
    let got: MarketEvent = serde_json::from_str(&next_text(&mut ws).await).expect("event");
    assert_eq!(got, trade(bybit, "BTC-USDT", 2));
    drop(gw);
}
