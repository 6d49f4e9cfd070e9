//! Smooth weighted round-robin (nginx's algorithm), the one balancer of MarketPrism (service
//! discovery's `pick` and the gateway's proxy): with weights 5, 1, 1 the picks are
//! `a a b a c a a`, spread out rather than in bursts, adapting as instances come and go.
//!
//! ```
//! use marketprism_core::balance::Balancer;
//! let b = Balancer::new();
//! let c = [("a", 2), ("b", 1)];
//! let picks: Vec<_> = (0..3)
//!     .filter_map(|_| b.pick_by("svc", &c, |(id, w)| (*id, *w)))
//!     .map(|i| c[i].0)
//!     .collect();
//! assert_eq!(picks, ["a", "b", "a"]);
//! ```

use std::{collections::HashMap, sync::Mutex};

/// Per-service balancer state (each instance's current weight). Shared by reference; the
/// state is behind a lock.
#[derive(Debug, Default)]
pub struct Balancer {
    current: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl Balancer {
    /// A balancer with no history.
    pub fn new() -> Self {
        Balancer::default()
    }

    /// Picks one of `candidates` for `service` given each one's id and weight; returns its
    /// index. Candidates of weight 0 are never picked; `None` when no candidate has a
    /// positive weight. Ties go to the smallest id, so the order of `candidates` does not
    /// matter.
    pub fn pick_by<'a, T>(
        &self,
        service: &str,
        candidates: &'a [T],
        id_weight: impl Fn(&'a T) -> (&'a str, u32),
    ) -> Option<usize> {
        let mut all = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !all.contains_key(service) {
            all.insert(service.to_owned(), HashMap::new());
        }
        let current = all.get_mut(service)?;
        // Forget instances that disappeared so the map stays bounded.
        if current.len() > candidates.len() * 4 + 16 {
            current.retain(|id, _| candidates.iter().any(|c| id_weight(c).0 == id));
        }
        let mut total: i64 = 0;
        let mut best: Option<(usize, &str, i64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            let (id, weight) = id_weight(c);
            if weight == 0 {
                continue;
            }
            let w = i64::from(weight);
            total += w;
            let cw = match current.get_mut(id) {
                Some(cw) => cw,
                None => current.entry(id.to_owned()).or_insert(0),
            };
            *cw += w;
            if best.is_none_or(|(_, bid, b)| *cw > b || (*cw == b && id < bid)) {
                best = Some((i, id, *cw));
            }
        }
        let (index, id, _) = best?;
        if let Some(cw) = current.get_mut(id) {
            *cw -= total;
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(b: &Balancer, c: &[(&'static str, u32)]) -> Option<&'static str> {
        b.pick_by("s", c, |(id, w)| (*id, *w)).map(|i| c[i].0)
    }

    #[test]
    fn smooth_and_proportional() {
        let b = Balancer::new();
        let c = [("a", 5), ("b", 1), ("c", 1)];
        let seq: String = (0..7).filter_map(|_| pick(&b, &c)).collect();
        assert_eq!(seq, "aabacaa");
        let mut counts = HashMap::new();
        for _ in 0..700 {
            *counts.entry(pick(&b, &c).expect("pick")).or_insert(0) += 1;
        }
        assert_eq!(counts["a"], 500);
        assert_eq!(counts["b"], 100);
    }

    #[test]
    fn services_are_independent_and_order_does_not_matter() {
        let b = Balancer::new();
        assert_eq!(pick(&b, &[("b", 1), ("a", 1)]), Some("a"));
        assert_eq!(
            b.pick_by("t", &[("b", 1), ("a", 1)], |(i, w)| (*i, *w)),
            Some(1)
        );
        assert_eq!(pick(&b, &[("b", 1), ("a", 1)]), Some("b"));
    }

    #[test]
    fn zero_weight_and_empty() {
        let b = Balancer::new();
        assert_eq!(pick(&b, &[]), None);
        assert_eq!(pick(&b, &[("a", 0)]), None);
    }
}
