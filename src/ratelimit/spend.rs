//! Budgets at admission, beside the rate limits: a request that carries
//! budgets reserves its estimate against all of them and its buckets at
//! once, and settles both when it ends.
//!
//! - Memory store: the [`Tally`] of this process.
//! - Redis store: one script per admission and one per settlement
//!   (`super::redis_spend`); the local tally mirrors what Redis answered
//!   plus this process's own spend, which is exactly what `local` mode
//!   enforces from when Redis fails (`budgets.on_store_failure`).
//!
//! Redis holds nothing the ledger cannot give back. A period hash found
//! missing is seeded from the spend rollups plus this process's unwritten
//! spend ([`Unwritten`]); an epoch found gone or changed (Redis restarted
//! or flushed) makes every gateway raise the budgets it has unwritten spend
//! for. Seeds only ever raise, so gateways rebuilding at once agree.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use chrono_tz::Tz;

use super::redis_spend::{BudgetArgs, Done, Reply, SeedMode, SettleBudget, budget_key};
use super::redis_store::RedisStore;
use super::{RateLimitError, RateLimiter, Store, TokenReservation, Verdict, Want};
use crate::budget::{Ask, Budget, Crossed, Exceeded, Hold, Period, Tally, Unwritten};
use crate::config::OnStoreFailure;
use crate::db::Db;
use crate::identity::Principal;

/// How budgets are kept: the zone of calendar windows, what to do when
/// Redis fails, the ledger to rebuild from, and the unwritten spend.
#[derive(Clone)]
pub struct SpendSetup {
    pub tz: Tz,
    pub on_store_failure: OnStoreFailure,
    /// The ledger's database (`None`: nothing to rebuild from, in tests).
    pub ledger: Option<Db>,
    pub unwritten: Arc<Unwritten>,
    /// How long a hold in Redis counts at least (at most twice this): the
    /// longest a request may take (`server.request_timeout_ms`).
    pub hold_ms: u64,
}

impl Default for SpendSetup {
    fn default() -> Self {
        Self {
            tz: chrono_tz::UTC,
            on_store_failure: OnStoreFailure::Local,
            ledger: None,
            unwritten: Arc::new(Unwritten::new(0)),
            hold_ms: 600_000,
        }
    }
}

/// The budgets' state inside the limiter.
pub(super) struct SpendState {
    pub(super) setup: SpendSetup,
    /// This process's view: the only one without Redis, the fallback with it.
    pub(super) tally: Tally,
    /// The Redis epoch this gateway last rebuilt for (`""`: none yet).
    pub(super) epoch: Mutex<String>,
    /// Held while adopting a new epoch.
    pub(super) adopting: tokio::sync::Mutex<()>,
    /// This gateway's name in rebuilt hashes (`own:{it}`), made once.
    pub(super) instance: String,
}

impl SpendState {
    pub(super) fn new(setup: SpendSetup) -> SpendState {
        SpendState {
            tally: Tally::new(setup.tz),
            setup,
            epoch: Mutex::new(String::new()),
            adopting: tokio::sync::Mutex::new(()),
            instance: format!("{:016x}", rand::random::<u64>()),
        }
    }

    pub(super) fn epoch(&self) -> String {
        self.epoch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What admission decided about a request's budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// No budget applies (or the request was refused by a rate limit).
    Free,
    Held(Ticket),
    Exceeded(Exceeded),
    /// Redis failed and `budgets.on_store_failure = refuse`.
    Unavailable,
}

/// A budget hold to settle, with the tightest budget's figures for the
/// `x-tokctl-budget-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub hold: Hold,
    /// Left after this request's estimate, and when that budget resets.
    pub tightest: Option<(i64, i64)>,
    /// Held in Redis in this generation (settled there), or in this process.
    generation: Option<i64>,
}

