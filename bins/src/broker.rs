//! message-broker-service (port 8085): declares JetStream streams and consumers from config
//! at start (idempotent; changed settings are applied), and reports them with consumer lag.
//!
//! Routes: `/api/v1/broker/status`, `/api/v1/broker/streams`, `/api/v1/broker/consumers`.

use std::{future::Future, time::Duration};

use async_nats::jetstream::{self, consumer::pull, stream};
use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use futures::TryStreamExt;
use marketprism_core::runtime::Service;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::common::{self, DiscoverySection, NatsSection, Result, ServiceSection};

/// Broker manager configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Name, listen address.
    pub service: ServiceSection,
    /// Discovery backend.
    pub discovery: DiscoverySection,
    /// NATS (none: the platform runs on the in-process bus; nothing to manage).
    pub nats: NatsSection,
    /// Extra streams to declare (the market-data stream and its dead-letter stream are
    /// always declared from `[nats]`).
    pub streams: Vec<StreamSpec>,
    /// Durable pull consumers to declare.
    pub consumers: Vec<ConsumerSpec>,
    /// How often lag metrics are refreshed (ms).
    pub poll_ms: u64,
}

/// A stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// Name.
    pub name: String,
    /// Subjects.
    pub subjects: Vec<String>,
    /// Drop messages older than this (0 = keep).
    #[serde(default)]
    pub max_age_secs: u64,
    /// Size cap (bytes, 0 = none).
    #[serde(default)]
    pub max_bytes: i64,
    /// Deduplication window for `Nats-Msg-Id`.
    #[serde(default = "default_dup")]
    pub duplicate_window_secs: u64,
    /// Replicas (clustered NATS).
    #[serde(default = "one")]
    pub replicas: usize,
}

fn default_dup() -> u64 {
    120
}
fn one() -> usize {
    1
}

/// A durable pull consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// Stream.
    pub stream: String,
    /// Durable name.
    pub durable: String,
    /// Only these subjects.
    #[serde(default)]
    pub filter_subject: Option<String>,
    /// Redelivery after this long without ack.
    #[serde(default = "default_ack_wait")]
    pub ack_wait_secs: u64,
    /// Deliveries before giving up (-1 = unlimited).
    #[serde(default = "unlimited")]
    pub max_deliver: i64,
}

fn default_ack_wait() -> u64 {
    30
}
fn unlimited() -> i64 {
    -1
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            service: ServiceSection::new("message-broker-service", 8085),
            discovery: DiscoverySection::default(),
            nats: NatsSection::default(),
            streams: Vec::new(),
            consumers: Vec::new(),
            poll_ms: 5000,
        }
    }
}

#[derive(Clone)]
struct Broker {
    js: Option<jetstream::Context>,
    client: Option<async_nats::Client>,
    config: BrokerConfig,
}

/// Declares the streams and consumers (idempotent: creates what is missing, updates what
/// changed).
pub async fn declare(js: &jetstream::Context, config: &BrokerConfig) -> Result<()> {
    if let Some(nats) = config.nats.storage_config() {
        marketprism_storage::nats::ensure_streams(js, &nats).await?;
    }
    for s in &config.streams {
        let sc = stream::Config {
            name: s.name.clone(),
            subjects: s.subjects.clone(),
            max_age: Duration::from_secs(s.max_age_secs),
            max_bytes: if s.max_bytes > 0 { s.max_bytes } else { -1 },
            duplicate_window: Duration::from_secs(s.duplicate_window_secs),
            num_replicas: s.replicas.max(1),
            ..Default::default()
        };
        js.create_or_update_stream(sc).await?;
        tracing::info!(stream = %s.name, "stream declared");
    }
    for c in &config.consumers {
        let cc = pull::Config {
            durable_name: Some(c.durable.clone()),
            filter_subject: c.filter_subject.clone().unwrap_or_default(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(c.ack_wait_secs),
            max_deliver: c.max_deliver,
            ..Default::default()
        };
        js.create_consumer_on_stream(cc, c.stream.as_str()).await?;
        tracing::info!(stream = %c.stream, consumer = %c.durable, "consumer declared");
    }
    Ok(())
}

/// Runs the broker manager.
pub async fn run(
    config: BrokerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let stop = common::shutdown_token(shutdown);
    let (client, js) = match &config.nats.url {
        Some(url) => {
            let client = common::connect_nats(url, "message-broker-service").await?;
            let js = jetstream::new(client.clone());
            declare(&js, &config).await?;
            (Some(client), Some(js))
        }
        None => (None, None),
    };
    let broker = Broker {
        js,
        client,
        config: config.clone(),
    };
    let routes = Router::new()
        .route("/api/v1/broker/status", get(status))
        .route("/api/v1/broker/streams", get(streams))
        .route("/api/v1/broker/consumers", get(consumers))
        .with_state(broker.clone());
    let service = Service::builder(config.service.name.clone())
        .version(env!("CARGO_PKG_VERSION"))
        .service_tokens(config.service.tokens.accepted())
        .routes(routes)
        .build();
    let addr = listener.local_addr()?;
    let registry = common::registry(&config.discovery).await?;
    let http_stop = CancellationToken::new();
    let http = common::spawn_http(service, listener, http_stop.clone());
    common::register(&registry, &config.service, addr).await?;
    let mut poll = tokio::time::interval(Duration::from_millis(config.poll_ms.max(100)));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = poll.tick() => { let _ = collect_streams(&broker).await; }
        }
    }
    common::deregister(&registry).await;
    common::finish(http_stop, http).await
}

