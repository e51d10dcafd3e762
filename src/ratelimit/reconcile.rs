//! The reconciler: every `budgets.reconcile_interval_ms`, each budget this
//! gateway has seen is compared in Redis and in the ledger (plus this
//! gateway's unwritten spend). The largest gap per scope is reported
//! (`tokctl_budget_drift_nano`, and a log line when there is one), and a
//! Redis count below the ledger's is raised to it — a settlement lost to a
//! Redis failure comes back this way. A count above the ledger's is left:
//! other gateways' unwritten spend explains it, and it only errs on the
//! side of refusing.

use std::time::Duration;

use super::redis_spend::{Seed, budget_key, ttl_ms};
use super::{RateLimiter, Store};
use crate::budget::Scope;

/// What one reconciliation found: the largest drift per scope (Redis minus
/// ledger, nano-units) and how many budgets were raised.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drift {
    pub by_scope: Vec<(Scope, i64)>,
    pub raised: usize,
}

impl RateLimiter {
    /// Compares every known budget once (Redis store only; `None` with the
    /// memory store, which is its own truth, or when Redis fails).
    pub async fn reconcile(&self) -> Option<Drift> {
        let Store::Redis(r) = &self.inner.store else {
            return None;
        };
        let s = &self.inner.spend;
        let now = chrono::Utc::now().timestamp_micros();
        let mut drift = Drift::default();
        let mut raise = Vec::new();
        for b in s.tally.known() {
            let p = b.window.period(now, b.anchor_us, s.setup.tz);
            let key = budget_key(&b, p.start_us);
            let Ok(Some(in_redis)) = self.bounded(r.spent(&key)).await else {
                continue;
            };
            let ledger = self.ledger_spend(&b, p.start_us).await? + self.own_unwritten(&b);
            let gap = in_redis - ledger;
            match drift.by_scope.iter_mut().find(|(sc, _)| *sc == b.scope) {
                Some((_, d)) if gap.abs() > d.abs() => *d = gap,
                Some(_) => {}
                None => drift.by_scope.push((b.scope, gap)),
            }
            if gap < 0 {
                raise.push(Seed {
                    key,
                    ledger: None,
                    own: 0,
                    floor: ledger,
                    ttl_ms: ttl_ms(p.reset_us, now),
                });
            }
        }
        drift.raised = raise.len();
        if !raise.is_empty()
            && self
                .bounded(r.seed(&self.inner.spend.fresh_epoch, &raise))
                .await
                .is_err()
        {
            return None;
        }
        Some(drift)
    }

    /// Starts the periodic reconciliation; `report` receives each scope's
    /// drift. Stops when the limiter is dropped.
    pub fn spawn_reconciler(&self, every: Duration, report: impl Fn(Scope, i64) + Send + 'static) {
        if every.is_zero() || !matches!(self.inner.store, Store::Redis(_)) {
            return;
        }
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { break };
                let this = RateLimiter { inner };
                let Some(d) = this.reconcile().await else {
                    continue;
                };
                for (scope, gap) in &d.by_scope {
                    report(*scope, *gap);
                    if *gap != 0 {
                        tracing::info!(
                            scope = scope.as_str(),
                            drift_nano = gap,
                            raised = d.raised,
                            "budget spend in Redis differs from the ledger's"
                        );
                    }
                }
            }
        });
    }
}
