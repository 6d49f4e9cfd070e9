//! A bounded in-process event bus with subscriptions by subject pattern.
//!
//! Backpressure instead of loss: [`Bus::publish`] waits until every matching subscriber has
//! room, so a slow subscriber slows the publisher down rather than losing events. Use
//! [`Bus::try_publish`] where the caller wants to decide itself (it reports who was full).
//! A subscription ends when its [`Subscription`] is dropped.

use std::sync::{
    Arc, RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use tokio::sync::mpsc;

use crate::{
    Error,
    model::MarketEvent,
    subject::{SubjectPattern, write_subject},
};

struct Subscriber {
    id: u64,
    pattern: SubjectPattern,
    tx: mpsc::Sender<Arc<MarketEvent>>,
}

#[derive(Default)]
struct Inner {
    subscribers: RwLock<Vec<Subscriber>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

/// The in-process bus. Cheap to clone; clones share subscribers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), marketprism_core::Error> {
/// use marketprism_core::{bus::Bus, model::*};
/// let bus = Bus::new();
/// let mut sub = bus.subscribe("status.okx.>", 16)?;
/// let ev = MarketEvent::Status(Status::new(ExchangeId::OKX, MarketType::Spot, None, 0,
///     StatusKind::Connected { connection: "c".into() }));
/// assert_eq!(bus.publish(ev.clone()).await?, 1);
/// assert_eq!(*sub.recv().await.expect("event"), ev);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Bus {
    inner: Arc<Inner>,
}

/// A subscription: a bounded receiver of the events whose subject matches its pattern.
pub struct Subscription {
    id: u64,
    pattern: SubjectPattern,
    rx: mpsc::Receiver<Arc<MarketEvent>>,
    bus: Bus,
}

impl Subscription {
    /// Next event; `None` once the bus is closed and the buffer drained.
    pub async fn recv(&mut self) -> Option<Arc<MarketEvent>> {
        self.rx.recv().await
    }

    /// The subscription's pattern.
    pub fn pattern(&self) -> &SubjectPattern {
        &self.pattern
    }

    /// Events waiting in the buffer.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.bus.unsubscribe(self.id);
    }
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Bus::default()
    }

    /// Subscribes to `pattern` with a buffer of `capacity` events (at least 1).
    pub fn subscribe(&self, pattern: &str, capacity: usize) -> Result<Subscription, Error> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::BusClosed);
        }
        let pattern = SubjectPattern::new(pattern)?;
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.write_subscribers().push(Subscriber {
            id,
            pattern: pattern.clone(),
            tx,
        });
        metrics::gauge!("marketprism_bus_subscriptions").increment(1.0);
        Ok(Subscription {
            id,
            pattern,
            rx,
            bus: self.clone(),
        })
    }

    fn write_subscribers(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Subscriber>> {
        // A poisoned lock only means another thread panicked mid-push; the Vec is still valid.
        self.inner
            .subscribers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unsubscribe(&self, id: u64) {
        let mut subs = self.write_subscribers();
        let before = subs.len();
        subs.retain(|s| s.id != id);
        if subs.len() < before {
            metrics::gauge!("marketprism_bus_subscriptions").decrement(1.0);
        }
    }

    fn matching(&self, subject: &str) -> Vec<mpsc::Sender<Arc<MarketEvent>>> {
        self.inner
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|s| s.pattern.matches(subject))
            .map(|s| s.tx.clone())
            .collect()
    }

    /// Publishes an event, waiting for room in every matching subscriber's buffer.
    /// Returns the number of subscribers it was delivered to.
    pub async fn publish(&self, event: MarketEvent) -> Result<usize, Error> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::BusClosed);
        }
        let mut subject = String::with_capacity(48);
        write_subject(&event, &mut subject);
        let targets = self.matching(&subject);
        let event = Arc::new(event);
        let mut delivered = 0;
        for tx in targets {
            // A closed receiver is a subscription being dropped: not a loss.
            if tx.send(Arc::clone(&event)).await.is_ok() {
                delivered += 1;
            }
        }
        metrics::counter!("marketprism_bus_published_total").increment(1);
        Ok(delivered)
    }

    /// Publishes without waiting. Subscribers whose buffer is full do not receive the event;
    /// their count is returned as `Err` so the caller can react (disconnect, count, retry).
    pub fn try_publish(&self, event: MarketEvent) -> Result<usize, TryPublishError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(TryPublishError::Closed);
        }
        let mut subject = String::with_capacity(48);
        write_subject(&event, &mut subject);
        let event = Arc::new(event);
        let mut delivered = 0;
        let mut full = 0;
        for tx in self.matching(&subject) {
            match tx.try_send(Arc::clone(&event)) {
                Ok(()) => delivered += 1,
                Err(mpsc::error::TrySendError::Full(_)) => full += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if full > 0 {
            metrics::counter!("marketprism_bus_full_total").increment(full as u64);
            return Err(TryPublishError::Full { delivered, full });
        }
        Ok(delivered)
    }

    /// Number of live subscriptions.
    pub fn subscriber_count(&self) -> usize {
        self.inner
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Closes the bus: publishing fails from now on; subscribers drain what they hold.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.write_subscribers().clear();
    }
}

