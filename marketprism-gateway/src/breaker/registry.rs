//! One breaker per (service, instance), created on first use.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use serde::Serialize;

use super::{Breaker, BreakerState};
use crate::config::BreakerConfig;

/// The breakers of every upstream instance seen so far.
#[derive(Debug)]
pub struct BreakerRegistry {
    config: BreakerConfig,
    breakers: RwLock<HashMap<String, HashMap<String, Arc<Breaker>>>>,
}

/// One breaker's state and counters, for `/_gateway/services`.
#[derive(Debug, Clone, Serialize)]
pub struct BreakerSnapshot {
    /// State.
    pub state: BreakerState,
    /// Requests admitted.
    pub requests: u64,
    /// Failures reported.
    pub failures: u64,
    /// Requests rejected while open.
    pub rejected: u64,
}

impl BreakerRegistry {
    /// An empty registry whose breakers use `config`.
    pub fn new(config: BreakerConfig) -> Self {
        BreakerRegistry {
            config,
            breakers: RwLock::new(HashMap::new()),
        }
    }

    /// The breaker of `instance` of `service`, created closed on first use.
    pub fn get(&self, service: &str, instance: &str) -> Arc<Breaker> {
        if let Some(b) = self
            .breakers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(service)
            .and_then(|m| m.get(instance))
        {
            return Arc::clone(b);
        }
        let mut map = self
            .breakers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            map.entry(service.to_owned())
                .or_default()
                .entry(instance.to_owned())
                .or_insert_with(|| Arc::new(Breaker::new(self.config))),
        )
    }

    /// A snapshot of one breaker, if it exists.
    pub fn snapshot(&self, service: &str, instance: &str) -> Option<BreakerSnapshot> {
        let map = self
            .breakers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(service)
            .and_then(|m| m.get(instance))
            .map(|b| BreakerSnapshot {
                state: b.state(),
                requests: b.requests(),
                failures: b.failures(),
                rejected: b.rejected(),
            })
    }

    /// Number of breakers per state: (closed, open, half-open).
    pub fn counts(&self) -> (usize, usize, usize) {
        let map = self
            .breakers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.values()
            .flat_map(HashMap::values)
            .fold((0, 0, 0), |(c, o, h), b| match b.state() {
                BreakerState::Closed => (c + 1, o, h),
                BreakerState::Open => (c, o + 1, h),
                BreakerState::HalfOpen => (c, o, h + 1),
            })
    }
}
