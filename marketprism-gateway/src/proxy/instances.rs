//! What the proxy needs per upstream instance on every attempt — its breaker and its outcome
//! counters — looked up once per (service, instance) and then shared.
//!
//! Registering `marketprism_gateway_upstream_requests_total` with owned label values on every
//! attempt allocated and hashed three labels per request; the handles resolved here are
//! incremented with one atomic add. Handles are created on the first request to an instance,
//! after [`crate::serve`] has installed the metrics recorder.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use metrics::Counter;

use super::target::Target;
use crate::breaker::{Breaker, BreakerRegistry};

/// How an attempt ended, as the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Any status below 500.
    Ok,
    /// A 5xx answer.
    ServerError,
    /// No answer within the timeout.
    Timeout,
    /// A transport error.
    Error,
}

impl Outcome {
    const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ServerError => "5xx",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}

/// One instance's breaker and counters.
pub(crate) struct Instance {
    pub(crate) breaker: Arc<Breaker>,
    outcomes: [Counter; 4],
    /// The base URL seen first, parsed (a later, different URL for the same id is parsed
    /// per request instead: see [`Target::is_for`]).
    pub(crate) target: Option<Target>,
}

impl Instance {
    /// Counts one attempt.
    pub(crate) fn record(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].increment(1);
    }
}

/// Every instance seen so far (like the breakers, never forgotten: instance ids are few).
#[derive(Default)]
pub(crate) struct Instances {
    map: RwLock<HashMap<String, HashMap<String, Arc<Instance>>>>,
}

impl Instances {
    /// The entry of `instance` of `service`, created on first use with the breaker from
    /// `breakers` (which `/_gateway/services` reads) and its `base_url` parsed.
    pub(crate) fn get(
        &self,
        breakers: &BreakerRegistry,
        service: &str,
        instance: &str,
        base_url: &str,
    ) -> Arc<Instance> {
        if let Some(i) = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .and_then(|m| m.get(instance))
        {
            return Arc::clone(i);
        }
        let entry = Arc::new(Instance {
            breaker: breakers.get(service, instance),
            outcomes: Outcome::ALL.map(|o| {
                metrics::counter!("marketprism_gateway_upstream_requests_total",
                    "service" => service.to_owned(), "instance" => instance.to_owned(),
                    "outcome" => o.label())
            }),
            target: Target::parse(base_url),
        });
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            map.entry(service.to_owned())
                .or_default()
                .entry(instance.to_owned())
                .or_insert(entry),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BreakerConfig;

    #[test]
    fn one_entry_per_instance_sharing_the_registry_breaker() {
        let breakers = BreakerRegistry::new(BreakerConfig::default());
        let instances = Instances::default();
        let url = "http://127.0.0.1:1";
        let a = instances.get(&breakers, "svc", "a", url);
        assert!(Arc::ptr_eq(&a, &instances.get(&breakers, "svc", "a", url)));
        assert!(Arc::ptr_eq(&a.breaker, &breakers.get("svc", "a")));
        assert!(!Arc::ptr_eq(&a, &instances.get(&breakers, "svc", "b", url)));
        assert!(!Arc::ptr_eq(
            &a,
            &instances.get(&breakers, "other", "a", url)
        ));
        assert!(a.target.as_ref().is_some_and(|t| t.is_for(url)));
        // Outcome indexes the counters array.
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
    }
}
