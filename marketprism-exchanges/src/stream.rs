//! The library API: a builder that yields one `Stream` of normalized events for any mix of
//! venues, channels and symbols.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;
use marketprism_core::model::{MarketEvent, now_ns};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    ExchangeError, InstrumentMap, Output, Venue,
    capture::{CaptureRecord, CaptureWriter},
    connection::{Backoff, CaptureTx, Running, SessionParams, SupervisorConfig, supervise},
    ops::Ops,
    spec::{Source, Subscription},
    transport::{RestClient, WeightBudget},
    venue::Channel,
};

#[derive(Debug, Default, Clone)]
struct VenuePlan {
    channels: BTreeSet<Channel>,
    symbols: Vec<String>,
    ws_url: Option<String>,
    rest_url: Option<String>,
}

/// Builds a [`MarketStream`].
///
/// ```no_run
/// use futures::StreamExt;
/// use marketprism_exchanges::{Channel, MarketStream, Venue};
///
/// # #[tokio::main] async fn main() -> Result<(), marketprism_exchanges::ExchangeError> {
/// let mut stream = MarketStream::builder()
///     .subscribe(Venue::BinanceSpot, [Channel::Trades, Channel::Book], ["BTC-USDT", "ETH-USDT"])
///     .subscribe(Venue::Okx, [Channel::Trades], ["BTC-USDT-PERP"])
///     .book_depth(100)
///     .start()
///     .await?;
/// while let Some(event) = stream.next().await {
///     println!("{}", serde_json::to_string(&event).unwrap_or_default());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MarketStreamBuilder {
    venues: BTreeMap<Venue, VenuePlan>,
    book_depth: Option<usize>,
    buffer: usize,
    stall_timeout: Duration,
    rotate_after: BTreeMap<Venue, Duration>,
    capture: Option<PathBuf>,
}

impl Default for MarketStreamBuilder {
    fn default() -> Self {
        MarketStreamBuilder {
            venues: BTreeMap::new(),
            book_depth: None,
            buffer: 8192,
            stall_timeout: Duration::from_secs(30),
            rotate_after: BTreeMap::new(),
            capture: None,
        }
    }
}

/// A running stream of normalized events. Dropping it stops every connection.
pub struct MarketStream {
    rx: mpsc::Receiver<MarketEvent>,
    _running: Running,
}

impl MarketStream {
    /// Starts building.
    pub fn builder() -> MarketStreamBuilder {
        MarketStreamBuilder::default()
    }

    /// Stops all connections; buffered events can still be read.
    pub fn shutdown(&self) {
        self._running.cancel.cancel();
    }
}

impl Stream for MarketStream {
    type Item = MarketEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MarketEvent>> {
        self.rx.poll_recv(cx)
    }
}

impl MarketStreamBuilder {
    /// Subscribes `channels` for `symbols` (normalized like `BTC-USDT-PERP` or native like
    /// `BTCUSDT`) on `venue`. Repeatable; venues and channels accumulate.
    ///
    /// ```
    /// # use marketprism_exchanges::{Channel, MarketStream, Venue};
    /// let b = MarketStream::builder().subscribe(Venue::Deribit, [Channel::Book], ["BTC-PERPETUAL"]);
    /// # let _ = b;
    /// ```
    pub fn subscribe<C, S>(mut self, venue: Venue, channels: C, symbols: S) -> Self
    where
        C: IntoIterator<Item = Channel>,
        S: IntoIterator,
        S::Item: Into<String>,
    {
        let plan = self.venues.entry(venue).or_default();
        plan.channels.extend(channels);
        plan.symbols.extend(symbols.into_iter().map(Into::into));
        self
    }

    /// Overrides a venue's WebSocket base URL (e.g. a local simulator).
    ///
    /// ```
    /// # use marketprism_exchanges::{MarketStream, Venue};
    /// let b = MarketStream::builder().ws_url(Venue::Okx, "ws://127.0.0.1:9443");
    /// # let _ = b;
    /// ```
    pub fn ws_url(mut self, venue: Venue, url: impl Into<String>) -> Self {
        self.venues.entry(venue).or_default().ws_url = Some(url.into());
        self
    }

    /// Overrides a venue's REST base URL.
    ///
    /// ```
    /// # use marketprism_exchanges::{MarketStream, Venue};
    /// let b = MarketStream::builder().rest_url(Venue::Okx, "http://127.0.0.1:9443");
    /// # let _ = b;
    /// ```
    pub fn rest_url(mut self, venue: Venue, url: impl Into<String>) -> Self {
        self.venues.entry(venue).or_default().rest_url = Some(url.into());
        self
    }

    /// Keeps books to the best `depth` levels per side (default: everything the exchange sends).
    ///
    /// ```
    /// let b = marketprism_exchanges::MarketStream::builder().book_depth(20);
    /// # let _ = b;
    /// ```
    pub fn book_depth(mut self, depth: usize) -> Self {
        self.book_depth = Some(depth);
        self
    }

