//! The in-memory store: buckets in 64 shards, each behind its own mutex
//! (never held across an await). A check that involves several buckets
//! locks their shards in index order, so it is atomic and cannot deadlock.
//! Buckets that have refilled completely are the same as absent ones and
//! are evicted, so memory stays bounded by the keys active in the last
//! `burst / rate` seconds.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::bucket::{Bucket, Check, Limit};
use super::{BucketKey, Want};

const SHARDS: usize = 64;
/// A shard this full is swept of idle buckets before it grows further.
const SWEEP_AT: usize = 4096;

struct Slot {
    bucket: Bucket,
    limit: Limit,
}

type Shard = HashMap<BucketKey, Slot>;

/// A shard's buckets and the size at which it is next swept. The threshold
/// doubles past live buckets, so sweeping stays amortised O(1) per check
/// even when every bucket is busy.
#[derive(Default)]
struct ShardState {
    map: Shard,
    sweep_at: usize,
}

pub struct MemoryStore {
    shards: Vec<Mutex<ShardState>>,
    hasher: std::collections::hash_map::RandomState,
    epoch: Instant,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(ShardState {
                        map: HashMap::new(),
                        sweep_at: SWEEP_AT,
                    })
                })
                .collect(),
            hasher: Default::default(),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn shard_of(&self, key: &BucketKey) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, ShardState> {
        // A poisoned shard only means a panic elsewhere mid-update of plain
        // numbers; the data is still usable.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks every wanted bucket and takes from all of them only when all
    /// allow it. Returns one check per want, in order.
    pub fn check(&self, wants: &[Want]) -> Vec<Check> {
        let now = self.now();
        let idx: Vec<usize> = wants.iter().map(|w| self.shard_of(&w.key)).collect();
        let mut order: Vec<usize> = idx.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, ShardState>)> =
            order.iter().map(|&i| (i, self.lock(i))).collect();
        let mut checks = Vec::with_capacity(wants.len());
        for (w, &i) in wants.iter().zip(&idx) {
            let g = guard(&mut guards, i);
            let slot = g.entry(w.key).or_insert_with(|| Slot {
                bucket: Bucket::full(w.limit, now),
                limit: w.limit,
            });
            slot.limit = w.limit;
            checks.push(slot.bucket.peek(w.limit, now, w.cost));
        }
        if checks.iter().all(|c| c.allowed) {
            for (w, &i) in wants.iter().zip(&idx) {
                if let Some(slot) = guard(&mut guards, i).get_mut(&w.key) {
                    slot.bucket.tokens -= w.cost;
                }
            }
        }
        for (_, g) in guards.iter_mut() {
            if g.map.len() > g.sweep_at {
                g.map.retain(|_, s| !s.bucket.is_idle(s.limit, now));
                g.sweep_at = (g.map.len() * 2).max(SWEEP_AT);
            }
        }
        checks
    }

    /// Refunds (positive) or charges (negative) a bucket.
    pub fn adjust(&self, key: BucketKey, limit: Limit, delta: f64) {
        let now = self.now();
        let mut g = self.lock(self.shard_of(&key));
        let slot = g.map.entry(key).or_insert_with(|| Slot {
            bucket: Bucket::full(limit, now),
            limit,
        });
        slot.bucket.adjust(limit, now, delta);
    }

    /// Removes every idle bucket; run now and then in the background.
    pub fn sweep(&self) -> usize {
        let now = self.now();
        let mut removed = 0;
        for i in 0..SHARDS {
            let mut g = self.lock(i);
            let before = g.map.len();
            g.map.retain(|_, s| !s.bucket.is_idle(s.limit, now));
            removed += before - g.map.len();
            g.sweep_at = (g.map.len() * 2).max(SWEEP_AT);
        }
        removed
    }

    /// Buckets held, for tests and metrics.
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|i| self.lock(i).map.len()).sum()
    }
}

fn guard<'a, 'g>(guards: &'a mut [(usize, MutexGuard<'g, ShardState>)], i: usize) -> &'a mut Shard {
    let pos = guards.iter().position(|(j, _)| *j == i).unwrap_or(0);
    &mut guards[pos].1.map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Scope;

    #[test]
    fn idle_buckets_are_evicted_so_memory_stays_bounded() {
        let store = MemoryStore::new();
        let limit = Limit {
            rate: 1_000_000.0,
            burst: 1.0,
        };
        for id in 0..5_000 {
            let c = store.check(&[Want {
                key: (Scope::User, id),
                limit,
                cost: 1.0,
            }]);
            assert!(c[0].allowed);
        }
        assert_eq!(store.len(), 5_000);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(store.sweep(), 5_000);
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn a_refusal_by_one_bucket_takes_from_none() {
        let store = MemoryStore::new();
        let roomy = Limit {
            rate: 0.001,
            burst: 10.0,
        };
        let tight = Limit {
            rate: 0.001,
            burst: 1.0,
        };
        let wants = [
            Want {
                key: (Scope::User, 1),
                limit: roomy,
                cost: 1.0,
            },
            Want {
                key: (Scope::ApiKey, 1),
                limit: tight,
                cost: 1.0,
            },
        ];
        assert!(store.check(&wants).iter().all(|c| c.allowed));
        let second = store.check(&wants);
        assert!(second[0].allowed && !second[1].allowed);
        // The user bucket gave nothing to the refused request: 9 left, not 8.
        assert_eq!(store.check(&wants[..1])[0].remaining, 8.0);
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::*;
    use crate::ratelimit::Scope;

    #[test]
    fn live_buckets_are_kept_past_the_sweep_threshold() {
        let store = MemoryStore::new();
        let limit = Limit {
            rate: 0.001,
            burst: 1000.0,
        };
        let n = (SWEEP_AT * SHARDS * 2) as i64;
        for id in 0..n {
            store.check(&[Want {
                key: (Scope::User, id),
                limit,
                cost: 1.0,
            }]);
        }
        assert_eq!(store.len() as i64, n);
    }
}
