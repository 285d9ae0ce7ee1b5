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

impl Quota {
    fn per_sec(self) -> f64 {
        f64::from(self.per_minute.max(1)) / 60.0
    }

    /// Tokens in `bucket` at `now`, capped at the burst.
    fn refilled(self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_sec()).min(f64::from(self.burst.max(1)))
    }

    /// Ok if one token can be taken from `tokens`, else how long to wait.
    fn take(self, tokens: f64) -> Result<(), RetryAfter> {
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(RetryAfter(Duration::from_secs_f64(
                (1.0 - tokens) / self.per_sec(),
            )))
        }
    }
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
        let quota = self.quota;
        let bucket = self.buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(quota.burst.max(1)),
            at: now,
        });
        bucket.tokens = quota.refilled(bucket, now);
        bucket.at = now;
        quota.take(bucket.tokens)?;
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// Whether `check` would pass now, without taking a token.
    pub fn peek(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        match self.buckets.get(key) {
            Some(bucket) => self.quota.take(self.quota.refilled(bucket, now)),
            None => Ok(()),
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
        let (quota, burst) = (self.quota, f64::from(self.quota.burst.max(1)));
        self.buckets.retain(|_, b| quota.refilled(b, now) < burst);
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
