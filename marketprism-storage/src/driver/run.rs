//! The driver over a stream of events: batching by size and time, then
//! [`SinkDriver::process`] per batch, until the stream ends or shutdown.

use std::future::Future;

use futures::{FutureExt, Stream, StreamExt};
use marketprism_core::model::MarketEvent;

use super::{Delivery, DriverState, SinkDriver};
use crate::{Result, StorageError, metrics_names as m};

impl SinkDriver {
    /// Writes `input` to the sinks in batches (up to [`batch_size`] events; what is waiting,
    /// plus what arrives within [`batch_timeout`]) until `input` ends or `shutdown`
    /// completes. At shutdown, what `input` already holds is written too (never dropped;
    /// see [`drain_limit`]), then the sinks are flushed.
    ///
    /// While a batch is being written `input` is not read: a slow sink slows the source down.
    ///
    /// [`batch_size`]: super::DriverConfig::batch_size
    /// [`batch_timeout`]: super::DriverConfig::batch_timeout
    /// [`drain_limit`]: super::DriverConfig::drain_limit
    pub async fn run<S, F>(&self, input: S, delivery: &dyn Delivery, shutdown: F) -> Result<()>
    where
        S: Stream<Item = MarketEvent> + Send,
        F: Future<Output = ()> + Send,
    {
        self.status.set_state(DriverState::Running);
        let result = self.run_inner(input, delivery, shutdown).await;
        self.flush().await;
        self.status.set_state(DriverState::Stopped);
        result
    }

    async fn run_inner<S, F>(&self, input: S, delivery: &dyn Delivery, shutdown: F) -> Result<()>
    where
        S: Stream<Item = MarketEvent> + Send,
        F: Future<Output = ()> + Send,
    {
        tokio::pin!(input, shutdown);
        let max = self.config.batch_size.max(1);
        let linger = self.config.batch_timeout;
        let mut stopping = false;
        let mut ended = false;
        let mut batch = Vec::with_capacity(max);
        loop {
            // Wait for the first event of the batch (a drain at shutdown has it already).
            if batch.is_empty() {
                tokio::select! {
                    () = &mut shutdown, if !stopping => stopping = true,
                    e = input.next() => match e {
                        Some(e) => batch.push(e),
                        None => ended = true,
                    },
                }
            }
            // Fill it: what is waiting, then (with a timeout) what arrives in time.
            let deadline = tokio::time::Instant::now() + linger;
            while batch.len() < max && !ended {
                match input.next().now_or_never() {
                    Some(Some(e)) => batch.push(e),
                    Some(None) => ended = true,
                    None if stopping || linger.is_zero() || batch.is_empty() => break,
                    None => tokio::select! {
                        () = &mut shutdown, if !stopping => stopping = true,
                        r = tokio::time::timeout_at(deadline, input.next()) => match r {
                            Ok(Some(e)) => batch.push(e),
                            Ok(None) => ended = true,
                            Err(_) => break,
                        },
                    },
                }
            }
            if !batch.is_empty() {
                let written = {
                    let write = self.process(&batch, delivery);
                    tokio::pin!(write);
                    if stopping {
                        write.await
                    } else {
                        tokio::select! {
                            r = &mut write => r,
                            () = &mut shutdown => {
                                stopping = true;
                                self.begin_shutdown();
                                write.await
                            }
                        }
                    }
                };
                if let Err(e) = written {
                    if matches!(e, StorageError::Shutdown) {
                        let lost = batch.len() as u64 + drain_now(&mut input);
                        tracing::error!(lost, "events not written before the drain limit");
                        metrics::counter!(m::SINK_LOST).increment(lost);
                    }
                    return Err(e);
                }
                batch.clear();
            }
            if stopping {
                self.begin_shutdown();
                // Drain: what the source already holds, in full batches.
                if batch.is_empty() && !ended && take_ready(&mut input, &mut batch, max) {
                    continue;
                }
                return Ok(());
            }
            if ended {
                return Ok(());
            }
        }
    }
}

/// Moves up to `max` waiting events into `batch`; true when it took any.
fn take_ready<S: Stream<Item = MarketEvent> + Unpin>(
    input: &mut S,
    batch: &mut Vec<MarketEvent>,
    max: usize,
) -> bool {
    while batch.len() < max {
        match input.next().now_or_never() {
            Some(Some(e)) => batch.push(e),
            _ => break,
        }
    }
    !batch.is_empty()
}

/// Counts (and discards) what the source still holds.
fn drain_now<S: Stream<Item = MarketEvent> + Unpin>(input: &mut S) -> u64 {
    let mut n = 0;
    while let Some(Some(_)) = input.next().now_or_never() {
        n += 1;
    }
    n
}
