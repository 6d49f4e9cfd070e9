//! ClickHouse unreachable for 30 s (`MP_OUTAGE_SECS` to change) under load: nothing is acked
//! meanwhile, JetStream holds the backlog, and after the outage it drains to exact counts.
//!
//! "Down" is a TCP proxy between the sink and the shared ClickHouse that this test closes
//! (refusing and resetting every connection), so other tests using the server are not
//! disturbed.
#![cfg(all(feature = "nats", feature = "clickhouse"))]

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use marketprism_core::{
    model::*,
    sink::Sink,
    testing::{TestServer, host_port, require_server},
};
use marketprism_storage::{
    EventKind,
    clickhouse::{ClickHouseConfig, ClickHouseStore},
    nats::{
        NatsConfig,
        consumer::ConsumerConfig,
        publisher::{JetStreamPublisher, PublisherConfig},
    },
    pipeline::{PipelineConfig, PipelineState, PipelineStatus, run_with_status},
    query::{EventQuery, HistoryStore},
};
use tokio::{net::TcpListener, task::AbortHandle};

/// A TCP proxy that can be switched off (refuse + reset everything) and on again.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (d, c) = (Arc::clone(&down), Arc::clone(&conns));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().expect("lock").push(task.abort_handle());
            }
        });
        Proxy { port, down, conns }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.conns.lock().expect("lock").drain(..) {
                c.abort();
            }
        }
    }
}

async fn total(store: &ClickHouseStore) -> u64 {
    store
        .count(&EventQuery::new(EventKind::Trade))
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_holds_acks_and_drains_exactly() {
    let Some(ch) = require_server(TestServer::ClickHouse) else {
        return;
    };
    let Some(nats_url) = require_server(TestServer::Nats) else {
        return;
    };
    let outage = Duration::from_secs(
        std::env::var("MP_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let id = common::unique("mpt_outage");
    let nats = NatsConfig::new(nats_url)
        .stream(id.to_uppercase())
        .subject_prefix(&id);
    let direct = ClickHouseStore::connect(ClickHouseConfig::new(&ch).database(&id))
        .await
        .expect("clickhouse");
    let proxy = Proxy::start(host_port(&ch).expect("host:port")).await;
    let via_proxy = ClickHouseStore::new(
        ClickHouseConfig::new(format!("http://127.0.0.1:{}", proxy.port))
            .database(&id)
            .timeout(Duration::from_secs(5)),
    )
    .expect("store");
    let publisher = JetStreamPublisher::connect(nats.clone(), PublisherConfig::default())
        .await
        .expect("publisher");

    let status = Arc::new(PipelineStatus::default());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut config = PipelineConfig::new(nats.clone()).consumer(
        ConsumerConfig::default()
            .batch_size(500)
            .batch_timeout(Duration::from_millis(100))
            .ack_wait(Duration::from_secs(6)),
    );
    config.retry =
        marketprism_core::backoff::Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(via_proxy)];
    let task = tokio::spawn(run_with_status(config, sinks, Arc::clone(&status), async {
        let _ = stop_rx.await;
    }));

    let base = common::now_s_ns();
    let mut all = common::trades(ExchangeId::BINANCE, "BTC-USDT", 5_000, base);
    // Stream sequences count messages (a message carries up to 256 events of a subject).
    let mut messages = publisher
        .publish_batch(&all)
        .await
        .expect("publish")
        .messages as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while total(&direct).await < 5_000 {
        assert!(tokio::time::Instant::now() < deadline, "initial drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let js = async_nats::jetstream::new(publisher.client().clone());
    let stream = js.get_stream(&nats.stream).await.expect("stream");
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("storage").await.expect("consumer");

    // Outage, under load: 10 k more events arrive while ClickHouse is unreachable.
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let floor = consumer
        .info()
        .await
        .expect("info")
        .ack_floor
        .stream_sequence;
    let rows = total(&direct).await;
    let started = tokio::time::Instant::now();
    let mut chunk = 0;
    while started.elapsed() < outage {
        if chunk < 10 {
            let more = common::trades(ExchangeId::OKX, &format!("C{chunk}-USDT"), 1_000, base);
            messages += publisher
                .publish_batch(&more)
                .await
                .expect("publish during outage")
                .messages as u64;
            all.extend(more);
            chunk += 1;
        }
        let info = consumer.info().await.expect("info").clone();
        assert_eq!(
            info.ack_floor.stream_sequence, floor,
            "acked during the outage: {info:?}"
        );
        assert_eq!(total(&direct).await, rows, "rows written during the outage");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        matches!(status.snapshot().state, PipelineState::Retrying { .. }),
        "{:?}",
        status.snapshot()
    );
    let info = consumer.info().await.expect("info").clone();
    assert_eq!(
        info.num_pending + info.num_ack_pending as u64,
        messages - floor
    );

    // ClickHouse is back: the backlog drains to exact counts.
    proxy.set_down(false);
    let n = all.len() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = consumer.info().await.expect("info").clone();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backlog not drained: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(total(&direct).await, n);
    let mut stored = direct
        .query(&EventQuery::new(EventKind::Trade).limit(100_000))
        .await
        .expect("query");
    let key = |e: &MarketEvent| marketprism_storage::identity::event_id(e);
    stored.sort_by_key(key);
    all.sort_by_key(key);
    assert_eq!(stored, all);

    let _ = stop_tx.send(());
    task.await.expect("join").expect("pipeline");
    direct.drop_database().await.expect("cleanup");
    let _ = js.delete_stream(&nats.stream).await;
    let _ = js.delete_stream(&nats.dead_letter_stream).await;
}
