//! The driver over a stream of events: batching by size and time, then
//! [`SinkDriver::process`] per batch, until the stream ends or shutdown.

use std::future::Future;

use futures::{FutureExt, Stream, StreamExt, stream::FuturesOrdered};
use marketprism_core::model::MarketEvent;

use super::{Delivery, DriverState, SinkDriver};
use crate::{Result, StorageError, metrics_names as m};

impl SinkDriver {
    /// Writes `input` to the sinks in batches (up to [`batch_size`] events; what is waiting,
    /// plus what arrives within [`batch_timeout`]) until `input` ends or `shutdown`
    /// completes. At shutdown, what `input` already holds is written too (never dropped;
    /// see [`drain_limit`]), then the sinks are flushed.
    ///
    /// While [`in_flight`] batches are being written (one by default) `input` is not read: a
    /// slow sink slows the source down.
    ///
    /// [`batch_size`]: super::DriverConfig::batch_size
    /// [`batch_timeout`]: super::DriverConfig::batch_timeout
    /// [`drain_limit`]: super::DriverConfig::drain_limit
    /// [`in_flight`]: super::DriverConfig::in_flight
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
        let depth = self.config.in_flight.max(1);
        let linger = self.config.batch_timeout;
        let mut stopping = false;
        let mut ended = false;
        let mut batch = Vec::with_capacity(max);
        // Batches being written, oldest first: each resolves to (its size, the outcome).
        let mut writing = FuturesOrdered::new();
        loop {
            // Wait for the first event of the next batch (while there is room for one), a
            // write to finish, or shutdown. A drain at shutdown has its batch already.
            if batch.is_empty() && !ended && !stopping {
                tokio::select! {
                    () = &mut shutdown => {
                        stopping = true;
                        self.begin_shutdown();
                    }
                    Some((n, r)) = writing.next(), if !writing.is_empty() => {
                        self.finished(n, r, &mut writing, &mut input).await?;
                        continue;
                    }
                    e = input.next(), if writing.len() < depth => match e {
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
                        () = &mut shutdown, if !stopping => {
                            stopping = true;
                            self.begin_shutdown();
                        }
                        r = tokio::time::timeout_at(deadline, input.next()) => match r {
                            Ok(Some(e)) => batch.push(e),
                            Ok(None) => ended = true,
                            Err(_) => break,
                        },
                    },
                }
            }
            if !batch.is_empty() {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(max));
                writing.push_back(async move {
                    let r = self.process(&full, delivery).await.map(|_| ());
                    (full.len(), r)
                });
            }
            // Every slot busy, or nothing more to read: wait for the oldest write.
            let more = !stopping && !ended;
            while writing.len() >= depth || (!more && !writing.is_empty()) {
                let Some((n, r)) = (if stopping {
                    writing.next().await
                } else {
                    tokio::select! {
                        done = writing.next() => done,
                        () = &mut shutdown => {
                            stopping = true;
                            self.begin_shutdown();
                            continue;
                        }
                    }
                }) else {
                    break;
                };
                self.finished(n, r, &mut writing, &mut input).await?;
                if !stopping && !ended {
                    break;
                }
            }
            if stopping {
                self.begin_shutdown();
                // Drain: what the source already holds, in full batches.
                if !ended && take_ready(&mut input, &mut batch, max) {
                    continue;
                }
                if writing.is_empty() {
                    return Ok(());
                }
            } else if ended && writing.is_empty() {
                return Ok(());
            }
        }
    }

    /// The outcome of a batch of `n` events. On an error the others in flight are given up
    /// (with the drain limit passed, they and what the source holds are counted as lost).
    async fn finished<S, W>(
        &self,
        n: usize,
        result: Result<()>,
        writing: &mut FuturesOrdered<W>,
        input: &mut S,
    ) -> Result<()>
    where
        S: Stream<Item = MarketEvent> + Unpin,
        W: Future<Output = (usize, Result<()>)>,
    {
        let Err(e) = result else { return Ok(()) };
        if matches!(e, StorageError::Shutdown) {
            let mut lost = n as u64 + drain_now(input);
            // The other writes hit the same limit; what they still held is lost too.
            while let Some((m, r)) = writing.next().await {
                if r.is_err() {
                    lost += m as u64;
                }
            }
            tracing::error!(lost, "events not written before the drain limit");
            metrics::counter!(m::SINK_LOST).increment(lost);
        }
        Err(e)
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
