//! Record a stream's raw frames to a capture file, then replay the capture into a sink.
//!
//! The replay runs the frames through the same normalizers as the live path, so it yields the
//! events the live stream yielded.

use std::{path::Path, time::Duration};

use futures::StreamExt;
use marketprism_core::{
    model::{MarketEvent, Trade},
    sink::Sink,
};
use marketprism_exchanges::{MarketStreamBuilder, capture};

use crate::BoxError;

/// Starts `builder` recording to `capture_path`, consumes it for `duration`, shuts it down,
/// drains what was buffered, and returns the trades seen live once the capture is complete.
pub async fn record(
    builder: MarketStreamBuilder,
    capture_path: &Path,
    duration: Duration,
) -> Result<Vec<Trade>, BoxError> {
    let mut stream = builder.record_to(capture_path).start().await?;
    let mut trades = Vec::new();
    let mut keep = |event: MarketEvent| {
        if let MarketEvent::Trade(t) = event {
            trades.push(t);
        }
    };
    let deadline = tokio::time::sleep(duration);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            () = &mut deadline => break,
            event = stream.next() => match event {
                Some(e) => keep(e),
                None => break,
            },
        }
    }
    stream.shutdown();
    while let Some(event) = stream.next().await {
        keep(event);
    }
    drop(stream);
    wait_until_stable(capture_path).await?;
    Ok(trades)
}

/// The capture writer finishes in the background after the stream stops: waits until the
/// file stops growing.
async fn wait_until_stable(path: &Path) -> std::io::Result<()> {
    let mut last = std::fs::metadata(path)?.len();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = std::fs::metadata(path)?.len();
        if now == last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

/// Replays the capture at `capture_path` into `sink` in batches of up to `batch_size`, and
/// returns the replayed trades. Lines that fail to replay are an error.
pub async fn replay_into(
    capture_path: &Path,
    book_depth: Option<usize>,
    sink: &dyn Sink,
    batch_size: usize,
) -> Result<Vec<Trade>, BoxError> {
    let file = std::io::BufReader::new(std::fs::File::open(capture_path)?);
    let mut events = Vec::new();
    let mut errors = Vec::new();
    capture::replay(
        file,
        book_depth,
        |e| events.push(e.clone()),
        |line, e| errors.push(format!("line {line}: {e}")),
    )?;
    if let Some(first) = errors.first() {
        return Err(format!("{} replay errors, first: {first}", errors.len()).into());
    }
    for batch in events.chunks(batch_size.max(1)) {
        sink.write_batch(batch).await?;
    }
    sink.flush().await?;
    Ok(events
        .into_iter()
        .filter_map(|e| match e {
            MarketEvent::Trade(t) => Some(t),
            _ => None,
        })
        .collect())
}
