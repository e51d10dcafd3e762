//! Spend per budget and window in this process: the store when no Redis is
//! configured, and what each instance falls back to when Redis fails
//! (`budgets.on_store_failure = local`).
//!
//! Reserve, then settle, like the tokens-per-minute limit: admission holds
//! an estimate against every budget of the request at once (all or none),
//! and the request's end replaces the hold with its real cost. Spend can
//! therefore pass a limit only by what requests in flight cost beyond their
//! estimates; see [`Tally::reserve`] for the bound.
//!
//! One mutex over a small map: a request touches at most three accounts
//! (key, user, team) for a few hundred nanoseconds, and only identities
//! with a budget have an account, so sharding would buy nothing here.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono_tz::Tz;

use super::window::{Period, Window};

/// Whose budget: the identity level it is set on (the same levels as the
/// model allow-lists).
pub use crate::identity::access::Scope;

/// One budget a request must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub scope: Scope,
    pub id: i64,
    /// The most that may be spent per period, in nano-units of the ledger's currency.
    pub limit_nano: i64,
    pub window: Window,
    /// Where a duration window's periods start (the budget's creation).
    pub anchor_us: i64,
    /// Percent of the limit at which a soft-threshold event is raised once a period.
    pub soft_percent: Option<u8>,
}

/// An account's spend in its current period.
#[derive(Debug, Default)]
struct Account {
    period_start_us: i64,
    reset_us: i64,
    spent_nano: i64,
    reserved_nano: i64,
    soft_raised: bool,
    /// The budget as last seen, for the reconciler's list.
    budget: Option<Budget>,
}

/// What admission holds until the request settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    parts: Vec<(Budget, i64)>,
    estimate_nano: i64,
}

impl Hold {
    /// The budgets held, each with the start of the period it was held in.
    pub fn parts(&self) -> &[(Budget, i64)] {
        &self.parts
    }

    /// The estimate held against each budget.
    pub fn estimate_nano(&self) -> i64 {
        self.estimate_nano
    }

    /// A hold made elsewhere (in Redis) for the same budgets and periods.
    pub fn from_parts(parts: Vec<(Budget, i64)>, estimate_nano: i64) -> Hold {
        Hold {
            parts,
            estimate_nano,
        }
    }

    /// Holds nothing: the request has no budget.
    pub fn none() -> Hold {
        Hold {
            parts: Vec::new(),
            estimate_nano: 0,
        }
    }
}

/// Admitted: the hold, and for the tightest budget what is left after it
/// and when its period resets (the `x-tokctl-budget-*` headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub hold: Hold,
    pub tightest: Option<(i64, i64)>,
}

/// Refused: the first budget the estimate does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub budget: Budget,
    pub spent_nano: i64,
    pub reset_us: i64,
}

/// A budget whose soft threshold the settled spend crossed (once a period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossed {
    pub budget: Budget,
    pub spent_nano: i64,
}

/// Every budget's spend in its current period, for this process.
#[derive(Debug)]
pub struct Tally {
    tz: Tz,
    accounts: Mutex<HashMap<(Scope, i64), Account>>,
}