async fn status(State(b): State<Broker>) -> (StatusCode, Json<Value>) {
    let Some(client) = &b.client else {
        return (
            StatusCode::OK,
            Json(json!({ "mode": "in-process-bus", "connected": true,
                "note": "no NATS configured: the platform runs on the in-process bus" })),
        );
    };
    let state = format!("{:?}", client.connection_state()).to_lowercase();
    let info = client.server_info();
    let account = match &b.js {
        Some(js) => js.query_account().await.ok().map(|a| {
            json!({ "streams": a.streams, "consumers": a.consumers, "memory": a.memory, "storage": a.storage })
        }),
        None => None,
    };
    (
        StatusCode::OK,
        Json(json!({
            "mode": "jetstream",
            "connected": state == "connected",
            "connection_state": state,
            "server": { "name": info.server_name, "version": info.version, "jetstream": info.jetstream },
            "account": account,
            "declared": { "streams": b.config.streams.len(), "consumers": b.config.consumers.len() },
        })),
    )
}

async fn streams(State(b): State<Broker>) -> (StatusCode, Json<Value>) {
    match collect_streams(&b).await {
        Ok(v) => (StatusCode::OK, Json(json!({ "streams": v }))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

async fn consumers(State(b): State<Broker>) -> (StatusCode, Json<Value>) {
    match collect_streams(&b).await {
        Ok(v) => {
            let all: Vec<Value> = v
                .iter()
                .flat_map(|s| s["consumers"].as_array().cloned().unwrap_or_default())
                .collect();
            (StatusCode::OK, Json(json!({ "consumers": all })))
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

/// Every stream with its consumers and their lag; also exported as metrics
/// (`marketprism_broker_stream_messages`, `marketprism_broker_consumer_pending`,
/// `marketprism_broker_consumer_ack_pending`).
async fn collect_streams(b: &Broker) -> Result<Vec<Value>> {
    let Some(js) = &b.js else {
        return Ok(Vec::new());
    };
    let infos: Vec<stream::Info> = js.streams().try_collect().await?;
    let mut out = Vec::with_capacity(infos.len());
    for info in infos {
        let name = info.config.name.clone();
        metrics::gauge!("marketprism_broker_stream_messages", "stream" => name.clone())
            .set(info.state.messages as f64);
        metrics::gauge!("marketprism_broker_stream_bytes", "stream" => name.clone())
            .set(info.state.bytes as f64);
        let mut consumers = Vec::new();
        if let Ok(s) = js.get_stream(&name).await {
            let list: Vec<jetstream::consumer::Info> =
                s.consumers().try_collect().await.unwrap_or_default();
            for c in list {
                metrics::gauge!("marketprism_broker_consumer_pending",
                    "stream" => name.clone(), "consumer" => c.name.clone())
                .set(c.num_pending as f64);
                metrics::gauge!("marketprism_broker_consumer_ack_pending",
                    "stream" => name.clone(), "consumer" => c.name.clone())
                .set(c.num_ack_pending as f64);
                consumers.push(json!({
                    "stream": name, "name": c.name, "lag": c.num_pending,
                    "ack_pending": c.num_ack_pending, "redelivered": c.num_redelivered,
                    "waiting": c.num_waiting, "delivered_stream_seq": c.delivered.stream_sequence,
                    "ack_floor_stream_seq": c.ack_floor.stream_sequence,
                }));
            }
        }
        out.push(json!({
            "name": name,
            "subjects": info.config.subjects,
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "first_seq": info.state.first_sequence,
            "last_seq": info.state.last_sequence,
            "consumer_count": info.state.consumer_count,
            "max_age_secs": info.config.max_age.as_secs(),
            "duplicate_window_secs": info.config.duplicate_window.as_secs(),
            "consumers": consumers,
        }));
    }
    Ok(out)
}
