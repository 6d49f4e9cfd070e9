//! Load balancing, the one balancer of MarketPrism (service discovery's `pick` and the
//! gateway's proxy), with a choice of [`Strategy`]:
//!
//! - [`Strategy::WeightedRoundRobin`] (default) — smooth weighted round-robin (nginx's
//!   algorithm): with weights 5, 1, 1 the picks are `a a b a c a a`, spread out rather than in
//!   bursts, adapting as instances come and go.
//! - [`Strategy::LeastConnections`] — the instance with the fewest requests in flight relative
//!   to its weight (`in_flight / weight`), ties broken by weighted round-robin. Requests are
//!   counted by the [`InFlight`] guard of [`Balancer::start`], held while a request runs; a
//!   slow instance accumulates requests and receives fewer new ones.
//! - [`Strategy::Random`] — weighted random: each pick independent, probability
//!   `weight / total`. No shared state between balancers, so many gateways do not fall into
//!   step.
//!
//! ```
//! use marketprism_core::balance::{Balancer, Strategy};
//! let b = Balancer::new();
//! let c = [("a", 2), ("b", 1)];
//! let picks: Vec<_> = (0..3)
//!     .filter_map(|_| b.pick_by("svc", &c, |(id, w)| (*id, *w)))
//!     .map(|i| c[i].0)
//!     .collect();
//! assert_eq!(picks, ["a", "b", "a"]);
//!
//! // Least connections: `a` is busy with two requests, so `b` gets the next one.
//! let lc = Balancer::with_strategy(Strategy::LeastConnections);
//! let _busy = [lc.start("svc", "a"), lc.start("svc", "a")];
//! assert_eq!(lc.pick_by("svc", &c, |(id, w)| (*id, *w)), Some(1));
//! ```

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use serde::{Deserialize, Serialize};

/// How a [`Balancer`] chooses among healthy instances. Configured as
/// `weighted_round_robin` (default), `least_connections` or `random`.
///
/// ```
/// use marketprism_core::balance::Strategy;
/// assert_eq!("least_connections".parse::<Strategy>(), Ok(Strategy::LeastConnections));
/// assert_eq!(Strategy::Random.as_str(), "random");
/// assert!("fastest".parse::<Strategy>().unwrap_err().contains("weighted_round_robin"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Strategy {
    /// Smooth weighted round-robin.
    #[default]
    WeightedRoundRobin,
    /// Fewest requests in flight per unit of weight.
    LeastConnections,
    /// Weighted random.
    Random,
}

impl Strategy {
    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::WeightedRoundRobin => "weighted_round_robin",
            Strategy::LeastConnections => "least_connections",
            Strategy::Random => "random",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "weighted_round_robin" | "round_robin" => Ok(Strategy::WeightedRoundRobin),
            "least_connections" => Ok(Strategy::LeastConnections),
            "random" => Ok(Strategy::Random),
            other => Err(format!(
                "unknown load-balancing strategy `{other}` (weighted_round_robin, least_connections, random)"
            )),
        }
    }
}

type Counts = HashMap<(String, String), u64>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Per-service balancer state: each instance's current weight (round-robin), requests in
/// flight (least connections) and a random generator. Shared by reference; the state is
/// behind locks.
#[derive(Debug, Default)]
pub struct Balancer {
    strategy: Strategy,
    current: Mutex<HashMap<String, HashMap<String, i64>>>,
    in_flight: Arc<Mutex<Counts>>,
    rng: Mutex<u64>,
}

