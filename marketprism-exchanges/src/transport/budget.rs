//! The REST weight budget: a local GCRA limiter (governor) below the exchange's per-minute
//! limit, corrected by what the exchange reports (`x-mbx-used-weight-1m`) and blocked outright
//! after a 429/418 until its `Retry-After` has passed. 500 books resyncing at once therefore
//! queue for weight instead of earning a ban.

use std::{
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Shared by every REST request of one venue.
pub struct WeightBudget {
    limiter: DefaultDirectRateLimiter,
    limit_per_minute: u32,
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    /// No request before this instant (429/418 Retry-After, or the exchange's count is high).
    blocked_until: Option<Instant>,
    /// Last weight the exchange reported as used in the current minute.
    reported_used: u32,
}

impl std::fmt::Debug for WeightBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightBudget")
            .field("limit_per_minute", &self.limit_per_minute)
            .finish_non_exhaustive()
    }
}

impl WeightBudget {
    /// A budget of `limit_per_minute`, of which we use at most 80 % so that requests made
    /// elsewhere from the same IP leave headroom.
    ///
    /// ```
    /// let budget = marketprism_exchanges::transport::WeightBudget::new(6000);
    /// assert_eq!(budget.limit_per_minute(), 6000);
    /// ```
    pub fn new(limit_per_minute: u32) -> Self {
        let usable = (limit_per_minute.saturating_mul(4) / 5).max(1);
        let per_minute = NonZeroU32::new(usable).unwrap_or(NonZeroU32::MIN);
        // Burst of a tenth of the minute's weight: a reconnect storm spreads over ~a minute.
        let burst = NonZeroU32::new((usable / 10).max(1)).unwrap_or(NonZeroU32::MIN);
        WeightBudget {
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            limit_per_minute,
            state: Mutex::new(BudgetState::default()),
        }
    }

    /// The exchange's limit.
    pub fn limit_per_minute(&self) -> u32 {
        self.limit_per_minute
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BudgetState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `weight` may be spent, then spends it.
    pub async fn acquire(&self, weight: u32) {
        loop {
            let blocked = self.lock().blocked_until;
            match blocked {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until.into()).await;
                }
                _ => break,
            }
        }
        let weight = NonZeroU32::new(weight.max(1)).unwrap_or(NonZeroU32::MIN);
        // A weight larger than the burst can never be granted at once: take it in burst-size
        // pieces (the total rate is what matters).
        let mut remaining = weight.get();
        while remaining > 0 {
            let piece = remaining.min(self.burst());
            let n = NonZeroU32::new(piece).unwrap_or(NonZeroU32::MIN);
            if self.limiter.until_n_ready(n).await.is_err() {
                break;
            }
            remaining -= piece;
        }
    }

    fn burst(&self) -> u32 {
        ((self.limit_per_minute.saturating_mul(4) / 5) / 10).max(1)
    }

    /// Records the exchange's reported used weight; near the limit, waits for the next minute.
    pub fn observe_used(&self, used: u32) {
        let mut st = self.lock();
        st.reported_used = used;
        if used.saturating_mul(10) >= self.limit_per_minute.saturating_mul(9) {
            let until = Instant::now() + until_next_minute();
            st.blocked_until = Some(st.blocked_until.map_or(until, |b| b.max(until)));
            metrics::counter!("marketprism_rest_weight_throttled_total").increment(1);
        }
    }

    /// Blocks every request for `retry_after` (a 429 or 418 answer).
    pub fn block_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut st = self.lock();
        st.blocked_until = Some(st.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// When requests are blocked, until when.
    pub fn blocked_until(&self) -> Option<Instant> {
        self.lock().blocked_until.filter(|u| *u > Instant::now())
    }

    /// The last used weight the exchange reported.
    pub fn reported_used(&self) -> u32 {
        self.lock().reported_used
    }
}

fn until_next_minute() -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(60) - Duration::from_nanos((now.as_nanos() % 60_000_000_000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_acquire() {
        let b = WeightBudget::new(6000);
        b.block_for(Duration::from_secs(30));
        let start = tokio::time::Instant::now();
        b.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(30));
    }

    #[test]
    fn high_reported_weight_blocks_until_next_minute() {
        let b = WeightBudget::new(1000);
        b.observe_used(100);
        assert!(b.blocked_until().is_none());
        b.observe_used(950);
        assert!(b.blocked_until().is_some());
        assert_eq!(b.reported_used(), 950);
    }
}
