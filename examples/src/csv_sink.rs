//! A custom [`Sink`]: one CSV file per event type, decimals written as exact text.
//!
//! Trades get typed columns (`exchange,market,symbol,trade_id,side,price,size,exchange_ts,
//! local_ts`); every other event type gets `exchange,market,symbol,exchange_ts,local_ts,json`
//! with the whole event as JSON (decimals are JSON strings, so they stay exact too).

use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, BufReader, BufWriter, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use marketprism_core::{
    Error,
    model::{EventKind, MarketEvent, Side, Trade},
    sink::{Health, Sink},
};
use rust_decimal::Decimal;

use crate::BoxError;

/// Header of `trade.csv`.
pub const TRADE_HEADER: &str =
    "exchange,market,symbol,trade_id,side,price,size,exchange_ts,local_ts";
/// Header of every other event type's file.
pub const GENERIC_HEADER: &str = "exchange,market,symbol,exchange_ts,local_ts,json";

/// Writes events to `<dir>/<kind>.csv` (`trade.csv`, `book_delta.csv`, ...).
#[derive(Debug)]
pub struct CsvSink {
    dir: PathBuf,
    files: Mutex<HashMap<EventKind, BufWriter<File>>>,
}

impl CsvSink {
    /// A sink writing into `dir` (created if missing; existing files are replaced).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(CsvSink {
            dir,
            files: Mutex::new(HashMap::new()),
        })
    }

    /// The file events of `kind` go to.
    pub fn path(&self, kind: EventKind) -> PathBuf {
        self.dir.join(format!("{}.csv", kind.as_str()))
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<EventKind, BufWriter<File>>>, Error> {
        self.files
            .lock()
            .map_err(|_| Error::Io(std::io::Error::other("csv sink: a writer panicked")))
    }
}

/// Quotes a CSV field when it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Splits one CSV line (fields quoted as [`csv_field`] writes them).
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn row(event: &MarketEvent) -> Result<String, Error> {
    Ok(match event {
        MarketEvent::Trade(t) => [
            t.exchange.to_string(),
            t.market.to_string(),
            t.symbol.to_string(),
            t.trade_id.to_string(),
            side_str(t.side).to_owned(),
            t.price.to_string(),
            t.size.to_string(),
            t.exchange_ts.to_string(),
            t.local_ts.to_string(),
        ]
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(","),
        other => [
            other.exchange().to_string(),
            other.market().to_string(),
            other.symbol().map(|s| s.to_string()).unwrap_or_default(),
            other.exchange_ts().to_string(),
            other.local_ts().to_string(),
            serde_json::to_string(other)?,
        ]
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(","),
    })
}

#[async_trait]
impl Sink for CsvSink {
    fn name(&self) -> &str {
        "csv"
    }

    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), Error> {
        let mut files = self.lock()?;
        for event in batch {
            let kind = event.kind();
            let out = match files.entry(kind) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let mut w = BufWriter::new(File::create(self.path(kind))?);
                    let header = if kind == EventKind::Trade {
                        TRADE_HEADER
                    } else {
                        GENERIC_HEADER
                    };
                    writeln!(w, "{header}")?;
                    e.insert(w)
                }
            };
            writeln!(out, "{}", row(event)?)?;
        }
        // Durable when this returns, as the `Sink` contract asks.
        for w in files.values_mut() {
            w.flush()?;
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), Error> {
        for w in self.lock()?.values_mut() {
            w.flush()?;
        }
        Ok(())
    }

    async fn health(&self) -> Health {
        Health::Healthy
    }
}

/// One row of `trade.csv`, parsed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvTrade {
    /// Exchange name.
    pub exchange: String,
    /// Market type.
    pub market: String,
    /// Normalized symbol.
    pub symbol: String,
    /// Exchange trade id.
    pub trade_id: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Price, exact.
    pub price: Decimal,
    /// Size, exact.
    pub size: Decimal,
    /// Exchange time (ns).
    pub exchange_ts: i64,
}

impl CsvTrade {
    /// The row a trade is written as.
    pub fn of(t: &Trade) -> Self {
        CsvTrade {
            exchange: t.exchange.to_string(),
            market: t.market.to_string(),
            symbol: t.symbol.to_string(),
            trade_id: t.trade_id.to_string(),
            side: side_str(t.side).to_owned(),
            price: t.price,
            size: t.size,
            exchange_ts: t.exchange_ts,
        }
    }
}

/// Reads a `trade.csv` written by [`CsvSink`].
pub fn read_trades(path: &Path) -> Result<Vec<CsvTrade>, BoxError> {
    let mut out = Vec::new();
    for (n, line) in BufReader::new(File::open(path)?).lines().enumerate() {
        let line = line?;
        if n == 0 {
            if line != TRADE_HEADER {
                return Err(format!("unexpected header `{line}`").into());
            }
            continue;
        }
        let f = split_csv_line(&line);
        let [
            exchange,
            market,
            symbol,
            trade_id,
            side,
            price,
            size,
            exchange_ts,
            _local_ts,
        ] = <[String; 9]>::try_from(f)
            .map_err(|f| format!("line {}: {} fields", n + 1, f.len()))?;
        out.push(CsvTrade {
            exchange,
            market,
            symbol,
            trade_id,
            side,
            price: price.parse()?,
            size: size.parse()?,
            exchange_ts: exchange_ts.parse()?,
        });
    }
    Ok(out)
}

/// Drains `events` into `sink` in batches of up to `batch_size` (a batch is also written
/// whenever the stream has nothing ready), and returns the trades seen.
pub async fn run<S>(events: S, sink: &dyn Sink, batch_size: usize) -> Result<Vec<Trade>, BoxError>
where
    S: Stream<Item = MarketEvent>,
{
    let mut events = std::pin::pin!(events.ready_chunks(batch_size.max(1)));
    let mut trades = Vec::new();
    while let Some(batch) = events.next().await {
        trades.extend(batch.iter().filter_map(|e| match e {
            MarketEvent::Trade(t) => Some(t.clone()),
            _ => None,
        }));
        sink.write_batch(&batch).await?;
    }
    sink.flush().await?;
    Ok(trades)
}
