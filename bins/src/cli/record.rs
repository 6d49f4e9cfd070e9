//! `marketprism record`.

use std::io::Write;

use futures::StreamExt;
use marketprism_exchanges::{ExchangeError, MarketStream};

use super::RecordArgs;

/// Records until `shutdown` completes or the duration elapses.
pub async fn record(
    args: &RecordArgs,
    stdout: &mut impl Write,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<u64, ExchangeError> {
    let mut builder = MarketStream::builder()
        .subscribe(
            args.venue,
            args.channels.iter().copied(),
            args.symbols.iter().cloned(),
        )
        .record_to(&args.out);
    if let Some(url) = &args.ws_url {
        builder = builder.ws_url(args.venue, url);
    }
    if let Some(url) = &args.rest_url {
        builder = builder.rest_url(args.venue, url);
    }
    if let Some(depth) = args.depth {
        builder = builder.book_depth(depth);
    }
    let mut stream = builder.start().await?;
    let deadline = async {
        match args.duration() {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(shutdown, deadline);
    let mut events = 0u64;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = &mut deadline => break,
            event = stream.next() => match event {
                Some(event) => {
                    events += 1;
                    if args.print {
                        let line = serde_json::to_string(&event).unwrap_or_default();
                        let _ = writeln!(stdout, "{line}");
                    }
                }
                None => break,
            },
        }
    }
    stream.shutdown();
    // Let the capture writer drain what the connections sent before they stopped.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    Ok(events)
}