/// One request in flight to an instance, counted for [`Strategy::LeastConnections`] until
/// dropped.
#[derive(Debug)]
#[must_use = "the request counts as in flight only while the guard lives"]
pub struct InFlight {
    /// `None` when the strategy does not read the counts.
    counts: Option<Arc<Mutex<Counts>>>,
    key: (String, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let Some(counts) = &self.counts else {
            return;
        };
        let mut counts = lock(counts);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl Balancer {
    /// A weighted round-robin balancer with no history.
    pub fn new() -> Self {
        Balancer::default()
    }

    /// A balancer using `strategy`.
    pub fn with_strategy(strategy: Strategy) -> Self {
        Balancer {
            strategy,
            ..Balancer::default()
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Counts one request to instance `id` of `service` as in flight until the guard drops.
    /// Every strategy accepts it; only [`Strategy::LeastConnections`] reads it, so only that
    /// strategy counts (the others return a guard that does nothing: no allocation or lock
    /// per request).
    pub fn start(&self, service: &str, id: &str) -> InFlight {
        if self.strategy != Strategy::LeastConnections {
            return InFlight {
                counts: None,
                key: (String::new(), String::new()),
            };
        }
        let key = (service.to_owned(), id.to_owned());
        *lock(&self.in_flight).entry(key.clone()).or_insert(0) += 1;
        InFlight {
            counts: Some(Arc::clone(&self.in_flight)),
            key,
        }
    }

    /// Requests in flight to instance `id` of `service` (counted with
    /// [`Strategy::LeastConnections`] only; 0 otherwise).
    pub fn in_flight(&self, service: &str, id: &str) -> u64 {
        lock(&self.in_flight)
            .get(&(service.to_owned(), id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Picks one of `candidates` for `service` given each one's id and weight, by the
    /// balancer's strategy; returns its index. Candidates of weight 0 are never picked;
    /// `None` when no candidate has a positive weight. The order of `candidates` does not
    /// matter.
    pub fn pick_by<'a, T>(
        &self,
        service: &str,
        candidates: &'a [T],
        id_weight: impl Fn(&'a T) -> (&'a str, u32),
    ) -> Option<usize> {
        match self.strategy {
            Strategy::WeightedRoundRobin => self.round_robin(service, candidates, &id_weight),
            Strategy::LeastConnections => self.least_connections(service, candidates, &id_weight),
            Strategy::Random => self.random(candidates, &id_weight),
        }
    }

    fn least_connections<'a, T>(
        &self,
        service: &str,
        candidates: &'a [T],
        id_weight: &impl Fn(&'a T) -> (&'a str, u32),
    ) -> Option<usize> {
        let loads: Vec<(u64, u32)> = {
            let counts = lock(&self.in_flight);
            candidates
                .iter()
                .map(|c| {
                    let (id, w) = id_weight(c);
                    let n = counts
                        .get(&(service.to_owned(), id.to_owned()))
                        .copied()
                        .unwrap_or(0);
                    (n, w)
                })
                .collect()
        };
        // Lowest in_flight / weight, compared exactly by cross-multiplying.
        let least = loads
            .iter()
            .filter(|(_, w)| *w > 0)
            .min_by(|(n1, w1), (n2, w2)| {
                (u128::from(*n1) * u128::from(*w2)).cmp(&(u128::from(*n2) * u128::from(*w1)))
            })
            .copied()?;
        let tied: Vec<usize> = (0..candidates.len())
            .filter(|i| {
                let (n, w) = loads[*i];
                w > 0 && u128::from(n) * u128::from(least.1) == u128::from(least.0) * u128::from(w)
            })
            .collect();
        let pick = self.round_robin(service, &tied, &|i: &usize| id_weight(&candidates[*i]))?;
        tied.get(pick).copied()
    }

    fn random<'a, T>(
        &self,
        candidates: &'a [T],
        id_weight: &impl Fn(&'a T) -> (&'a str, u32),
    ) -> Option<usize> {
        let total: u64 = candidates.iter().map(|c| u64::from(id_weight(c).1)).sum();
        if total == 0 {
            return None;
        }
        let mut r = self.next_random() % total;
        for (i, c) in candidates.iter().enumerate() {
            let w = u64::from(id_weight(c).1);
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        None
    }

    /// SplitMix64, seeded from the process's random hash keys on first use.
    fn next_random(&self) -> u64 {
        let mut state = lock(&self.rng);
        if *state == 0 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(std::ptr::from_ref(self) as usize);
            *state = h.finish() | 1;
        }
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Smooth weighted round-robin. Ties go to the smallest id.
    fn round_robin<'a, T>(
        &self,
        service: &str,
        candidates: &'a [T],
        id_weight: &impl Fn(&'a T) -> (&'a str, u32),
    ) -> Option<usize> {
        // One candidate: it is the pick, and the smooth round-robin state would come back to
        // where it was (its current weight gains its weight and loses the total, the same).
        if let [only] = candidates {
            return (id_weight(only).1 > 0).then_some(0);
        }
        let mut all = lock(&self.current);
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

    fn pick_with(b: &Balancer, c: &[(&'static str, u32)]) -> Option<&'static str> {
        b.pick_by("s", c, |(id, w)| (*id, *w)).map(|i| c[i].0)
    }

    #[test]
    fn least_connections_avoids_busy_instances_and_spreads_idle_ones() {
        let b = Balancer::with_strategy(Strategy::LeastConnections);
        let c = [("a", 1), ("b", 1), ("c", 1)];
        // Idle: weighted round-robin among the tied ones.
        let seq: String = (0..6).filter_map(|_| pick_with(&b, &c)).collect();
        assert_eq!(seq, "abcabc");
        // `a` holds two requests, `b` one: `c` first, then `b` and `c` alternate.
        let _a = [b.start("s", "a"), b.start("s", "a")];
        let _b = b.start("s", "b");
        assert_eq!(pick_with(&b, &c), Some("c"));
        let _c = b.start("s", "c");
        assert_eq!(b.in_flight("s", "a"), 2);
        assert!(matches!(pick_with(&b, &c), Some("b" | "c")));
        drop(_a);
        assert_eq!(b.in_flight("s", "a"), 0);
        assert_eq!(pick_with(&b, &c), Some("a"));
        // Weighted: 2 requests on weight 2 equal 1 on weight 1.
        let w = [("x", 2), ("y", 1)];
        let _x = [b.start("s", "x"), b.start("s", "x")];
        let _y = b.start("s", "y");
        assert!(pick_with(&b, &w).is_some());
        assert_eq!(pick_with(&b, &[("z", 0)]), None);
    }

    /// A slow instance keeps its requests longer; with least connections it receives far
    /// fewer than its round-robin share.
    #[test]
    fn least_connections_sends_less_to_a_slow_instance() {
        let run = |strategy| {
            let b = Balancer::with_strategy(strategy);
            let c = [("fast1", 1), ("fast2", 1), ("slow", 1)];
            let mut slow_held: std::collections::VecDeque<InFlight> = Default::default();
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for _ in 0..3000 {
                // Each fast instance keeps one request open; the slow one finishes one of its
                // requests every 10 picks.
                let _fast = [b.start("s", "fast1"), b.start("s", "fast2")];
                let id = pick_with(&b, &c).expect("pick");
                *counts.entry(id).or_insert(0) += 1;
                let guard = b.start("s", id);
                if id == "slow" {
                    slow_held.push_back(guard);
                }
                if counts.values().sum::<u32>() % 10 == 0 {
                    slow_held.pop_front();
                }
            }
            counts.get("slow").copied().unwrap_or(0)
        };
        assert_eq!(run(Strategy::WeightedRoundRobin), 1000);
        let lc = run(Strategy::LeastConnections);
        assert!(lc <= 320, "slow instance got {lc} of 3000");
    }

    #[test]
    fn random_follows_the_weights() {
        let b = Balancer::with_strategy(Strategy::Random);
        let c = [("a", 3), ("b", 1), ("off", 0)];
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for _ in 0..20_000 {
            *counts.entry(pick_with(&b, &c).expect("pick")).or_insert(0) += 1;
        }
        let a = f64::from(counts["a"]) / 20_000.0;
        assert!((0.72..0.78).contains(&a), "a got {a}");
        assert!(!counts.contains_key("off"));
        assert_eq!(pick_with(&b, &[]), None);
        assert_eq!(pick_with(&b, &[("z", 0)]), None);
        // Not a fixed sequence: two balancers disagree somewhere in 64 picks.
        let other = Balancer::with_strategy(Strategy::Random);
        let eq = [("p", 1), ("q", 1)];
        let s1: Vec<_> = (0..64).map(|_| pick_with(&b, &eq)).collect();
        let s2: Vec<_> = (0..64).map(|_| pick_with(&other, &eq)).collect();
        assert_ne!(s1, s2);
    }

    #[test]
    fn strategy_names_round_trip_through_serde() {
        for s in [
            Strategy::WeightedRoundRobin,
            Strategy::LeastConnections,
            Strategy::Random,
        ] {
            let json = serde_json::to_string(&s).expect("serialize");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Strategy>(&json).expect("parse"), s);
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
        }
    }
}
