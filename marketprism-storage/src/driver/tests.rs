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

/// Holds every write containing an event of symbol `HOLD` until `gate` gives a permit.
struct Gated {
    gate: tokio::sync::Semaphore,
    written: Mutex<Vec<String>>,
}

#[async_trait]
impl Sink for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    async fn write_batch(&self, batch: &[MarketEvent]) -> std::result::Result<(), Error> {
        let symbols: Vec<String> = batch
            .iter()
            .filter_map(|e| e.symbol().map(|s| s.as_str().to_owned()))
            .collect();
        if symbols.iter().any(|s| s == "HOLD") {
            let _permit = self.gate.acquire().await;
        }
        self.written.lock().expect("lock").extend(symbols);
        Ok(())
    }
    async fn flush(&self) -> std::result::Result<(), Error> {
        Ok(())
    }
    async fn health(&self) -> Health {
        Health::Healthy
    }
}

/// Whether `B` gets written while the batch holding `HOLD` waits, with `in_flight` batches.
async fn written_past_a_held_batch(in_flight: usize) -> bool {
    let sink = Arc::new(Gated {
        gate: tokio::sync::Semaphore::new(0),
        written: Mutex::default(),
    });
    let driver = SinkDriver::new(
        vec![sink.clone() as Arc<dyn Sink>],
        fast().batch_size(1).in_flight(in_flight),
    );
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let input =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    let run = driver.run(input, &NoAck, futures::future::pending());
    tokio::pin!(run);
    tx.send(ev("HOLD")).await.expect("send");
    tx.send(ev("B")).await.expect("send");
    let passed = tokio::select! {
        r = &mut run => panic!("run ended early: {r:?}"),
        () = async {
            while !sink.written.lock().expect("lock").iter().any(|s| s == "B") {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => true,
        () = tokio::time::sleep(Duration::from_millis(300)) => false,
    };
    // Released, and the input ended: everything is written, nothing twice.
    sink.gate.add_permits(1);
    drop(tx);
    run.await.expect("run");
    let mut written = sink.written.lock().expect("lock").clone();
    written.sort();
    assert_eq!(written, ["B", "HOLD"]);
    passed
}

#[tokio::test]
async fn with_batches_in_flight_a_slow_write_does_not_hold_the_next_back() {
    assert!(written_past_a_held_batch(2).await);
    assert!(!written_past_a_held_batch(1).await);
}

#[tokio::test]
async fn with_batches_in_flight_shutdown_still_writes_everything_waiting() {
    let sink = Arc::new(Fake::default());
    let driver = SinkDriver::new(
        vec![sink.clone() as Arc<dyn Sink>],
        fast().batch_size(2).in_flight(3),
    );
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for i in 0..25 {
        tx.send(ev(&i.to_string())).await.expect("send");
    }
    let input =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    driver.run(input, &NoAck, async {}).await.expect("run");
    assert_eq!(sink.written.lock().expect("lock").len(), 25);
    assert_eq!(driver.status().snapshot().events, 25);
}

#[tokio::test]
async fn with_batches_in_flight_the_drain_limit_still_ends_the_run() {
    let sink = Arc::new(Fake {
        always_fail: true,
        ..Fake::default()
    });
    let driver = SinkDriver::new(
        vec![sink as Arc<dyn Sink>],
        fast()
            .batch_size(1)
            .in_flight(4)
            .drain_limit(Some(Duration::from_millis(50))),
    );
    let input =
        futures::stream::iter([ev("1"), ev("2"), ev("3")]).chain(futures::stream::pending());
    let r = driver
        .run(input, &NoAck, tokio::time::sleep(Duration::from_millis(30)))
        .await;
    assert!(matches!(r, Err(StorageError::Shutdown)), "{r:?}");
}
