//! The object-safe [`Sink`] trait every storage backend implements.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Error, model::MarketEvent};

/// Health of a sink or any other dependency, as reported on `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Health {
    /// Working.
    Healthy,
    /// Working with reduced capability (e.g. retrying, serving stale data).
    Degraded {
        /// Why.
        reason: String,
    },
    /// Not working.
    Unhealthy {
        /// Why.
        reason: String,
    },
}

impl Health {
    /// True unless unhealthy.
    pub fn is_up(&self) -> bool {
        !matches!(self, Health::Unhealthy { .. })
    }
}

/// A destination for batches of events (ClickHouse, Redis, JetStream, embedded store, ...).
///
/// Object-safe, used as `Arc<dyn Sink>`. `write_batch` returns only once the batch is durable
/// for that sink, so callers can acknowledge upstream after it returns `Ok`.
///
/// ```
/// use async_trait::async_trait;
/// use marketprism_core::{model::MarketEvent, sink::{Health, Sink}, Error};
/// use std::sync::{Arc, Mutex};
///
/// #[derive(Default)]
/// struct Memory(Mutex<Vec<MarketEvent>>);
///
/// #[async_trait]
/// impl Sink for Memory {
///     fn name(&self) -> &str { "memory" }
///     async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), Error> {
///         self.0.lock().expect("lock").extend_from_slice(batch);
///         Ok(())
///     }
///     async fn flush(&self) -> Result<(), Error> { Ok(()) }
///     async fn health(&self) -> Health { Health::Healthy }
/// }
/// let sink: Arc<dyn Sink> = Arc::new(Memory::default());
/// # let _ = sink;
/// ```
#[async_trait]
pub trait Sink: Send + Sync {
    /// Short name for logs, metrics and `/health`.
    fn name(&self) -> &str;
    /// Writes a batch durably. On `Err`, none or part of the batch may have been written; the
    /// caller retries the whole batch (sinks are idempotent by event identity).
    async fn write_batch(&self, batch: &[MarketEvent]) -> Result<(), Error>;
    /// Flushes anything buffered.
    async fn flush(&self) -> Result<(), Error>;
    /// Current health.
    async fn health(&self) -> Health;
}
