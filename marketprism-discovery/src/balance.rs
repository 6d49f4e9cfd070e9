//! Smooth weighted round-robin (nginx's algorithm): with weights 5, 1, 1 the picks are
//! `a a b a c a a`, spread out rather than in bursts.

use std::collections::HashMap;

use crate::instance::ServiceInstance;

/// Per-service balancer state: each instance's current weight.
#[derive(Debug, Default)]
pub(crate) struct SmoothWrr {
    current: HashMap<String, i64>,
}

impl SmoothWrr {
    /// Picks one of `candidates` (non-empty), updating the state. Instances that left are
    /// forgotten.
    pub(crate) fn pick<'a>(
        &mut self,
        candidates: &'a [ServiceInstance],
    ) -> Option<&'a ServiceInstance> {
        self.current
            .retain(|id, _| candidates.iter().any(|c| &c.id == id));
        let total: i64 = candidates.iter().map(|c| i64::from(c.weight.max(1))).sum();
        let mut best: Option<(&ServiceInstance, i64)> = None;
        for c in candidates {
            let cw = self.current.entry(c.id.clone()).or_insert(0);
            *cw += i64::from(c.weight.max(1));
            let better = match best {
                None => true,
                Some((b, bw)) => *cw > bw || (*cw == bw && c.id < b.id),
            };
            if better {
                best = Some((c, *cw));
            }
        }
        let (chosen, _) = best?;
        if let Some(cw) = self.current.get_mut(&chosen.id) {
            *cw -= total;
        }
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: &str, w: u32) -> ServiceInstance {
        ServiceInstance::builder("s", "h", 1)
            .id(id)
            .weight(w)
            .build()
            .unwrap()
    }

    #[test]
    fn follows_weights_smoothly() {
        let c = [inst("a", 5), inst("b", 1), inst("c", 1)];
        let mut wrr = SmoothWrr::default();
        let picks: String = (0..7).map(|_| wrr.pick(&c).unwrap().id.clone()).collect();
        assert_eq!(picks, "aabacaa");
        let mut counts = HashMap::new();
        for _ in 0..700 {
            *counts.entry(wrr.pick(&c).unwrap().id.clone()).or_insert(0) += 1;
        }
        assert_eq!(counts["a"], 500);
        assert_eq!(counts["b"], 100);
        assert!(wrr.pick(&[]).is_none());
    }
}
