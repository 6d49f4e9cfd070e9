//! Registry events, delivered to handlers and to subscribers' streams.

use crate::instance::{InstanceStatus, ServiceInstance};

/// Something that happened to an instance, as seen by one [`Registry`](crate::Registry).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryEvent {
    /// An instance appeared (registered by us or seen in a watched service).
    Registered(ServiceInstance),
    /// An instance was deregistered.
    Deregistered {
        /// Service name.
        service: String,
        /// Instance id.
        id: String,
    },
    /// An instance's effective status changed (its own declaration or our health check).
    StatusChanged {
        /// Service name.
        service: String,
        /// Instance id.
        id: String,
        /// Status before.
        old: InstanceStatus,
        /// Status now.
        new: InstanceStatus,
    },
    /// An instance's TTL ran out (its process died or lost the backend).
    Expired {
        /// Service name.
        service: String,
        /// Instance id.
        id: String,
    },
    /// The backend failed; the service's last known instances are served, marked stale.
    Stale {
        /// Service name.
        service: String,
        /// The failure.
        error: String,
    },
}

impl RegistryEvent {
    /// The event's kind as a short name (`registered`, `deregistered`, `status_changed`,
    /// `expired`, `stale`).
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryEvent::Registered(_) => "registered",
            RegistryEvent::Deregistered { .. } => "deregistered",
            RegistryEvent::StatusChanged { .. } => "status_changed",
            RegistryEvent::Expired { .. } => "expired",
            RegistryEvent::Stale { .. } => "stale",
        }
    }

    /// The service the event is about.
    pub fn service(&self) -> &str {
        match self {
            RegistryEvent::Registered(i) => &i.service,
            RegistryEvent::Deregistered { service, .. }
            | RegistryEvent::StatusChanged { service, .. }
            | RegistryEvent::Expired { service, .. }
            | RegistryEvent::Stale { service, .. } => service,
        }
    }
}

/// A function called with every event, on the task that produced it (keep it quick).
pub type EventHandler = std::sync::Arc<dyn Fn(&RegistryEvent) + Send + Sync>;
