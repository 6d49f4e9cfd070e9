//! The library API: a builder that yields one `Stream` of normalized events for any mix of
//! exchanges, channels and symbols.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

mod images;
mod rest;

use futures::Stream;
use marketprism_core::model::MarketEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use images::BookImages;
pub use rest::fetch_instruments;
use rest::{group_subscriptions, load_instruments, plan_subscriptions, poll_task};

use crate::{
    Channel, Exchange, ExchangeError,
    capture::{CaptureRecord, CaptureWriter},
    connection::{CaptureTx, RECONNECT, Running, SessionParams, SupervisorConfig, supervise},
    transport::{RestClient, WeightBudget},
};

#[derive(Debug, Clone)]
struct VenuePlan {
    exchange: Arc<dyn Exchange>,
    channels: BTreeSet<Channel>,
    symbols: Vec<String>,
    ws_url: Option<String>,
    rest_url: Option<String>,
}

/// Builds a [`MarketStream`].
///
/// Every method that names a venue takes `impl Into<Arc<dyn Exchange>>`: a built-in
/// [`Venue`](crate::Venue) or any [`Exchange`] implementation. Venues are told apart by
/// [`Exchange::name`]; naming one again (with the same or another value of that name)
/// adds to its plan, and the last value given is the one used.
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
    venues: Vec<VenuePlan>,
    book_depth: Option<usize>,
    buffer: usize,
    stall_timeout: Duration,
    rotate_after: BTreeMap<String, Duration>,
    capture: Option<PathBuf>,
    book_images: Option<(Duration, usize)>,
}

impl Default for MarketStreamBuilder {
    fn default() -> Self {
        MarketStreamBuilder {
            venues: Vec::new(),
            book_depth: None,
            buffer: 8192,
            stall_timeout: Duration::from_secs(30),
            rotate_after: BTreeMap::new(),
            capture: None,
            book_images: None,
        }
    }
}

