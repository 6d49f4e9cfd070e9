//! A local Bybit v5 spot server speaking the documented protocol
//! (<https://bybit-exchange.github.io/docs/v5/ws/connect>, `.../websocket/public/trade`,
//! `.../websocket/public/orderbook`, `.../market/instrument`): WebSocket subscribe/unsubscribe
//! with acks, `{"op":"ping"}` answered, a snapshot on every `orderbook.50` subscription, deltas
//! with `u` + 1, trades; REST instruments on axum. The test drives it step by step, so what
//! it sent is known exactly; `gap` drops the next delta (the client sees `u` jump).
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::{
    net::TcpListener,
    sync::{Mutex, mpsc},
};
use tokio_tungstenite::tungstenite::Message;

/// One symbol's true book.
#[derive(Default)]
struct Truth {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    u: u64,
    skip_next: bool,
}

struct Client {
    tx: mpsc::Sender<String>,
    topics: HashSet<String>,
}

#[derive(Default)]
struct State {
    books: HashMap<String, Truth>,
    clients: HashMap<u64, Client>,
    next_client: u64,
    subscribes: HashMap<String, usize>,
    trades_sent: HashMap<String, Vec<String>>,
    pings: usize,
    rng: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        // xorshift64: deterministic and good enough for a test market.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    async fn broadcast(&self, topic: &str, frame: String) {
        for c in self.clients.values().filter(|c| c.topics.contains(topic)) {
            let _ = c.tx.send(frame.clone()).await;
        }
    }
}

/// The running server.
pub struct BybitServer {
    ws: std::net::SocketAddr,
    http: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

fn levels(side: &BTreeMap<Decimal, Decimal>, best_first_desc: bool) -> Vec<[String; 2]> {
    let row = |(p, s): (&Decimal, &Decimal)| [p.to_string(), s.to_string()];
    if best_first_desc {
        side.iter().rev().map(row).collect()
    } else {
        side.iter().map(row).collect()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn book_frame(
    symbol: &str,
    kind: &str,
    t: &Truth,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
) -> String {
    let ts = now_ms();
    json!({
        "topic": format!("orderbook.50.{symbol}"), "type": kind, "ts": ts,
        "data": { "s": symbol, "b": bids, "a": asks, "u": t.u, "seq": 7_961_638_724_u64 + t.u },
        "cts": ts - 2
    })
    .to_string()
}

impl BybitServer {
    /// Starts on free loopback ports with `symbols` (`BTCUSDT`, ...), each book seeded with
    /// ten levels a side around 100.
    pub async fn start(symbols: &[&str]) -> BybitServer {
        let mut state = State {
            rng: 0x9E37_79B9_7F4A_7C15,
            ..State::default()
        };
        for s in symbols {
            let mut t = Truth {
                u: 1000,
                ..Truth::default()
            };
            for i in 0..10 {
                t.bids
                    .insert(Decimal::new(1000 - 5 * i, 1), Decimal::new(1 + i, 2));
                t.asks
                    .insert(Decimal::new(1010 + 5 * i, 1), Decimal::new(2 + i, 2));
            }
            state.books.insert((*s).to_owned(), t);
        }
        let state = Arc::new(Mutex::new(state));
        let ws_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind ws");
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let (ws, http) = (
            ws_listener.local_addr().expect("addr"),
            http_listener.local_addr().expect("addr"),
        );
        let st = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = ws_listener.accept().await {
                tokio::spawn(connection(tcp, Arc::clone(&st)));
            }
        });
        let list: Vec<Value> = symbols
            .iter()
            .map(|s| {
                let base = s.trim_end_matches("USDT");
                json!({"symbol": s, "baseCoin": base, "quoteCoin": "USDT", "innovation": "0",
                       "status": "Trading", "marginTrading": "both",
                       "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001"},
                       "priceFilter": {"tickSize": "0.01"}})
            })
            .collect();
        let body = json!({"retCode": 0, "retMsg": "OK",
            "result": {"category": "spot", "list": list, "nextPageCursor": ""},
            "retExtInfo": {}, "time": now_ms()});
        let app = axum::Router::new().route(
            "/v5/market/instruments-info",
            axum::routing::get(move || {
                let body = body.clone();
                async move { axum::Json(body) }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(http_listener, app).await;
        });
        BybitServer { ws, http, state }
    }

    /// `ws://...` (the collector appends nothing: Bybit spot is one path).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v5/public/spot", self.ws)
    }

