//! The one place a chain's links are made: the next sequence number and
//! the hash over the entry and the previous hash.
//!
//! Exactly one sequencer exists per instance, and it runs only for entries
//! already admitted to the buffer, so a dropped entry never takes a number.
//! The caller hands the entry on while still holding the sequencer
//! ([`Sequencer::assign_then`]), so entries reach the writer in sequence
//! order and every batch is a run of consecutive numbers.

use std::sync::{Mutex, PoisonError};

use super::{ChainKey, Hash, Link};
use crate::ledger::entry::Entry;

#[derive(Debug)]
struct State {
    next: i64,
    prev: Hash,
    scratch: Vec<u8>,
}

/// Assigns links for one chain.
#[derive(Debug)]
pub struct Sequencer {
    instance_id: String,
    key: ChainKey,
    state: Mutex<State>,
}

impl Sequencer {
    /// Continues a chain whose last assigned number is `last` with hash `prev`
    /// (0 and [`super::GENESIS`] for a new chain).
    pub fn new(instance_id: String, key: ChainKey, last: i64, prev: Hash) -> Sequencer {
        Sequencer {
            instance_id,
            key,
            state: Mutex::new(State {
                next: last + 1,
                prev,
                scratch: Vec::with_capacity(1024),
            }),
        }
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn key(&self) -> &ChainKey {
        &self.key
    }

    /// The last number assigned and its hash.
    pub fn head(&self) -> (i64, Hash) {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (s.next - 1, s.prev)
    }

    /// Links `entry` into the chain, then calls `then` with it before the
    /// next entry can be linked. `then` must not block: it runs under the
    /// sequencer's lock.
    pub fn assign_then<R>(&self, mut entry: Entry, then: impl FnOnce(Entry) -> R) -> R {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State {
            next,
            prev,
            scratch,
        } = &mut *s;
        let seq = *next;
        let hash = self
            .key
            .entry_hash(scratch, &self.instance_id, seq, prev, &entry);
        entry.chain = Some(Link {
            instance_id: self.instance_id.clone(),
            seq,
            prev_hash: *prev,
            hash,
            version: crate::ledger::columns::MESSAGE_VERSION,
        });
        *next += 1;
        *prev = hash;
        then(entry)
    }
}
