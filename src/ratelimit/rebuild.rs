//! Rebuilding the budgets' state in Redis from the ledger: a period hash
//! the admission found missing is created from the rollups plus this
//! gateway's unwritten spend (`create`), and a gateway that finds the epoch
//! gone or changed puts its unwritten spend back once (`adopt`); the modes
//! are [`super::redis_spend::SeedMode`]'s. Every gateway also checks the
//! epoch each second, so it adopts a new one even when no request of its
//! own carries the budget next.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use super::redis_spend::{Seed, SeedMode, budget_key, ttl_ms};
use super::redis_store::RedisStore;
use super::spend::now_us;
use super::{RateLimitError, RateLimiter, Store};
use crate::budget::{Budget, Period};

impl RateLimiter {
    /// Redis's data is not what this gateway last saw (restarted, flushed,
    /// or this gateway is new): make sure there is an epoch, then put this
    /// gateway's unwritten spend back into every budget it has some for.
    pub(super) async fn adopt_epoch(
        &self,
        r: &RedisStore,
        current: String,
        now: i64,
    ) -> Result<(), RateLimitError> {
        let s = &self.inner.spend;
        // One adoption at a time: the requests that met the same change
        // concurrently must not each put the unwritten spend back.
        let _one = s.adopting.lock().await;
        let current = if current.is_empty() {
            // A new name each time: the gateways that knew the lost one
            // must see it change.
            let fresh = format!("{:016x}", rand::random::<u64>());
            self.bounded(r.ensure_epoch(&fresh)).await?
        } else {
            current
        };
        if current == s.epoch() {
            return Ok(());
        }
        let tz = s.setup.tz;
        let items: Vec<(Budget, Period)> = s
            .setup
            .unwritten
            .pending()
            .into_iter()
            .map(|(b, _)| (b, b.window.period(now, b.anchor_us, tz)))
            .collect();
        if !items.is_empty() {
            tracing::warn!(
                budgets = items.len(),
                "Redis lost the budgets' state (restart or flush): rebuilding from the ledger"
            );
            self.seed(r, SeedMode::Adopt, &items, now).await?;
        }
        *s.epoch.lock().unwrap_or_else(PoisonError::into_inner) = current;
        self.inner
            .counters
            .budget_rebuilds
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Rebuilds budgets' period hashes: the ledger's spend in the period,
    /// this gateway's unwritten spend, and at least its own view.
    pub(super) async fn seed(
        &self,
        r: &RedisStore,
        mode: SeedMode,
        items: &[(Budget, Period)],
        now: i64,
    ) -> Result<(), RateLimitError> {
        let s = &self.inner.spend;
        let mut seeds = Vec::with_capacity(items.len());
        for (b, p) in items {
            let ledger = self.ledger_spend(b, p.start_us).await;
            if ledger.is_none() && s.setup.ledger.is_some() {
                tracing::warn!(
                    scope = b.scope.as_str(),
                    id = b.id,
                    "cannot read the ledger to rebuild a budget in Redis: counting what this gateway knows"
                );
            }
            seeds.push(Seed {
                key: budget_key(b, p.start_us),
                ledger,
                own: s.setup.unwritten.of(b.scope, b.id),
                floor: s.tally.spent(b, now).0,
                ttl_ms: ttl_ms(p.reset_us, now),
            });
        }
        self.bounded(r.seed(&s.instance, mode, &seeds)).await
    }

    /// A budget's spend in the period from `start_us` by the ledger's
    /// rollups (`None`: no ledger, or it cannot be read).
    pub(super) async fn ledger_spend(&self, b: &Budget, start_us: i64) -> Option<i64> {
        let db = self.inner.spend.setup.ledger.as_ref()?;
        crate::ledger::rollups::spent_since(db, b.scope, b.id, start_us)
            .await
            .ok()
            .map(|(cost, _)| cost)
    }

    /// This gateway's unwritten spend for `b`.
    pub(super) fn own_unwritten(&self, b: &Budget) -> i64 {
        self.inner.spend.setup.unwritten.of(b.scope, b.id)
    }

    /// Every second, looks for a lost epoch (Redis flushed or restarted),
    /// so that this gateway puts its unwritten spend back even if no
    /// request of its own carries the budget next.
    pub(super) fn spawn_epoch_watch(&self) {
        if !matches!(self.inner.store, Store::Redis(_)) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(inner) = weak.upgrade() else { break };
                let this = RateLimiter { inner };
                let Store::Redis(r) = &this.inner.store else {
                    break;
                };
                if this.inner.breaker.is_open() {
                    continue;
                }
                let Ok(current) = this.bounded(r.epoch()).await else {
                    continue;
                };
                if current != this.inner.spend.epoch() {
                    let now = now_us();
                    if let Err(e) = this.adopt_epoch(r, current, now).await {
                        tracing::debug!(error = %e, "budget epoch check failed");
                    }
                }
            }
        });
    }
}
