//! The collector's loop: exchange stream → batches → publisher, with reading and publishing
//! overlapped and bounded.
//!
//! A batch is whatever is waiting when the publisher can take one (natural batching): an
//! event leaves at once when quiet, and under load batches grow while the previous one waits
//! for its JetStream acks. At most one batch is being published, one waits for it, and one
//! fills; when all three are full the exchange stream is no longer read (backpressure, never
//! loss).

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use marketprism_core::model::MarketEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CollectorConfig, Output, Resolved, Stats, build_stream};

/// How long the drain at shutdown may take to publish what the collector holds.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Reads the exchange stream and publishes batches until `stop`; then publishes what it
/// holds (drain) before returning.
pub(super) async fn collect(
    config: &CollectorConfig,
    venues: &Resolved,
    output: &Output,
    stats: &Stats,
    stop: &CancellationToken,
) {
    let (tx, rx) = mpsc::channel::<Vec<MarketEvent>>(1);
    let give_up = CancellationToken::new();
    let publishing = publish_all(output, rx, stats, &give_up);
    let reading = async {
        read(config, venues, tx, stats, stop).await;
    };
    tokio::pin!(publishing);
    let ((), drained) = tokio::join!(reading, async {
        // The reader has stopped (and sent what it held) once the channel closes; allow
        // the publisher DRAIN_LIMIT after `stop` to finish, then make it give up.
        tokio::select! {
            () = &mut publishing => true,
            () = async {
                stop.cancelled().await;
                tokio::time::sleep(DRAIN_LIMIT).await;
            } => false,
        }
    });
    if !drained {
        tracing::warn!("could not publish the last batches within {DRAIN_LIMIT:?}");
        give_up.cancel();
        publishing.await;
    }
}

/// Publishes each batch in turn, retrying, until the channel closes.
async fn publish_all(
    output: &Output,
    mut rx: mpsc::Receiver<Vec<MarketEvent>>,
    stats: &Stats,
    give_up: &CancellationToken,
) {
    while let Some(mut batch) = rx.recv().await {
        publish(output, &mut batch, stats, give_up).await;
    }
}

async fn read(
    config: &CollectorConfig,
    venues: &Resolved,
    tx: mpsc::Sender<Vec<MarketEvent>>,
    stats: &Stats,
    stop: &CancellationToken,
) {
    let mut delay = Duration::from_millis(500);
    let mut stream = loop {
        stats.set_state("starting", None);
        match build_stream(config, venues).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the exchange streams; retrying");
                stats.set_state("retrying", Some(e));
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    stats.set_state("running", None);
    let max = config.batch_size.max(1);
    let hold = config.batch_ms > 0;
    let mut batch = Vec::with_capacity(max);
    let mut flush = tokio::time::interval(Duration::from_millis(config.batch_ms.max(1)));
    let mut rate = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            // The publisher can take a batch: hand over what is waiting.
            permit = tx.reserve(), if !hold && !batch.is_empty() => match permit {
                Ok(permit) => permit.send(std::mem::replace(&mut batch, Vec::with_capacity(max))),
                Err(_) => return,
            },
            // Full batches wait for the publisher (the stream is not read meanwhile).
            event = stream.next(), if batch.len() < max => match event {
                Some(event) => {
                    let fresh = batch.len();
                    batch.push(event);
                    // Take what is already waiting, never wait for more.
                    let mut ended = false;
                    while batch.len() < max {
                        match stream.next().now_or_never() {
                            Some(Some(event)) => batch.push(event),
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    stats.observe_all(&batch[fresh..]);
                    if ended {
                        break;
                    }
                }
                None => break,
            },
            _ = flush.tick(), if hold && !batch.is_empty() => {
                if tx.send(std::mem::replace(&mut batch, Vec::with_capacity(max))).await.is_err() {
                    return;
                }
            }
            _ = rate.tick() => stats.tick(),
        }
    }
    // Drain: stop the connections, forward what they already delivered.
    stream.shutdown();
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(200), stream.next()).await
    {
        stats.observe_all(std::slice::from_ref(&event));
        batch.push(event);
    }
    if !batch.is_empty() {
        let _ = tx.send(batch).await;
    }
}

/// Publishes the batch, retrying with backoff (the reader waits meanwhile: backpressure).
/// Gives up only when `give_up` fires.
async fn publish(
    output: &Output,
    batch: &mut Vec<MarketEvent>,
    stats: &Stats,
    give_up: &CancellationToken,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        match output.publish(batch).await {
            Ok(()) => {
                stats.published(batch.len());
                batch.clear();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "publish failed; retrying");
                stats.publish_failed(e);
                tokio::select! {
                    () = give_up.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