impl Tally {
    pub fn new(tz: Tz) -> Tally {
        Tally {
            tz,
            accounts: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(Scope, i64), Account>> {
        // The map holds plain numbers; a panic elsewhere cannot leave it torn.
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds `estimate_nano` against every budget, or none of them when
    /// one would pass its limit (spent + held + estimate > limit).
    ///
    /// The bound: settled spend exceeds a limit by at most the sum, over
    /// the requests in flight when it was reached, of what each cost beyond
    /// its estimate. Estimates price the prompt and `max_tokens` at the
    /// highest price among the model's deployments, so only a prompt that
    /// tokenises to more than its size suggests can cost more.
    pub fn reserve(
        &self,
        budgets: &[Budget],
        estimate_nano: i64,
        now_us: i64,
    ) -> Result<Admitted, Exceeded> {
        let estimate = estimate_nano.max(0);
        let mut map = self.lock();
        let mut tightest: Option<(i64, i64)> = None;
        for b in budgets {
            let (a, p) = current(&mut map, b, now_us, self.tz);
            let used = a.spent_nano + a.reserved_nano;
            if used.saturating_add(estimate) > b.limit_nano {
                return Err(Exceeded {
                    budget: *b,
                    spent_nano: used,
                    reset_us: p.reset_us,
                });
            }
            let left = b.limit_nano - used - estimate;
            if tightest.is_none_or(|(l, _)| left < l) {
                tightest = Some((left, p.reset_us));
            }
        }
        let mut parts = Vec::with_capacity(budgets.len());
        for b in budgets {
            let (a, p) = current(&mut map, b, now_us, self.tz);
            a.reserved_nano += estimate;
            parts.push((*b, p.start_us));
        }
        Ok(Admitted {
            hold: Hold {
                parts,
                estimate_nano: estimate,
            },
            tightest,
        })
    }

    /// Replaces the hold with the request's real cost, in the period it
    /// was admitted in (a period that has ended meanwhile is left alone:
    /// the ledger's rollups place the entry by its start). Returns the
    /// soft thresholds this settlement crossed.
    pub fn settle(&self, hold: &Hold, cost_nano: i64) -> Vec<Crossed> {
        let mut crossed = Vec::new();
        let mut map = self.lock();
        for (b, start) in &hold.parts {
            let Some(a) = map.get_mut(&(b.scope, b.id)) else {
                continue;
            };
            if a.period_start_us != *start {
                continue;
            }
            a.reserved_nano = (a.reserved_nano - hold.estimate_nano).max(0);
            a.spent_nano = a.spent_nano.saturating_add(cost_nano.max(0));
            if let Some(pct) = b.soft_percent
                && !a.soft_raised
                && i128::from(a.spent_nano) * 100 >= i128::from(b.limit_nano) * i128::from(pct)
            {
                a.soft_raised = true;
                crossed.push(Crossed {
                    budget: *b,
                    spent_nano: a.spent_nano,
                });
            }
        }
        crossed
    }

    /// Gives a hold back unspent: the request was refused by another limit
    /// after its budgets were reserved.
    pub fn release(&self, hold: &Hold) {
        let mut map = self.lock();
        for (b, start) in &hold.parts {
            if let Some(a) = map.get_mut(&(b.scope, b.id))
                && a.period_start_us == *start
            {
                a.reserved_nano = (a.reserved_nano - hold.estimate_nano).max(0);
            }
        }
    }

    /// Raises a budget's settled spend in the period holding `now_us` to
    /// at least `spent_nano` (rebuilt from the ledger); never lowers it,
    /// so a rebuild racing live settlements cannot forget spend.
    pub fn raise_to(&self, b: &Budget, spent_nano: i64, now_us: i64) {
        let mut map = self.lock();
        let (a, _) = current(&mut map, b, now_us, self.tz);
        a.spent_nano = a.spent_nano.max(spent_nano);
    }

    /// Every budget this process has an account of (seen since it started).
    pub fn known(&self) -> Vec<Budget> {
        self.lock().values().filter_map(|a| a.budget).collect()
    }

    /// Settled and held spend of a budget in the period holding `now_us`.
    pub fn spent(&self, b: &Budget, now_us: i64) -> (i64, i64) {
        let mut map = self.lock();
        let (a, _) = current(&mut map, b, now_us, self.tz);
        (a.spent_nano, a.reserved_nano)
    }
}

/// The account of `b` at `now_us` and its period, emptied when its period
/// has passed (holds from the old period settle into nothing, see
/// [`Tally::settle`]). The period is kept with the account and computed
/// again only when `now_us` leaves it or the budget changed: a calendar
/// window's costs time-zone conversions, and every request asks.
fn current<'m>(
    map: &'m mut HashMap<(Scope, i64), Account>,
    b: &Budget,
    now_us: i64,
    tz: Tz,
) -> (&'m mut Account, Period) {
    let a = map.entry((b.scope, b.id)).or_default();
    let cached = a.budget.as_ref() == Some(b) && a.period_start_us <= now_us && now_us < a.reset_us;
    if !cached {
        let p = b.window.period(now_us, b.anchor_us, tz);
        if a.period_start_us != p.start_us {
            *a = Account {
                period_start_us: p.start_us,
                ..Account::default()
            };
        }
        a.reset_us = p.reset_us;
        a.budget = Some(*b);
    }
    let p = Period {
        start_us: a.period_start_us,
        reset_us: a.reset_us,
    };
    (a, p)
}