    /// `http://...` for REST.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Subscribe requests received for `topic` so far.
    pub async fn subscribes(&self, topic: &str) -> usize {
        self.state
            .lock()
            .await
            .subscribes
            .get(topic)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `topic` has been subscribed `n` times.
    pub async fn wait_subscribes(&self, topic: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        while self.subscribes(topic).await < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no subscribe #{n} to {topic}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Pings received.
    pub async fn pings(&self) -> usize {
        self.state.lock().await.pings
    }

    /// One book change of `symbol`: one to three levels set or deleted, `u` + 1, sent as a
    /// `delta` unless a gap was ordered.
    pub async fn step_book(&self, symbol: &str) {
        let mut st = self.state.lock().await;
        let r = [st.next(), st.next(), st.next()];
        let Some(t) = st.books.get_mut(symbol) else {
            return;
        };
        let (mut bids, mut asks) = (Vec::new(), Vec::new());
        for x in r.iter().take(1 + (r[0] % 3) as usize) {
            let tick = i64::try_from(x % 20).unwrap_or(0);
            let size = Decimal::new(i64::try_from((x >> 8) % 50).unwrap_or(0), 3);
            let (side, out, price) = if (x >> 20) % 2 == 0 {
                (&mut t.bids, &mut bids, Decimal::new(1000 - 5 * tick, 1))
            } else {
                (&mut t.asks, &mut asks, Decimal::new(1010 + 5 * tick, 1))
            };
            if size.is_zero() {
                side.remove(&price);
            } else {
                side.insert(price, size);
            }
            out.push([price.to_string(), size.to_string()]);
        }
        t.u += 1;
        if std::mem::take(&mut t.skip_next) {
            return;
        }
        let frame = book_frame(symbol, "delta", t, bids, asks);
        st.broadcast(&format!("orderbook.50.{symbol}"), frame).await;
    }

    /// One trade of `symbol`, as its own `publicTrade` push.
    pub async fn trade(&self, symbol: &str) {
        let mut st = self.state.lock().await;
        let r = st.next();
        let n = st.trades_sent.get(symbol).map_or(0, Vec::len);
        let id = format!("{:08x}-d8dd-5b31-9112-{:012x}", r as u32, n);
        let ts = now_ms();
        let frame = json!({
            "topic": format!("publicTrade.{symbol}"), "type": "snapshot", "ts": ts,
            "data": [{"T": ts, "s": symbol, "S": if r % 2 == 0 { "Buy" } else { "Sell" },
                      "v": Decimal::new(i64::try_from(r % 1000 + 1).unwrap_or(1), 3).to_string(),
                      "p": Decimal::new(10_050, 2).to_string(), "L": "PlusTick", "i": id, "BT": false}]
        })
        .to_string();
        st.trades_sent
            .entry(symbol.to_owned())
            .or_default()
            .push(id);
        st.broadcast(&format!("publicTrade.{symbol}"), frame).await;
    }

    /// The trade ids sent for `symbol`.
    pub async fn trades_sent(&self, symbol: &str) -> Vec<String> {
        self.state
            .lock()
            .await
            .trades_sent
            .get(symbol)
            .cloned()
            .unwrap_or_default()
    }

    /// The next book change of `symbol` is made but not sent: a gap in `u`.
    pub async fn gap(&self, symbol: &str) {
        if let Some(t) = self.state.lock().await.books.get_mut(symbol) {
            t.skip_next = true;
        }
    }

    /// The true book of `symbol` (bids best first, asks best first) and its `u`.
    pub async fn book(
        &self,
        symbol: &str,
    ) -> (Vec<(Decimal, Decimal)>, Vec<(Decimal, Decimal)>, u64) {
        let st = self.state.lock().await;
        let t = &st.books[symbol];
        let bids = t.bids.iter().rev().map(|(p, s)| (*p, *s)).collect();
        let asks = t.asks.iter().map(|(p, s)| (*p, *s)).collect();
        (bids, asks, t.u)
    }
}

async fn connection(tcp: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::channel::<String>(4096);
    let id = {
        let mut st = state.lock().await;
        st.next_client += 1;
        let id = st.next_client;
        st.clients.insert(
            id,
            Client {
                tx: tx.clone(),
                topics: HashSet::new(),
            },
        );
        id
    };
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    let conn_id = format!("conn-{id}");
    while let Some(Ok(msg)) = source.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(req) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let op = req["op"].as_str().unwrap_or_default().to_owned();
        let args: Vec<String> = req["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut st = state.lock().await;
        let ack = |op: &str, msg: &str| {
            json!({"success": true, "ret_msg": msg, "conn_id": conn_id, "req_id": req["req_id"], "op": op})
                .to_string()
        };
        match op.as_str() {
            "ping" => {
                st.pings += 1;
                let _ = tx.send(ack("ping", "pong")).await;
            }
            "unsubscribe" => {
                if let Some(c) = st.clients.get_mut(&id) {
                    for a in &args {
                        c.topics.remove(a);
                    }
                }
                let _ = tx.send(ack("unsubscribe", "")).await;
            }
            "subscribe" => {
                let _ = tx.send(ack("subscribe", "subscribe")).await;
                for a in &args {
                    *st.subscribes.entry(a.clone()).or_default() += 1;
                    if let Some(c) = st.clients.get_mut(&id) {
                        c.topics.insert(a.clone());
                    }
                    // A new orderbook subscription starts with a snapshot of the current book.
                    if let Some(sym) = a.strip_prefix("orderbook.50.")
                        && let Some(t) = st.books.get(sym)
                    {
                        let frame = book_frame(
                            sym,
                            "snapshot",
                            t,
                            levels(&t.bids, true),
                            levels(&t.asks, false),
                        );
                        let _ = tx.send(frame).await;
                    }
                }
            }
            _ => {}
        }
    }
    state.lock().await.clients.remove(&id);
    writer.abort();
}
