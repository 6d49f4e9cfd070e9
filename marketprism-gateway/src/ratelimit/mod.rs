//! Per-IP and per-key rate limits: GCRA token buckets from `governor`, keyed by client IP or
//! by authenticated principal. Over the limit → `429 Too Many Requests` with `Retry-After`.
//!
//! Two instances of [`RateLimitLayer`] run: the per-IP one before authentication (so failed
//! logins are limited too), the per-key one after it (it reads the [`Principal`]).
//!
//! [`Principal`]: crate::auth::Principal

mod client_ip;
mod layer;

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{Quota, RateLimiter, clock::Clock as _, clock::DefaultClock};

pub use client_ip::{TrustedProxies, client_ip, peer_ip};
pub use layer::{RateLimitLayer, RateLimitService};

use crate::config::RateConfig;

/// What a bucket is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// The client's IP address.
    Ip(IpAddr),
    /// An authenticated principal's name.
    Principal(Arc<str>),
}

/// Which key a limiter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Per client IP.
    Ip,
    /// Per authenticated principal (anonymous requests are not limited by this one).
    Key,
}

impl Scope {
    /// `ip` or `key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Key => "key",
        }
    }
}

/// A keyed token-bucket limiter that forgets idle keys periodically.
pub struct KeyedLimiter {
    limiter: governor::DefaultKeyedRateLimiter<LimitKey>,
    checks: AtomicU64,
}

impl std::fmt::Debug for KeyedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("keys", &self.limiter.len())
            .finish()
    }
}

impl KeyedLimiter {
    /// A limiter with `rate.burst` tokens refilled at `rate.per_second` (each at least 1).
    ///
    /// ```
    /// use marketprism_gateway::{config::RateConfig, ratelimit::{KeyedLimiter, LimitKey}};
    /// let l = KeyedLimiter::new(RateConfig { per_second: 1, burst: 2 });
    /// let k = LimitKey::Principal("bot".into());
    /// assert!(l.check(&k).is_ok());
    /// assert!(l.check(&k).is_ok());
    /// assert!(l.check(&k).is_err()); // the Err carries the wait time
    /// ```
    pub fn new(rate: RateConfig) -> Self {
        let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        KeyedLimiter {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token for `key`, or returns how long until one is available.
    pub fn check(&self, key: &LimitKey) -> Result<(), Duration> {
        // Bound memory: every 4096 checks drop keys whose bucket is full again.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}
