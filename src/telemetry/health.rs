//! Health checks: what `GET /health`, `GET /readyz` and `tokctl health
//! --direct` answer, gathered from the components.
//!
//! Each component says how it is through [`HealthCheck`], implemented
//! beside it: the databases in `db::health`, the ledger writer in
//! `ledger::writer::health`, the rate limiter's Redis store in
//! `ratelimit::health`, the providers' background probes in
//! `providers::health`. This module only holds the report's types, the
//! trait and [`Health`], which runs the checks in order and adds up the
//! verdict (providers count at most as degraded), so telemetry imports no
//! component. Rendering and exit codes live in commands/.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// A component's or the whole's state, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    /// The word used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// One checked thing, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `identity_db`, `ledger_db`, `ledger_writer` or a provider's name.
    pub name: String,
    /// `database`, `writer` or `provider` (providers are non-critical).
    #[serde(rename = "type")]
    pub kind: String,
    pub status: Status,
    /// Why, in words; the cause of a failure.
    pub message: String,
    /// The ping or probe time, when one was measured.
    pub latency_ms: Option<f64>,
}

/// A database pool's numbers (sqlx does not count waits, so none here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbPool {
    pub name: String,
    pub open: u32,
    pub idle: u64,
    pub in_use: u64,
}

/// A provider's traffic since start (requests through the gateway).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderPool {
    pub name: String,
    pub requests: u64,
    pub error_rate: f64,
    pub mean_latency_ms: Option<f64>,
}

/// The pool statistics carried beside the components, as the seed's v2.2.0 did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pools {
    pub databases: Vec<DbPool>,
    pub providers: Vec<ProviderPool>,
}

/// The answer of `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub status: Status,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub components: Vec<Component>,
    #[serde(default)]
    pub pools: Pools,
}

impl Report {
    /// Builds a report whose status is the worst component's, providers
    /// and routing deployments counting at most as degraded.
    pub fn new(components: Vec<Component>, pools: Pools) -> Report {
        let status = components
            .iter()
            .map(|c| {
                if c.kind == "provider" || c.kind == "deployment" {
                    c.status.min(Status::Degraded)
                } else {
                    c.status
                }
            })
            .max()
            .unwrap_or(Status::Healthy);
        Report {
            status,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            components,
            pools,
        }
    }
}

/// One part of the gateway that can say how it is. Implemented beside the
/// component it checks, so that telemetry needs none of their internals.
///
/// A trait object rather than an enum of the components: an enum would
/// have to name every component's type here, the very import this removes.
/// `check` returns a boxed future (not an `async fn`) so that the trait
/// stays dyn-compatible and [`Health`] a plain list; and a list of
/// [`Component`]s, because one part may report none (rate limits kept in
/// memory cannot fail) or several (one per provider).
pub trait HealthCheck: Send + Sync {
    /// Checks now and says how each component is.
    fn check(&self) -> BoxFuture<'_, Vec<Component>>;

    /// Adds the pool statistics this part holds (databases) to `out`.
    fn pools(&self, _out: &mut Pools) {}

    /// Whether the process can keep taking requests (`/readyz`); only the
    /// ledger writer ever says no.
    fn ready(&self) -> bool {
        true
    }
}

/// A provider's traffic counters.
#[derive(Default)]
struct Traffic {
    requests: AtomicU64,
    errors: AtomicU64,
    latency_us_sum: AtomicU64,
}

/// The health checker of one process: the components' checks, in the
/// order the report lists them, and each provider's traffic since start.
pub struct Health {
    checks: Vec<Arc<dyn HealthCheck>>,
    traffic: BTreeMap<String, Traffic>,
}

impl Health {
    /// A checker over these checks, counting traffic for these providers.
    pub fn new(
        checks: Vec<Arc<dyn HealthCheck>>,
        providers: impl IntoIterator<Item = String>,
    ) -> Health {
        let traffic = providers
            .into_iter()
            .map(|name| (name, Traffic::default()))
            .collect();
        Health { checks, traffic }
    }

