//! The rate limiter's health check: its Redis store, pinged on every
//! check; the memory store cannot fail and reports nothing. Redis down is
//! degraded whichever way `fail_open` points: past a few failures the
//! breaker skips Redis and each instance enforces its share from memory.

use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{RateLimitError, RateLimiter};
use crate::telemetry::health::{Component, HealthCheck, Status};

impl HealthCheck for RateLimiter {
    fn check(&self) -> BoxFuture<'_, Vec<Component>> {
        async move {
            match self.ping().await {
                Some(ping) => vec![redis_component(ping, self.fail_open())],
                None => Vec::new(),
            }
        }
        .boxed()
    }
}

fn redis_component(ping: Result<Duration, RateLimitError>, fail_open: bool) -> Component {
    let (status, message, latency_ms) = match ping {
        Ok(d) => (
            Status::Healthy,
            "ok".to_string(),
            Some(d.as_secs_f64() * 1000.0),
        ),
        Err(e) => {
            let (what, setting) = if fail_open {
                ("admitted", "fail_open")
            } else {
                ("refused", "fail_open = false")
            };
            let message = format!(
                "{e}; checks that reach Redis are {what} ({setting}), then each instance enforces its share of the limits"
            );
            (Status::Degraded, message, None)
        }
    };
    Component {
        name: "rate_limit_store".into(),
        kind: "redis".into(),
        status,
        message,
        latency_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_in_memory_report_nothing() {
        let l = RateLimiter::new(&crate::config::RateLimitConfig::default())
            .await
            .unwrap();
        assert!(HealthCheck::check(&l).await.is_empty());
        assert!(l.ready());
    }
}
