//! A sans-IO token-bucket rate limiter keyed by anything hashable.
//!
//! Keys may be client IP addresses: they live only in this in-memory map,
//! are dropped once their bucket is full again, and are never logged.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Bucket size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Requests regained per minute.
    pub per_minute: u32,
}

/// Refused; try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

/// Token buckets per key.
pub struct RateLimiter<K> {
    quota: Quota,
    buckets: HashMap<K, Bucket>,
    last_sweep: Option<Instant>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// A limiter with the given quota for every key.
    pub fn new(quota: Quota) -> Self {
        RateLimiter {
            quota,
            buckets: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub fn check(&mut self, key: K, now: Instant) -> Result<(), RetryAfter> {
        self.sweep(now);
        let per_sec = f64::from(self.quota.per_minute.max(1)) / 60.0;
        let burst = f64::from(self.quota.burst.max(1));
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / per_sec,
            )))
        }
    }

    /// Whether `check` would pass now, without taking a token.
    pub fn peek(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        let Some(bucket) = self.buckets.get(key) else {
            return Ok(());
        };
        let per_sec = f64::from(self.quota.per_minute.max(1)) / 60.0;
        let burst = f64::from(self.quota.burst.max(1));
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        let tokens = (bucket.tokens + elapsed * per_sec).min(burst);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64(
                (1.0 - tokens) / per_sec,
            )))
        }
    }

    /// Number of keys remembered (for tests).
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets keys whose bucket has refilled: they carry no information.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        self.last_sweep = Some(now);
        let per_sec = f64::from(self.quota.per_minute.max(1)) / 60.0;
        let burst = f64::from(self.quota.burst.max(1));
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_then_forget() {
        let mut limiter = RateLimiter::new(Quota {
            burst: 2,
            per_minute: 60,
        });
        let t0 = Instant::now();
        assert!(limiter.check("a", t0).is_ok());
        assert!(limiter.check("a", t0).is_ok());
        assert!(limiter.peek(&"a", t0).is_err());
        let RetryAfter(wait) = limiter.check("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        assert!(limiter.check("b", t0).is_ok(), "keys are independent");
        assert!(limiter.check("a", t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.check("c", t0 + Duration::from_secs(60)).is_ok());
        assert_eq!(limiter.tracked(), 1, "full buckets are forgotten");
    }
}
