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
use futures::StreamExt;
use marketprism_core::{model::MarketEvent, sink::Sink};
use marketprism_discovery::Backend;
use marketprism_storage::{
    StorageError,
    driver::{Delivery, DriverConfig, SinkDriver},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    CollectorConfig, Resolved, Stats,
    groups::{self, Ctx, SharedView},
};

/// How long the drain at shutdown may keep retrying to publish what the collector holds.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Reads the exchange stream and publishes batches to `output` until `stop`; then publishes
/// what it holds (drain) before returning.
/// `in_flight`: batches written at once (the bus keeps order only with one).
pub(super) async fn collect(
    config: &CollectorConfig,
    venues: &Resolved,
    mode: Mode,
    (output, in_flight): (Arc<dyn Sink>, usize),
    stats: &Stats,
    stop: &CancellationToken,
) {
    let driver = SinkDriver::new(
        vec![output],
        DriverConfig::default()
            .batch_size(config.batch_size)
            .batch_timeout(Duration::from_millis(config.batch_ms))
            .drain_limit(Some(DRAIN_LIMIT))
            .in_flight(in_flight),
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
    tokio::join!(read(config, venues, mode, tx, stats, stop), publishing);
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

/// Where the instruments come from: the static shard, or leases in discovery.
pub(super) enum Mode {
    /// `shard.index/count`.
    Static,
    /// `[assignment]`: the backend, this collector's advertised address, the shared view.
    Leases(Arc<dyn Backend>, (String, u16), SharedView),
}

async fn read(
    config: &CollectorConfig,
    venues: &Resolved,
    mode: Mode,
    tx: mpsc::Sender<Vec<MarketEvent>>,
    stats: &Stats,
    stop: &CancellationToken,
) {
    let ctx = Ctx {
        config: Arc::new(config.clone()),
        venues: venues.clone(),
        tx,
        stats: stats.clone(),
    };
    match mode {
        Mode::Static => groups::fixed(ctx, stop).await,
        Mode::Leases(backend, addr, view) => groups::assigned(ctx, backend, addr, view, stop).await,
    }
}
