//! Smooth weighted round-robin (the nginx algorithm): with weights 5, 1, 1 the order is
//! `a a b a c a a`, spread out rather than bursty, and it adapts as instances come and go.

use std::{collections::HashMap, sync::Mutex};

use crate::upstream::Upstream;

/// Per-service current weights.
#[derive(Debug, Default)]
pub struct Balancer {
    current: Mutex<HashMap<String, HashMap<String, i64>>>,
}

impl Balancer {
    /// A balancer with no history.
    pub fn new() -> Self {
        Balancer::default()
    }

    /// Picks one of `candidates` (already filtered: healthy, breaker admits, not yet tried)
    /// for `service`; `None` when there is none with a positive weight.
    ///
    /// ```
    /// use marketprism_gateway::{balancer::Balancer, Upstream};
    /// let b = Balancer::new();
    /// let c = [Upstream::new("a", "http://a").weight(2), Upstream::new("b", "http://b")];
    /// let picks: Vec<_> = (0..3).filter_map(|_| b.pick("svc", &c)).map(|i| c[i].id.as_str()).collect();
    /// assert_eq!(picks, ["a", "b", "a"]);
    /// ```
    pub fn pick(&self, service: &str, candidates: &[Upstream]) -> Option<usize> {
        self.pick_with(service, candidates, |c| (c.id.as_str(), c.weight))
    }

    /// [`pick`](Self::pick) over any candidate type, given its id and weight (the proxy picks
    /// among borrowed instances without cloning them).
    pub(crate) fn pick_with<'a, T>(
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
        let mut best: Option<(usize, i64)> = None;
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
            if best.is_none_or(|(_, b)| *cw > b) {
                best = Some((i, *cw));
            }
        }
        let (index, _) = best?;
        if let Some(cw) = current.get_mut(id_weight(&candidates[index]).0) {
            *cw -= total;
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_and_proportional() {
        let b = Balancer::new();
        let c = [
            Upstream::new("a", "x").weight(5),
            Upstream::new("b", "x").weight(1),
            Upstream::new("c", "x").weight(1),
        ];
        let seq: String = (0..7)
            .filter_map(|_| b.pick("s", &c))
            .map(|i| c[i].id.clone())
            .collect();
        assert_eq!(seq, "aabacaa");
        let mut counts = HashMap::new();
        for _ in 0..700 {
            let i = b.pick("s", &c).expect("pick");
            *counts.entry(i).or_insert(0) += 1;
        }
        assert_eq!(counts[&0], 500);
        assert_eq!(counts[&1], 100);
    }

    #[test]
    fn zero_weight_and_empty() {
        let b = Balancer::new();
        assert_eq!(b.pick("s", &[]), None);
        assert_eq!(b.pick("s", &[Upstream::new("a", "x").weight(0)]), None);
    }
}
