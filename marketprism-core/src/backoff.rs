//! The one capped exponential backoff with jitter used for every retry in MarketPrism
//! (exchange reconnects, discovery calls, JetStream publishes, sink writes).
//!
//! The nominal delay before retry `attempt` (0-based) is `initial × 2^attempt`, capped at
//! `max`; the delay actually slept is a random value in the upper half of it, so that many
//! clients failing together do not retry in lockstep.
//!
//! ```
//! use std::time::Duration;
//! use marketprism_core::backoff::Backoff;
//! let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
//! assert_eq!(b.nominal(0), Duration::from_millis(100));
//! assert_eq!(b.nominal(3), Duration::from_millis(800));
//! assert_eq!(b.nominal(30), Duration::from_secs(5));
//! let d = b.delay(3);
//! assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(800));
//! ```

use std::time::Duration;

/// Capped exponential backoff with jitter (stateless: callers count the attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Default for Backoff {
    /// 100 ms doubling up to 5 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Starts at `initial`, doubles per attempt, never exceeds `max` (at least `initial`).
    pub const fn new(initial: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < initial.as_nanos() {
            initial
        } else {
            max
        };
        Backoff { initial, max }
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay before retry `attempt` (0-based) without jitter: `initial × 2^attempt`,
    /// capped.
    pub fn nominal(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max)
    }

    /// The delay before retry `attempt` (0-based): uniform in the upper half of
    /// [`nominal`](Self::nominal).
    pub fn delay(&self, attempt: u32) -> Duration {
        jitter(self.nominal(attempt))
    }

    /// Sleeps [`delay`](Self::delay)`(attempt)`.
    pub async fn sleep(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }

    /// A counter of attempts over this backoff, for retry loops.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use marketprism_core::backoff::Backoff;
    /// let mut r = Backoff::new(Duration::from_millis(10), Duration::from_millis(40)).retries();
    /// assert!(r.next_delay() <= Duration::from_millis(10));
    /// assert!(r.next_delay() <= Duration::from_millis(20));
    /// assert_eq!(r.attempts(), 2);
    /// r.reset();
    /// assert_eq!(r.attempts(), 0);
    /// ```
    pub fn retries(&self) -> Retries {
        Retries {
            backoff: *self,
            attempt: 0,
        }
    }
}

/// `d` scaled by a random factor in [0.5, 1].
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.5 + unit_random() * 0.5)
}

/// The state of one retry loop over a [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    backoff: Backoff,
    attempt: u32,
}

impl Retries {
    /// The delay before the next retry; counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.backoff.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Sleeps [`next_delay`](Self::next_delay).
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Retries so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniform value in [0, 1) for jitter, without a random-number crate: std's `RandomState`
/// is seeded from the OS and differs for every instance.
fn unit_random() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_doubling_with_upper_half_jitter() {
        let b = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
        for attempt in 0..64 {
            let nominal = b.nominal(attempt);
            assert!(nominal <= b.max());
            let d = b.delay(attempt);
            assert!(d <= nominal && d >= nominal / 2, "{attempt}: {d:?}");
        }
        assert_eq!(b.nominal(1), Duration::from_millis(500));
        assert_eq!(b.nominal(7), Duration::from_secs(30));
    }

    #[test]
    fn max_below_initial_is_raised() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(b.max(), Duration::from_secs(2));
        assert_eq!(b.nominal(5), Duration::from_secs(2));
    }

    #[test]
    fn retries_count_and_reset() {
        let mut r = Backoff::new(Duration::from_millis(8), Duration::from_millis(64)).retries();
        let delays: Vec<_> = (0..6).map(|_| r.next_delay()).collect();
        assert!(delays[5] <= Duration::from_millis(64) && delays[5] >= Duration::from_millis(32));
        r.reset();
        assert!(r.next_delay() <= Duration::from_millis(8));
    }
}