/// The bus as a [`Sink`](crate::sink::Sink): a batch is published event by event, each
/// waiting for room in every matching subscriber (backpressure). A closed bus is a permanent
/// error.
#[async_trait::async_trait]
impl crate::sink::Sink for Bus {
    fn name(&self) -> &str {
        "bus"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), Error> {
        for event in batch {
            self.publish(event.clone()).await?;
        }
        Ok(())
    }
    async fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
    async fn health(&self) -> crate::sink::Health {
        if self.inner.closed.load(Ordering::Acquire) {
            crate::sink::Health::Unhealthy {
                reason: "the event bus is closed".into(),
            }
        } else {
            crate::sink::Health::Healthy
        }
    }
}

/// Why [`Bus::try_publish`] did not reach everyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TryPublishError {
    /// Some subscribers' buffers were full.
    #[error("{full} subscriber(s) full; delivered to {delivered}")]
    Full {
        /// Subscribers that received the event.
        delivered: usize,
        /// Subscribers that did not.
        full: usize,
    },
    /// The bus is closed.
    #[error("the event bus is closed")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use std::time::Duration;

    fn status(ex: ExchangeId, sym: &str) -> MarketEvent {
        MarketEvent::Status(Status::new(
            ex,
            MarketType::Spot,
            Some(Symbol::new(sym)),
            0,
            StatusKind::BookResync { reason: "t".into() },
        ))
    }

    #[tokio::test]
    async fn routes_by_pattern() {
        let bus = Bus::new();
        let mut okx = bus.subscribe("*.okx.>", 8).expect("sub");
        let all = bus.subscribe(">", 8).expect("sub");
        assert_eq!(
            bus.publish(status(ExchangeId::BINANCE, "A"))
                .await
                .expect("pub"),
            1
        );
        assert_eq!(
            bus.publish(status(ExchangeId::OKX, "B"))
                .await
                .expect("pub"),
            2
        );
        assert_eq!(
            okx.recv().await.expect("ev").symbol().map(|s| s.as_str()),
            Some("B")
        );
        assert_eq!(all.len(), 2);
    }

    #[tokio::test]
    async fn full_subscriber_applies_backpressure_not_loss() {
        let bus = Bus::new();
        let mut sub = bus.subscribe(">", 1).expect("sub");
        bus.publish(status(ExchangeId::OKX, "1"))
            .await
            .expect("first fits");
        // The second publish must wait until the subscriber reads.
        let bus2 = bus.clone();
        let pending = tokio::spawn(async move { bus2.publish(status(ExchangeId::OKX, "2")).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!pending.is_finished(), "publish should be waiting for room");
        assert!(matches!(
            bus.try_publish(status(ExchangeId::OKX, "3")),
            Err(TryPublishError::Full {
                delivered: 0,
                full: 1
            })
        ));
        let first = sub.recv().await.expect("first");
        assert_eq!(first.symbol().map(|s| s.as_str()), Some("1"));
        assert_eq!(pending.await.expect("join").expect("publish"), 1);
        assert_eq!(
            sub.recv()
                .await
                .expect("second")
                .symbol()
                .map(|s| s.as_str()),
            Some("2")
        );
    }

    #[tokio::test]
    async fn bus_is_a_sink() {
        use crate::sink::Sink;
        let bus = Bus::new();
        let mut sub = bus.subscribe(">", 8).expect("sub");
        let sink: &dyn Sink = &bus;
        sink.write_batch(&[status(ExchangeId::OKX, "1"), status(ExchangeId::OKX, "2")])
            .await
            .expect("write");
        assert_eq!(sub.len(), 2);
        assert!(sink.health().await.is_up());
        let _ = sub.recv().await;
        bus.close();
        let err = sink.write_batch(&[status(ExchangeId::OKX, "3")]).await;
        assert!(matches!(err, Err(ref e) if !e.is_retryable()), "{err:?}");
        assert!(!sink.health().await.is_up());
    }

    #[tokio::test]
    async fn dropping_subscription_unsubscribes_and_close_stops_publishing() {
        let bus = Bus::new();
        let sub = bus.subscribe(">", 1).expect("sub");
        assert_eq!(bus.subscriber_count(), 1);
        drop(sub);
        assert_eq!(bus.subscriber_count(), 0);
        bus.close();
        assert!(matches!(
            bus.publish(status(ExchangeId::OKX, "x")).await,
            Err(Error::BusClosed)
        ));
    }
}
