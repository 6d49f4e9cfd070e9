//! Capped exponential backoff with jitter for backend calls.

use std::{future::Future, time::Duration};

use marketprism_core::backoff::Backoff;

use crate::error::Result;

/// How to retry retryable backend failures ([`DiscoveryError::is_retryable`]).
///
/// ```
/// use std::time::Duration;
/// use marketprism_discovery::RetryPolicy;
/// let p = RetryPolicy::default().max_attempts(5).initial_backoff(Duration::from_millis(50));
/// assert!(p.backoff(3) <= Duration::from_secs(5));
/// ```
///
/// [`DiscoveryError::is_retryable`]: crate::DiscoveryError::is_retryable
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    backoff: Backoff,
}

impl Default for RetryPolicy {
    /// 3 attempts, 100 ms doubling up to 5 s.
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }
    /// Total attempts (≥ 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }
    /// First backoff.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.backoff = Backoff::new(d, self.backoff.max());
        self
    }
    /// Backoff cap.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.backoff = Backoff::new(self.backoff.initial(), d);
        self
    }

    /// The sleep before retry number `retry` (1-based): `initial * 2^(retry-1)`, capped,
    /// then a random value in its upper half (jitter) — [`Backoff::delay`].
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff.delay(retry.saturating_sub(1))
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error or runs out of attempts.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if e.is_retryable() && attempt < self.attempts => {
                    tracing::debug!(error = %e, attempt, "discovery backend call failed; retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