pub(super) fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl RateLimiter {
    /// Checks the rate limits and, when `ask` carries budgets, reserves
    /// its estimate against them: all or nothing, one Redis round trip.
    pub async fn admit(
        &self,
        p: &Principal,
        token_estimate: Option<u64>,
        ask: Option<&Ask>,
    ) -> (Verdict, Spend) {
        let Some(ask) = ask.filter(|a| !a.budgets.is_empty()) else {
            return (self.check(p, token_estimate).await, Spend::Free);
        };
        let now = now_us();
        let wants = self.wants(p, token_estimate);
        match &self.inner.store {
            Store::Memory(m) => {
                let spend =
                    match self
                        .inner
                        .spend
                        .tally
                        .reserve(&ask.budgets, ask.estimate_nano, now)
                    {
                        Ok(a) => Spend::Held(Ticket {
                            hold: a.hold,
                            tightest: a.tightest,
                            generation: None,
                        }),
                        Err(x) => return (Verdict::unlimited(), Spend::Exceeded(x)),
                    };
                if wants.is_empty() {
                    return (Verdict::unlimited(), spend);
                }
                let v = self.verdict(&wants, &m.check(&wants));
                (v, self.unless_refused(&v, spend))
            }
            Store::Redis(_) if self.inner.breaker.is_open() => {
                let v = if wants.is_empty() {
                    // The breaker's probe still runs: budgets go back to
                    // Redis once it answers.
                    self.probe();
                    Verdict {
                        store_skipped: true,
                        ..Verdict::unlimited()
                    }
                } else {
                    self.check_locally(&wants)
                };
                self.admit_locally(v, ask, now)
            }
            Store::Redis(r) => match self.admit_shared(r, &wants, ask, now).await {
                Ok(pair) => pair,
                Err(e) => {
                    let mut v = self.store_failed(e);
                    // No rate limit applies: `fail_open` is not asked, the
                    // budgets' own `on_store_failure` decides alone.
                    v.allowed |= wants.is_empty();
                    self.admit_locally(v, ask, now)
                }
            },
        }
    }

    /// A bucket refusal gives the budgets' hold back.
    fn unless_refused(&self, v: &Verdict, spend: Spend) -> Spend {
        if v.allowed {
            return spend;
        }
        if let Spend::Held(t) = &spend {
            self.inner.spend.tally.release(&t.hold);
        }
        Spend::Free
    }

    /// Redis is failing: `refuse` answers 503, `local` enforces from this
    /// process's last known spend plus its own since.
    fn admit_locally(&self, v: Verdict, ask: &Ask, now: i64) -> (Verdict, Spend) {
        let c = &self.inner.counters;
        if self.inner.spend.setup.on_store_failure == OnStoreFailure::Refuse {
            c.budget_refused_store.fetch_add(1, Ordering::Relaxed);
            return (v, Spend::Unavailable);
        }
        c.budget_local.fetch_add(1, Ordering::Relaxed);
        if !v.allowed {
            return (v, Spend::Free);
        }
        match self
            .inner
            .spend
            .tally
            .reserve(&ask.budgets, ask.estimate_nano, now)
        {
            Ok(a) => (
                v,
                Spend::Held(Ticket {
                    hold: a.hold,
                    tightest: a.tightest,
                    generation: None,
                }),
            ),
            Err(x) => (v, Spend::Exceeded(x)),
        }
    }

    async fn admit_shared(
        &self,
        r: &RedisStore,
        wants: &[Want],
        ask: &Ask,
        now: i64,
    ) -> Result<(Verdict, Spend), RateLimitError> {
        let tz = self.inner.spend.setup.tz;
        let periods: Vec<Period> = ask
            .budgets
            .iter()
            .map(|b| b.window.period(now, b.anchor_us, tz))
            .collect();
        let keys: Vec<String> = ask
            .budgets
            .iter()
            .zip(&periods)
            .map(|(b, p)| budget_key(b, p.start_us))
            .collect();
        // A rebuild answers at most twice: a new epoch, then missing periods.
        for _ in 0..3 {
            let epoch = self.inner.spend.epoch();
            let args = BudgetArgs {
                ask,
                keys: keys.clone(),
                epoch: &epoch,
                hold_s: self.inner.spend.setup.hold_ms as f64 / 1000.0,
            };
            match self.bounded(r.admit(wants, Some(&args))).await? {
                Reply::Epoch(current) => self.adopt_epoch(r, current, now).await?,
                Reply::Seed(missing) => {
                    let items: Vec<(Budget, Period)> = missing
                        .iter()
                        .filter_map(|&j| Some((*ask.budgets.get(j)?, *periods.get(j)?)))
                        .collect();
                    self.seed(r, SeedMode::Create, &items, now).await?;
                }
                Reply::Done(done) => return Ok(self.decided(wants, &done, ask, &periods, now)),
            }
        }
        Err(RateLimitError::Store(
            "Redis lost the budgets' state again during their rebuild".into(),
        ))
    }

    fn decided(
        &self,
        wants: &[Want],
        done: &Done,
        ask: &Ask,
        periods: &[Period],
        now: i64,
    ) -> (Verdict, Spend) {
        let (checks, over, spend) = (&done.checks, done.over, &done.spend);
        let tally = &self.inner.spend.tally;
        for (b, (spent, _)) in ask.budgets.iter().zip(spend) {
            tally.raise_to(b, *spent, now);
        }
        let mut v = if wants.is_empty() {
            Verdict::unlimited()
        } else {
            self.verdict(wants, checks)
        };
        if let Some(j) = over
            && let (Some(b), Some(p)) = (ask.budgets.get(j), periods.get(j))
        {
            // The script took nothing: no tokens to give back either.
            v.reserved_tokens = None;
            let (spent, held) = spend.get(j).copied().unwrap_or_default();
            let x = Exceeded {
                budget: *b,
                spent_nano: spent + held,
                reset_us: p.reset_us,
            };
            return (v, Spend::Exceeded(x));
        }
        if !v.allowed {
            return (v, Spend::Free);
        }
        let tightest = ask
            .budgets
            .iter()
            .zip(spend)
            .zip(periods)
            .map(|((b, (spent, held)), p)| (b.limit_nano - spent - held, p.reset_us))
            .min_by_key(|(left, _)| *left);
        let parts = ask
            .budgets
            .iter()
            .zip(periods)
            .map(|(b, p)| (*b, p.start_us))
            .collect();
        let ticket = Ticket {
            hold: Hold::from_parts(parts, ask.estimate_nano.max(0)),
            tightest,
            generation: Some(done.generation),
        };
        (v, Spend::Held(ticket))
    }

    /// Settles a request: its tokens reservation to the tokens used, its
    /// budget hold to the entry's cost. Returns the soft thresholds this
    /// settlement crossed (once per period, across the fleet with Redis).
    pub async fn settle_all(
        &self,
        tokens: Option<(TokenReservation, u64)>,
        spend: Option<(&Ticket, i64)>,
    ) -> Vec<Crossed> {
        let Some((ticket, cost)) = spend else {
            if let Some((r, used)) = tokens {
                self.settle(r, used).await;
            }
            return Vec::new();
        };
        // The local view always learns this process's own spend.
        let crossed = self.inner.spend.tally.settle(&ticket.hold, cost);
        let Store::Redis(r) = &self.inner.store else {
            if let Some((res, used)) = tokens {
                self.settle(res, used).await;
            }
            return crossed;
        };
        let Some(generation) = ticket.generation.filter(|_| !self.inner.breaker.is_open()) else {
            if let Some((res, used)) = tokens {
                self.settle(res, used).await;
            }
            return if ticket.generation.is_some() {
                Vec::new()
            } else {
                crossed
            };
        };
        let bucket = tokens.map(|(res, used)| {
            let delta = res.tokens - used as f64;
            ((super::Scope::Tokens, res.key_id), res.limit, delta)
        });
        let est = ticket.hold.estimate_nano();
        let budgets: Vec<SettleBudget> = ticket
            .hold
            .parts()
            .iter()
            .map(|(b, start)| SettleBudget {
                key: budget_key(b, *start),
                estimate_nano: est,
                cost_nano: cost,
                soft_nano: b.soft_percent.map(|pct| {
                    i64::try_from(i128::from(b.limit_nano) * i128::from(pct) / 100)
                        .unwrap_or(i64::MAX)
                }),
            })
            .collect();
        match self
            .bounded(r.settle_spend(bucket, generation, &budgets))
            .await
        {
            Ok(flags) => ticket
                .hold
                .parts()
                .iter()
                .zip(flags)
                .filter(|(_, f)| *f)
                .map(|((b, _), _)| Crossed {
                    budget: *b,
                    spent_nano: b.limit_nano,
                })
                .collect(),
            Err(e) => {
                // The ledger has the entry: the reconciler raises Redis to it.
                self.store_failed(e);
                Vec::new()
            }
        }
    }

    /// Counts a settled request's cost as unwritten until its entry is
    /// committed (called before the entry is handed to the writer). Only a
    /// Redis store is ever rebuilt, so the memory store skips the work.
    pub fn unwritten_add(&self, ticket: &Ticket, cost_nano: i64) {
        if matches!(self.inner.store, Store::Redis(_)) {
            let budgets = ticket.hold.parts().iter().map(|(b, _)| b);
            self.inner.spend.setup.unwritten.add(budgets, cost_nano);
        }
    }

    /// This process's unwritten spend.
    pub fn unwritten(&self) -> &Unwritten {
        &self.inner.spend.setup.unwritten
    }
}
