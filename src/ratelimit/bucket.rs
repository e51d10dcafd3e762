//! The token bucket arithmetic, shared by the memory store and mirrored by
//! the Redis script: `tokens` refill at `rate` per second up to `burst`; a
//! request takes `cost` tokens when that many are there.

/// A bucket's sustained rate and its capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Tokens per second.
    pub rate: f64,
    /// Capacity: how many may be taken at once.
    pub burst: f64,
}

/// One bucket's state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub tokens: f64,
    /// Seconds (any epoch, monotonic per store) of the last update.
    pub at: f64,
}

/// What a check found for one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Check {
    pub allowed: bool,
    /// Tokens left after this request (whole ones, for headers).
    pub remaining: f64,
    /// Seconds until the bucket is full again.
    pub reset_s: f64,
    /// Seconds until `cost` tokens are there (0 when allowed).
    pub retry_after_s: f64,
}

impl Bucket {
    pub fn full(limit: Limit, now: f64) -> Self {
        Self {
            tokens: limit.burst,
            at: now,
        }
    }

    /// Refills to `now`.
    pub fn refill(&mut self, limit: Limit, now: f64) {
        if now > self.at {
            self.tokens = (self.tokens + (now - self.at) * limit.rate).min(limit.burst);
            self.at = now;
        }
    }

    /// Whether `cost` tokens are there (after refilling), without taking them.
    pub fn peek(&mut self, limit: Limit, now: f64, cost: f64) -> Check {
        self.refill(limit, now);
        let allowed = self.tokens >= cost;
        let after = if allowed {
            self.tokens - cost
        } else {
            self.tokens
        };
        Check {
            allowed,
            remaining: after.max(0.0).floor(),
            reset_s: if limit.rate > 0.0 {
                (limit.burst - after).max(0.0) / limit.rate
            } else {
                0.0
            },
            retry_after_s: if allowed || limit.rate <= 0.0 {
                0.0
            } else {
                (cost - self.tokens) / limit.rate
            },
        }
    }

    /// Adds (refund) or removes (charge) tokens, keeping at most `burst`.
    pub fn adjust(&mut self, limit: Limit, now: f64, delta: f64) {
        self.refill(limit, now);
        self.tokens = (self.tokens + delta).min(limit.burst);
    }

    /// Whether the bucket has refilled completely: then it is the same as no
    /// bucket at all, and may be evicted.
    pub fn is_idle(&self, limit: Limit, now: f64) -> bool {
        let mut b = *self;
        b.refill(limit, now);
        b.tokens >= limit.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_rate_up_to_burst() {
        let l = Limit {
            rate: 10.0,
            burst: 5.0,
        };
        let mut b = Bucket::full(l, 0.0);
        for _ in 0..5 {
            let c = b.peek(l, 0.0, 1.0);
            assert!(c.allowed);
            b.tokens -= 1.0;
        }
        let c = b.peek(l, 0.0, 1.0);
        assert!(!c.allowed);
        assert!((c.retry_after_s - 0.1).abs() < 1e-9);
        assert!(b.peek(l, 0.1, 1.0).allowed);
        b.refill(l, 100.0);
        assert_eq!(b.tokens, 5.0);
        assert!(b.is_idle(l, 100.0));
    }
}