    /// Counts a finished request against its provider (a map lookup and
    /// three atomic adds); `failed` is an upstream failure.
    pub fn record(&self, provider: &str, failed: bool, upstream_latency_us: Option<i64>) {
        let Some(t) = self.traffic.get(provider) else {
            return;
        };
        t.requests.fetch_add(1, Relaxed);
        if failed {
            t.errors.fetch_add(1, Relaxed);
        }
        if let Some(us) = upstream_latency_us {
            t.latency_us_sum.fetch_add(us.max(0) as u64, Relaxed);
        }
    }

    /// Whether the process can keep usage entries: every check says ready.
    pub fn ready(&self) -> bool {
        self.checks.iter().all(|c| c.ready())
    }

    /// The pools' numbers (databases from their checks, providers from the
    /// traffic counters), for the report and `/metrics`.
    pub fn pools(&self) -> Pools {
        let mut pools = Pools::default();
        for c in &self.checks {
            c.pools(&mut pools);
        }
        pools.providers = self
            .traffic
            .iter()
            .map(|(name, t)| {
                let n = t.requests.load(Relaxed);
                let errors = t.errors.load(Relaxed);
                let sum = t.latency_us_sum.load(Relaxed);
                ProviderPool {
                    name: name.clone(),
                    requests: n,
                    error_rate: if n == 0 {
                        0.0
                    } else {
                        errors as f64 / n as f64
                    },
                    mean_latency_ms: (n > 0).then(|| sum as f64 / n as f64 / 1000.0),
                }
            })
            .collect();
        pools
    }

    /// Runs every check (concurrently) and reports in their order.
    pub async fn check(&self) -> Report {
        let all = futures_util::future::join_all(self.checks.iter().map(|c| c.check())).await;
        Report::new(all.into_iter().flatten().collect(), self.pools())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(kind: &str, status: Status) -> Component {
        Component {
            name: "x".into(),
            kind: kind.into(),
            status,
            message: String::new(),
            latency_ms: None,
        }
    }

    /// A fixed answer, to see what [`Health`] makes of its checks.
    struct Fixed(Vec<Component>, bool);

    impl HealthCheck for Fixed {
        fn check(&self) -> BoxFuture<'_, Vec<Component>> {
            Box::pin(async move { self.0.clone() })
        }
        fn ready(&self) -> bool {
            self.1
        }
    }

    #[tokio::test]
    async fn health_gathers_every_check_in_order_and_counts_traffic() {
        let a = comp("database", Status::Healthy);
        let b = Component {
            name: "y".into(),
            ..comp("writer", Status::Degraded)
        };
        let checks: Vec<Arc<dyn HealthCheck>> = vec![
            Arc::new(Fixed(vec![a.clone()], true)),
            Arc::new(Fixed(vec![], true)),
            Arc::new(Fixed(vec![b.clone()], false)),
        ];
        let h = Health::new(checks, ["p".to_string()]);
        h.record("p", false, Some(2000));
        h.record("p", true, None);
        h.record("unknown", true, None);
        let r = h.check().await;
        assert_eq!(r.components, vec![a, b]);
        assert_eq!(r.status, Status::Degraded);
        assert!(!h.ready());
        let p = &r.pools.providers[0];
        assert_eq!((p.name.as_str(), p.requests), ("p", 2));
        assert_eq!(p.error_rate, 0.5);
        assert_eq!(p.mean_latency_ms, Some(1.0));
    }

    #[test]
    fn overall_is_the_worst_with_providers_non_critical() {
        use Status::{Degraded, Healthy, Unhealthy};
        let cases = [
            (
                vec![("database", Healthy), ("provider", Unhealthy)],
                Degraded,
            ),
            (
                vec![("database", Unhealthy), ("provider", Healthy)],
                Unhealthy,
            ),
            (vec![], Healthy),
        ];
        for (parts, overall) in cases {
            let parts = parts.into_iter().map(|(k, s)| comp(k, s)).collect();
            assert_eq!(Report::new(parts, Pools::default()).status, overall);
        }
    }
}