    /// Capacity of the output buffer (default 8192). When full, connections wait: backpressure.
    ///
    /// ```
    /// let b = marketprism_exchanges::MarketStream::builder().buffer(1024);
    /// # let _ = b;
    /// ```
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.max(1);
        self
    }

    /// A connection silent for this long is considered dead and replaced (default 30 s).
    ///
    /// ```
    /// let b = marketprism_exchanges::MarketStream::builder().stall_timeout(std::time::Duration::from_secs(10));
    /// # let _ = b;
    /// ```
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// Rotates a venue's connections (with overlap) after this age. Defaults to 30 minutes
    /// before the exchange's own maximum lifetime (Binance: 24 h), none elsewhere.
    ///
    /// ```
    /// # use marketprism_exchanges::{MarketStream, Venue};
    /// let b = MarketStream::builder().rotate_after(Venue::BinanceSpot, std::time::Duration::from_secs(3600));
    /// # let _ = b;
    /// ```
    pub fn rotate_after(mut self, venue: Venue, age: Duration) -> Self {
        self.rotate_after.insert(venue, age);
        self
    }

    /// Records every raw frame and REST response to a capture file (see [`crate::capture`]).
    ///
    /// ```
    /// let b = marketprism_exchanges::MarketStream::builder().record_to("session.capture.jsonl");
    /// # let _ = b;
    /// ```
    pub fn record_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.capture = Some(path.into());
        self
    }

    /// Loads instruments, resolves symbols, opens the connections and starts streaming.
    pub async fn start(self) -> Result<MarketStream, ExchangeError> {
        let (tx, rx) = mpsc::channel(self.buffer);
        let cancel = CancellationToken::new();
        let mut tasks = Vec::new();
        let capture = match &self.capture {
            Some(path) => Some(spawn_capture_writer(path, &cancel, &mut tasks)?),
            None => None,
        };
        for (venue, plan) in &self.venues {
            let ops = Ops::for_venue(*venue);
            let rest_base = plan.rest_url.as_deref().unwrap_or(ops.rest_url_default);
            let budget = Arc::new(WeightBudget::new(ops.rest_weight_per_minute));
            let rest = RestClient::new(*venue, rest_base, budget);
            let instruments = load_instruments(&ops, &rest, capture.as_ref()).await?;
            let (ws_subs, polls) = plan_subscriptions(&ops, &instruments, plan)?;
            let config = SupervisorConfig {
                rotate_after: self.rotate_after.get(venue).copied().or_else(|| {
                    ops.max_connection_lifetime
                        .map(|l| l.saturating_sub(Duration::from_secs(1800)))
                }),
                overlap_grace: Duration::from_secs(1),
                backoff: Backoff::default(),
            };
            let ws_base = plan.ws_url.as_deref().unwrap_or(ops.ws_url_default);
            for (group, subs) in group_subscriptions(&ops, ws_base, ws_subs)
                .into_iter()
                .enumerate()
            {
                let params = SessionParams {
                    ops,
                    label: format!("{venue}#{}", group + 1),
                    ws_base: ws_base.to_owned(),
                    subscriptions: subs.into(),
                    instruments: instruments.clone(),
                    book_depth: self.book_depth,
                    rest: rest.clone(),
                    stall_timeout: self.stall_timeout,
                    capture: capture.clone(),
                };
                tasks.push(tokio::spawn(supervise(
                    params,
                    config,
                    tx.clone(),
                    cancel.clone(),
                )));
            }
            for (sub, every) in polls {
                let task = poll_task(
                    ops,
                    rest.clone(),
                    instruments.clone(),
                    sub,
                    every,
                    tx.clone(),
                    capture.clone(),
                    cancel.clone(),
                );
                tasks.push(tokio::spawn(task));
            }
        }
        Ok(MarketStream {
            rx,
            _running: Running { cancel, tasks },
        })
    }
}

/// Loads every instrument `venue` lists (from `rest_url`, or the venue's default REST base),
/// for callers that subscribe to "all instruments of a market" or shard instruments.
///
/// ```no_run
/// # async fn f() -> Result<(), marketprism_exchanges::ExchangeError> {
/// use marketprism_exchanges::{Venue, fetch_instruments};
/// let all = fetch_instruments(Venue::Okx, None).await?;
/// println!("{} instruments", all.len());
/// # Ok(()) }
/// ```
pub async fn fetch_instruments(
    venue: Venue,
    rest_url: Option<&str>,
) -> Result<InstrumentMap, ExchangeError> {
    let ops = Ops::for_venue(venue);
    let rest_base = rest_url.unwrap_or(ops.rest_url_default);
    let budget = Arc::new(WeightBudget::new(ops.rest_weight_per_minute));
    let rest = RestClient::new(venue, rest_base, budget);
    load_instruments(&ops, &rest, None).await
}

async fn load_instruments(
    ops: &Ops,
    rest: &RestClient,
    capture: Option<&CaptureTx>,
) -> Result<InstrumentMap, ExchangeError> {
    let mut map = InstrumentMap::new();
    for request in (ops.instruments_requests)() {
        let body = get_with_retries(rest, &request).await?;
        if let Some(cap) = capture {
            cap.send(CaptureRecord::Instruments {
                ts: now_ns(),
                venue: ops.venue,
                body: body.clone(),
            })
            .await;
        }
        map.extend((ops.parse_instruments)(&body)?);
    }
    Ok(map)
}

