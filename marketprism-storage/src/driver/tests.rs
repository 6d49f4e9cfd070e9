use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::StreamExt;
use marketprism_core::{
    Error,
    model::{ExchangeId, MarketType, Status, StatusKind, Symbol},
    sink::Health,
};

use super::*;

fn ev(sym: &str) -> MarketEvent {
    MarketEvent::Status(Status::new(
        ExchangeId::OKX,
        MarketType::Spot,
        Some(Symbol::new(sym)),
        0,
        StatusKind::BookResync { reason: "t".into() },
    ))
}

/// Fails `transient` times (retryably), refuses events whose symbol is `BAD` permanently.
#[derive(Default)]
struct Fake {
    transient: AtomicU32,
    always_fail: bool,
    written: Mutex<Vec<MarketEvent>>,
}

#[async_trait]
impl Sink for Fake {
    fn name(&self) -> &str {
        "fake"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> std::result::Result<(), Error> {
        let fail = |retryable| Error::Sink {
            sink: "fake".into(),
            message: "no".into(),
            retryable,
            source: None,
        };
        if self.always_fail
            || self
                .transient
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(fail(true));
        }
        if batch
            .iter()
            .any(|e| e.symbol().map(|s| s.as_str()) == Some("BAD"))
        {
            return Err(fail(false));
        }
        self.written.lock().expect("lock").extend_from_slice(batch);
        Ok(())
    }
    async fn flush(&self) -> std::result::Result<(), Error> {
        Ok(())
    }
    async fn health(&self) -> Health {
        Health::Healthy
    }
}

#[derive(Default)]
struct Recorder {
    dead: Mutex<Vec<usize>>,
    acked: Mutex<Vec<Vec<bool>>>,
    alive: AtomicU32,
}

#[async_trait]
impl Delivery for Recorder {
    async fn retrying(&self, _: &str, _: &StorageError) {
        self.alive.fetch_add(1, Ordering::Relaxed);
    }
    async fn dead_letter(&self, index: usize, _: &str) -> Result<()> {
        self.dead.lock().expect("lock").push(index);
        Ok(())
    }
    async fn ack(&self, keep: &[bool]) -> Result<()> {
        self.acked.lock().expect("lock").push(keep.to_vec());
        Ok(())
    }
}

fn fast() -> DriverConfig {
    DriverConfig::default().backoff(Backoff::new(
        Duration::from_millis(1),
        Duration::from_millis(4),
    ))
}

#[tokio::test]
async fn retries_transient_failures_then_acks() {
    let sink = Arc::new(Fake {
        transient: AtomicU32::new(3),
        ..Fake::default()
    });
    let driver = SinkDriver::new(vec![sink.clone() as Arc<dyn Sink>], fast());
    let rec = Recorder::default();
    let keep = driver
        .process(&[ev("A"), ev("B")], &rec)
        .await
        .expect("process");
    assert_eq!(keep, vec![true, true]);
    assert_eq!(sink.written.lock().expect("lock").len(), 2);
    assert_eq!(rec.alive.load(Ordering::Relaxed), 3);
    assert_eq!(*rec.acked.lock().expect("lock"), vec![vec![true, true]]);
    let s = driver.status().snapshot();
    assert_eq!((s.events, s.retries, s.batches), (2, 3, 1));
    assert_eq!(s.sinks.get("fake"), Some(&2));
    assert_eq!(s.state, DriverState::Running);
    assert!(s.last_error.is_some());
}

#[tokio::test]
async fn permanent_refusals_are_dead_lettered_not_retried() {
    let sink = Arc::new(Fake::default());
    let driver = SinkDriver::new(vec![sink.clone() as Arc<dyn Sink>], fast());
    let rec = Recorder::default();
    let keep = driver
        .process(&[ev("A"), ev("BAD"), ev("C")], &rec)
        .await
        .expect("process");
    assert_eq!(keep, vec![true, false, true]);
    assert_eq!(*rec.dead.lock().expect("lock"), vec![1]);
    assert_eq!(sink.written.lock().expect("lock").len(), 2);
    let s = driver.status().snapshot();
    assert_eq!((s.events, s.dead_lettered, s.retries), (2, 1, 0));
}

#[tokio::test]
async fn run_batches_and_writes_what_is_waiting_at_shutdown() {
    let sink = Arc::new(Fake::default());
    let driver = SinkDriver::new(vec![sink.clone() as Arc<dyn Sink>], fast().batch_size(2));
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for s in ["1", "2", "3", "4", "5"] {
        tx.send(ev(s)).await.expect("send");
    }
    let input =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    // Shutdown is already due: everything waiting is still written.
    driver.run(input, &NoAck, async {}).await.expect("run");
    assert_eq!(sink.written.lock().expect("lock").len(), 5);
    let s = driver.status().snapshot();
    assert_eq!(s.events, 5);
    assert!(s.batches >= 3, "{s:?}");
    assert_eq!(s.state, DriverState::Stopped);
}

#[tokio::test]
async fn run_gives_up_only_after_the_drain_limit() {
    let sink = Arc::new(Fake {
        always_fail: true,
        ..Fake::default()
    });
    let driver = SinkDriver::new(
        vec![sink as Arc<dyn Sink>],
        fast().drain_limit(Some(Duration::from_millis(50))),
    );
    let input = futures::stream::iter([ev("1")]).chain(futures::stream::pending());
    let started = Instant::now();
    let r = driver
        .run(input, &NoAck, tokio::time::sleep(Duration::from_millis(30)))
        .await;
    assert!(matches!(r, Err(StorageError::Shutdown)), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert!(matches!(
        driver.status().snapshot().state,
        DriverState::Stopped
    ));
}