/// A running stream of normalized events. Dropping it stops every connection.
pub struct MarketStream {
    rx: mpsc::Receiver<MarketEvent>,
    _running: Running,
    images: Option<(BookImages, tokio::time::Interval)>,
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
        let this = &mut *self;
        let Some((images, tick)) = &mut this.images else {
            return this.rx.poll_recv(cx);
        };
        if let Some(image) = images.next() {
            return Poll::Ready(Some(image));
        }
        if tick.poll_tick(cx).is_ready() {
            images.take_images(marketprism_core::model::now_ns());
            if let Some(image) = images.next() {
                return Poll::Ready(Some(image));
            }
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                images.observe(&event);
                Poll::Ready(Some(event))
            }
            Poll::Ready(None) => {
                // The end: the last state of every changed book still goes out.
                images.take_images(marketprism_core::model::now_ns());
                Poll::Ready(images.next())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl MarketStreamBuilder {
    /// Subscribes `channels` for `symbols` (normalized like `BTC-USDT-PERP` or native like
    /// `BTCUSDT`) on `exchange` (a [`Venue`](crate::Venue) or any `Arc<dyn Exchange>`).
    /// Repeatable; venues and channels accumulate.
    ///
    /// ```
    /// # use marketprism_exchanges::{Channel, MarketStream, Venue};
    /// let b = MarketStream::builder().subscribe(Venue::Deribit, [Channel::Book], ["BTC-PERPETUAL"]);
    /// # let _ = b;
    /// ```
    pub fn subscribe<C, S>(
        mut self,
        exchange: impl Into<Arc<dyn Exchange>>,
        channels: C,
        symbols: S,
    ) -> Self
    where
        C: IntoIterator<Item = Channel>,
        S: IntoIterator,
        S::Item: Into<String>,
    {
        let plan = self.plan(exchange.into());
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
    pub fn ws_url(
        mut self,
        exchange: impl Into<Arc<dyn Exchange>>,
        url: impl Into<String>,
    ) -> Self {
        self.plan(exchange.into()).ws_url = Some(url.into());
        self
    }

    /// Overrides a venue's REST base URL.
    ///
    /// ```
    /// # use marketprism_exchanges::{MarketStream, Venue};
    /// let b = MarketStream::builder().rest_url(Venue::Okx, "http://127.0.0.1:9443");
    /// # let _ = b;
    /// ```
    pub fn rest_url(
        mut self,
        exchange: impl Into<Arc<dyn Exchange>>,
        url: impl Into<String>,
    ) -> Self {
        self.plan(exchange.into()).rest_url = Some(url.into());
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

    /// Also emits, every `interval`, a top-`depth` image of each synced book that changed
    /// since its last image: a [`BookSnapshot`](marketprism_core::model::BookSnapshot) with
    /// [`top_n`](marketprism_core::model::BookSnapshot::top_n) `= Some(depth)`, the book's
    /// last applied `sequence` and `exchange_ts`, taken when `local_ts` says (default: none).
    ///
    /// The images let several consumers that each see only part of the deltas (storage
    /// services sharing one durable consumer) keep a correct top-N book: each writes the
    /// newest image by sequence. Two collectors of the same book emit images of the same
    /// sequence with the same content, so one event identity. A book that stops changing
    /// gets one image after its last change, so its final state always goes out. An image
    /// is only taken of a book built from a whole snapshot and every delta after it; after
    /// a gap or resync, not before the next snapshot. Images are not a base for deltas.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = marketprism_exchanges::MarketStream::builder().book_images(Duration::from_secs(1), 20);
    /// # let _ = b;
    /// ```
    pub fn book_images(mut self, interval: Duration, depth: usize) -> Self {
        self.book_images = (!interval.is_zero()).then_some((interval, depth.max(1)));
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
    pub fn rotate_after(mut self, exchange: impl Into<Arc<dyn Exchange>>, age: Duration) -> Self {
        let exchange = exchange.into();
        self.rotate_after.insert(exchange.name().to_owned(), age);
        self
    }

    /// The plan of `exchange`'s venue (by name), created empty on first mention.
    fn plan(&mut self, exchange: Arc<dyn Exchange>) -> &mut VenuePlan {
        let at = match self
            .venues
            .iter()
            .position(|p| p.exchange.name() == exchange.name())
        {
            Some(at) => {
                self.venues[at].exchange = exchange;
                at
            }
            None => {
                self.venues.push(VenuePlan {
                    exchange,
                    channels: BTreeSet::new(),
                    symbols: Vec::new(),
                    ws_url: None,
                    rest_url: None,
                });
                self.venues.len() - 1
            }
        };
        &mut self.venues[at]
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
        for plan in &self.venues {
            let ex = &plan.exchange;
            let venue: Arc<str> = ex.name().into();
            let rest_base = plan.rest_url.as_deref().unwrap_or(ex.rest_base_url());
            let budget = Arc::new(WeightBudget::new(ex.rest_weight_per_minute()));
            let rest = RestClient::new(Arc::clone(&venue), rest_base, budget);
            let instruments = load_instruments(&**ex, &venue, &rest, capture.as_ref()).await?;
            let (ws_subs, polls) = plan_subscriptions(&**ex, &instruments, plan)?;
            let config = SupervisorConfig {
                rotate_after: self.rotate_after.get(&*venue).copied().or_else(|| {
                    ex.max_connection_lifetime()
                        .map(|l| l.saturating_sub(Duration::from_secs(1800)))
                }),
                overlap_grace: Duration::from_secs(1),
                backoff: RECONNECT,
            };
            let ws_base = plan.ws_url.as_deref().unwrap_or(ex.ws_base_url());
            for (group, subs) in group_subscriptions(&**ex, ws_base, ws_subs)
                .into_iter()
                .enumerate()
            {
                let params = SessionParams {
                    exchange: Arc::clone(ex),
                    venue: Arc::clone(&venue),
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
                    Arc::clone(ex),
                    Arc::clone(&venue),
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
        let images = self.book_images.map(|(every, depth)| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (BookImages::new(depth, self.book_depth), tick)
        });
        Ok(MarketStream {
            rx,
            _running: Running { cancel, tasks },
            images,
        })
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