/// GETs with up to five attempts on retryable failures. A 429/418 has already blocked the
/// venue's budget for its `Retry-After`, so the next attempt waits exactly as told.
async fn get_with_retries(
    rest: &RestClient,
    request: &crate::spec::RestRequest,
) -> Result<String, ExchangeError> {
    let backoff = Backoff::default();
    let mut attempt = 0;
    loop {
        match rest.get(request).await {
            Err(e) if e.is_retryable() && attempt < 4 => {
                tracing::warn!(error = %e, attempt, "instrument request failed; retrying");
                if !matches!(e, ExchangeError::RateLimited { .. }) {
                    tokio::time::sleep(backoff.delay(attempt)).await;
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

type Polls = Vec<(Subscription, Duration)>;

fn plan_subscriptions(
    ops: &Ops,
    instruments: &InstrumentMap,
    plan: &VenuePlan,
) -> Result<(Vec<Subscription>, Polls), ExchangeError> {
    let mut ws = Vec::new();
    let mut polls = Vec::new();
    for symbol in &plan.symbols {
        let instrument = match instruments
            .by_symbol(symbol)
            .or_else(|| instruments.by_native(symbol))
        {
            Some(i) => Arc::clone(i),
            None => index_instrument(ops.venue, instruments, symbol)
                .map(Arc::new)
                .ok_or_else(|| ExchangeError::UnknownInstrument {
                    exchange: ops.venue.exchange(),
                    native_symbol: symbol.clone(),
                })?,
        };
        for &channel in &plan.channels {
            let sub = Subscription::new(channel, instrument.native_symbol.clone());
            match (ops.source)(channel, &instrument) {
                Source::WebSocket => ws.push(sub),
                Source::Poll(every) => polls.push((sub, every)),
                Source::Unsupported => {
                    tracing::warn!(venue = %ops.venue, ?channel, %symbol, "channel not offered for this instrument; skipped")
                }
            }
        }
    }
    Ok((ws, polls))
}

/// A symbol that names an index rather than a listed instrument (Deribit: a currency such as
/// `BTC` or an index name such as `btc_usd`, for DVOL and the price index).
fn index_instrument(
    venue: Venue,
    instruments: &InstrumentMap,
    symbol: &str,
) -> Option<marketprism_core::model::Instrument> {
    match venue {
        Venue::Deribit => crate::deribit::index_instrument(instruments, symbol),
        _ => None,
    }
}

/// Splits subscriptions by WebSocket URL, then into chunks the venue allows per connection.
fn group_subscriptions(
    ops: &Ops,
    ws_base: &str,
    subs: Vec<Subscription>,
) -> Vec<Vec<Subscription>> {
    let mut by_url: BTreeMap<String, Vec<Subscription>> = BTreeMap::new();
    for sub in subs {
        let url = (ops.ws_url)(ws_base, std::slice::from_ref(&sub));
        by_url.entry(url).or_default().push(sub);
    }
    by_url
        .into_values()
        .flat_map(|subs| {
            subs.chunks(ops.max_streams_per_connection.max(1))
                .map(<[Subscription]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn poll_task(
    ops: Ops,
    rest: RestClient,
    instruments: InstrumentMap,
    sub: Subscription,
    every: Duration,
    tx: mpsc::Sender<MarketEvent>,
    capture: Option<CaptureTx>,
    cancel: CancellationToken,
) {
    let mut normalizer = (ops.normalizer)(instruments, None);
    let mut out = Output::new();
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        for (request, kind) in (ops.poll_requests)(&sub) {
            let body = match rest.get(&request).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(venue = %ops.venue, error = %e, "poll failed");
                    continue;
                }
            };
            let ts = now_ns();
            if let Some(cap) = &capture {
                cap.send(CaptureRecord::Rest {
                    ts,
                    venue: ops.venue,
                    conn: "poll".into(),
                    request: kind.clone(),
                    body: body.clone(),
                })
                .await;
            }
            out.clear();
            if let Err(e) = normalizer.on_rest(&kind, &body, ts, &mut out) {
                tracing::warn!(venue = %ops.venue, error = %e, "poll response rejected");
            }
            for event in out.events.drain(..) {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn spawn_capture_writer(
    path: &PathBuf,
    cancel: &CancellationToken,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<CaptureTx, ExchangeError> {
    let file = std::fs::File::create(path).map_err(|e| ExchangeError::Core(e.into()))?;
    let (tx, mut rx) = mpsc::channel::<CaptureRecord>(4096);
    let cancel = cancel.clone();
    tasks.push(tokio::task::spawn_blocking(move || {
        let mut writer = CaptureWriter::new(std::io::BufWriter::new(file));
        while let Some(record) = rx.blocking_recv() {
            if let Err(e) = writer.write(&record) {
                tracing::error!(error = %e, "capture write failed; stopping the stream");
                cancel.cancel();
                return;
            }
            if rx.is_empty() {
                let _ = writer.flush();
            }
        }
        let _ = writer.flush();
    }));
    Ok(CaptureTx(tx))
}
