//! Spend this process has settled but the ledger does not hold yet: the
//! entries in the writer's queue or in the spool (during a database outage
//! that can be hours of spend). When Redis lost the budgets' state, it is
//! rebuilt from the ledger's rollups *plus* this, so that spend still on
//! its way to the database is not forgotten.
//!
//! An entry's cost is added before the entry is handed to the writer and
//! taken off when the writer commits it, so the two never race the wrong
//! way round. Entries of this process count for the accounts of their
//! budgets (an entry whose principal has no budget touches nothing); the
//! entries an earlier run left in the spool count for their key, user and
//! team as the writer replays them, since nobody knows their budgets.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Budget, Scope};
use crate::ledger::Entry;

/// Per account (scope and id): its budget when this run knows it, and
/// the unwritten spend.
type Accounts = HashMap<(Scope, i64), (Option<Budget>, i64)>;

/// Unwritten spend per budget account (scope and id).
#[derive(Debug)]
pub struct Unwritten {
    since_us: i64,
    map: Mutex<Accounts>,
}

impl Unwritten {
    /// Counts the entries this process creates from `since_us` on.
    pub fn new(since_us: i64) -> Unwritten {
        Unwritten {
            since_us,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Accounts> {
        // Plain sums: a panic elsewhere cannot leave them torn.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An entry of `cost_nano` charged to these budgets is about to be written.
    pub fn add<'b>(&self, budgets: impl Iterator<Item = &'b Budget>, cost_nano: i64) {
        if cost_nano <= 0 {
            return;
        }
        let mut map = self.lock();
        for b in budgets {
            let v = map.entry((b.scope, b.id)).or_insert((Some(*b), 0));
            v.0 = Some(*b);
            v.1 += cost_nano;
        }
    }

    /// The writer replays `e`, spooled by an earlier run of this gateway
    /// (entries of this run were added when they were settled).
    pub fn replayed(&self, e: &Entry) {
        if e.created_at_us >= self.since_us || e.cost_nano <= 0 {
            return;
        }
        let mut map = self.lock();
        for (scope, id) in ids(e) {
            if let Some(id) = id {
                map.entry((scope, id)).or_insert((None, 0)).1 += e.cost_nano;
            }
        }
    }

    /// The writer committed `entries`: their spend is in the ledger now.
    pub fn written(&self, entries: &[Entry]) {
        let mut map = self.lock();
        if map.is_empty() {
            return;
        }
        for e in entries.iter().filter(|e| e.cost_nano > 0) {
            for (scope, id) in ids(e) {
                let Some(id) = id else { continue };
                if let Some((_, v)) = map.get_mut(&(scope, id)) {
                    *v = (*v - e.cost_nano).max(0);
                    if *v == 0 {
                        map.remove(&(scope, id));
                    }
                }
            }
        }
    }

    /// What an account has spent that the ledger does not show yet.
    pub fn of(&self, scope: Scope, id: i64) -> i64 {
        self.lock().get(&(scope, id)).map_or(0, |v| v.1)
    }

    /// Every budget with unwritten spend of this run, and that spend.
    pub fn pending(&self) -> Vec<(Budget, i64)> {
        self.lock()
            .values()
            .filter_map(|(b, v)| Some(((*b)?, *v)))
            .collect()
    }
}

/// The accounts an entry is charged to.
fn ids(e: &Entry) -> [(Scope, Option<i64>); 3] {
    [
        (Scope::Key, e.api_key_id),
        (Scope::User, e.user_id),
        (Scope::Team, e.team_id),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(scope: Scope, id: i64) -> Budget {
        Budget {
            scope,
            id,
            limit_nano: 1000,
            window: crate::budget::Window::Daily,
            anchor_us: 0,
            soft_percent: None,
        }
    }

    fn entry(key: i64, cost: i64, at: i64) -> Entry {
        Entry {
            api_key_id: Some(key),
            user_id: Some(1),
            cost_nano: cost,
            created_at_us: at,
            ..Entry::default()
        }
    }

    #[test]
    fn spend_counts_until_its_entry_is_written() {
        let u = Unwritten::new(100);
        let both = [budget(Scope::Key, 7), budget(Scope::User, 1)];
        u.add(both.iter(), 50);
        u.add(both.iter(), 30);
        assert_eq!(u.of(Scope::Key, 7), 80);
        u.written(&[entry(7, 50, 150)]);
        assert_eq!((u.of(Scope::Key, 7), u.of(Scope::User, 1)), (30, 30));
        // An earlier run's spooled entry counts once replayed, until written.
        u.replayed(&entry(7, 40, 99));
        assert_eq!(u.of(Scope::Key, 7), 70);
        u.replayed(&entry(7, 40, 150));
        assert_eq!(
            u.of(Scope::Key, 7),
            70,
            "this run's entries count when settled"
        );
        u.written(&[entry(7, 40, 99)]);
        assert_eq!(u.of(Scope::Key, 7), 30);
        // Accounts without a budget were never added: nothing goes negative.
        u.written(&[entry(8, 30, 150), entry(7, 30, 150)]);
        assert_eq!((u.of(Scope::Key, 7), u.of(Scope::Key, 8)), (0, 0));
    }
}
