//! The collector's loop: exchange stream → the storage crate's sink driver → the output sink
//! (the JetStream publisher or the in-process bus), with reading and publishing overlapped
//! and bounded.
//!
//! The reader hands over whatever the exchange stream has waiting; the driver batches it
//! (natural batching, or up to `batch_ms`) and writes it with retries and backoff. While the
//! driver is busy and the hand-over channel is full, the exchange stream is not read
//! (backpressure, never loss). At shutdown the reader drains the connections and the driver
//! publishes what is left, giving up only after [`DRAIN_LIMIT`].

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use marketprism_core::{backoff::Backoff, model::MarketEvent, sink::Sink};
use marketprism_storage::{
    StorageError,
    driver::{Delivery, DriverConfig, SinkDriver},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CollectorConfig, Resolved, Stats, build_stream};

/// How long the drain at shutdown may keep retrying to publish what the collector holds.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Reconnect delays when the exchange streams cannot start.
const START_BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// Reads the exchange stream and publishes batches to `output` until `stop`; then publishes
/// what it holds (drain) before returning.
pub(super) async fn collect(
    config: &CollectorConfig,
    venues: &Resolved,
    output: Arc<dyn Sink>,
    stats: &Stats,
    stop: &CancellationToken,
) {
    let driver = SinkDriver::new(
        vec![output],
        DriverConfig::default()
            .batch_size(config.batch_size)
            .batch_timeout(Duration::from_millis(config.batch_ms))
            .drain_limit(Some(DRAIN_LIMIT)),
    );
    let (tx, rx) = mpsc::channel::<Vec<MarketEvent>>(1);
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|batch| (batch, rx))
    })
    .flat_map(futures::stream::iter);
    let delivery = Published(stats);
    let publishing = async {
        // The input ends once the reader has drained and stopped; the drain limit starts
        // counting at `stop`.
        let run = driver.run(events, &delivery, futures::future::pending());
        tokio::pin!(run);
        let r = tokio::select! {
            r = &mut run => r,
            () = stop.cancelled() => {
                driver.begin_shutdown();
                run.await
            }
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not publish the last batches within {DRAIN_LIMIT:?}");
        }
    };
    tokio::join!(read(config, venues, tx, stats, stop), publishing);
}

/// Reports the driver's progress in the collector's stats.
struct Published<'a>(&'a Stats);

#[async_trait]
impl Delivery for Published<'_> {
    async fn retrying(&self, _: &str, error: &StorageError) {
        self.0.publish_failed(error.to_string());
    }
    async fn ack(&self, keep: &[bool]) -> marketprism_storage::Result<()> {
        self.0.published(keep.iter().filter(|k| **k).count());
        Ok(())
    }
}

async fn read(
    config: &CollectorConfig,
    venues: &Resolved,
    tx: mpsc::Sender<Vec<MarketEvent>>,
    stats: &Stats,
    stop: &CancellationToken,
) {
    let mut retries = START_BACKOFF.retries();
    let mut stream = loop {
        stats.set_state("starting", None);
        match build_stream(config, venues).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the exchange streams; retrying");
                stats.set_state("retrying", Some(e));
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = retries.wait() => {}
                }
            }
        }
    };
    stats.set_state("running", None);
    let max = config.batch_size.max(1);
    let mut rate = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            event = stream.next() => match event {
                Some(event) => {
                    let mut chunk = Vec::with_capacity(max.min(64));
                    chunk.push(event);
                    // Take what is already waiting, never wait for more.
                    let mut ended = false;
                    while chunk.len() < max {
                        match stream.next().now_or_never() {
                            Some(Some(event)) => chunk.push(event),
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    stats.observe_all(&chunk);
                    // Waits while the driver is busy: the stream is not read meanwhile.
                    if tx.send(chunk).await.is_err() || ended {
                        break;
                    }
                }
                None => break,
            },
            _ = rate.tick() => stats.tick(),
        }
    }
    // Drain: stop the connections, forward what they already delivered.
    stream.shutdown();
    let mut rest = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), stream.next()).await
    {
        stats.observe_all(std::slice::from_ref(&event));
        rest.push(event);
    }
    if !rest.is_empty() {
        let _ = tx.send(rest).await;
    }
}
