//! A worker thread's front to the ledger: the entries its requests record
//! are gathered and handed on as one group, to the spool's appender or,
//! with the spool off, into the writer's channel.
//!
//! Why: the appender runs on the main runtime and each serving worker on
//! its own thread. Sent one by one, every entry woke the appender across
//! threads and every acknowledgement woke the worker back (an `eventfd`
//! write and an `epoll_wait` return each: ~1.3 `write(2)` per request
//! under strace). Here a request's entry goes into its worker's front; a
//! task on the same thread, woken locally, sends what has gathered in one
//! message, takes one acknowledgement for all of it, and wakes the waiting
//! requests locally. The promise is unchanged: a request's [`Durable`]
//! resolves only once its own entry is in the segment.
//!
//! With the spool off the same held: each entry sent on its own into the
//! writer's channel could wake the writer's task on the main runtime, and
//! the gateway spent more CPU per request without the spool than with it
//! (docs/benchmarks-history.md, "The gateway and the writer with the spool,
//! session 12"). There a request's [`Durable`] resolves once its entry is
//! in the channel, as `record` promised before: a shutdown that lets
//! in-flight requests finish first finds every answered entry queued.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::OwnedPermit;
use tokio::sync::{OwnedSemaphorePermit, oneshot};

use super::{Durable, LedgerWriter};
use crate::ledger::entry::Entry;
use crate::ledger::spool::appender::{Entries, merge_places};

/// Entries waiting for the next hand-off, and whether one is under way.
#[derive(Debug, Default)]
pub struct Front {
    state: Mutex<Gathered>,
}

#[derive(Debug, Default)]
struct Gathered {
    entries: Vec<Entry>,
    acks: Vec<oneshot::Sender<()>>,
    /// The admissions' places for unwritten entries, merged into one.
    unwritten: Option<OwnedSemaphorePermit>,
    /// With the spool off: each entry's reserved slot of the writer's
    /// channel, in the order of `entries`.
    slots: Vec<OwnedPermit<Entry>>,
    /// A hand-off task has been spawned and has not yet taken the group.
    scheduled: bool,
}

/// What rides along with an entry into the group.
pub enum Carry {
    /// Spool on: the admission's place for an entry not yet in the segment.
    Place(Option<OwnedSemaphorePermit>),
    /// Spool off: the slot of the writer's channel the admission reserved.
    Slot(OwnedPermit<Entry>),
}

impl Front {
    /// Adds an entry to the group; the first of a group spawns the task
    /// that hands it on (on the caller's runtime: the worker's own).
    pub fn gather(self: &Arc<Self>, writer: &LedgerWriter, entry: Entry, carry: Carry) -> Durable {
        let (ack, rx) = oneshot::channel();
        let spawn = {
            let mut g = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            g.entries.push(entry);
            g.acks.push(ack);
            match carry {
                Carry::Place(unwritten) => merge_places(&mut g.unwritten, unwritten),
                Carry::Slot(slot) => g.slots.push(slot),
            }
            !std::mem::replace(&mut g.scheduled, true)
        };
        if spawn {
            tokio::spawn(hand_on(self.clone(), writer.clone()));
        }
        Durable::pending(rx)
    }
}

/// Lets the requests already runnable on this thread add theirs, then
/// sends the group and, once the appender has written it (or, with the
/// spool off, once it is in the writer's channel), tells each.
async fn hand_on(front: Arc<Front>, writer: LedgerWriter) {
    tokio::task::yield_now().await;
    let (entries, acks, unwritten, slots) = {
        let mut g = front.state.lock().unwrap_or_else(PoisonError::into_inner);
        g.scheduled = false;
        (
            std::mem::take(&mut g.entries),
            std::mem::take(&mut g.acks),
            g.unwritten.take(),
            std::mem::take(&mut g.slots),
        )
    };
    if entries.is_empty() {
        return;
    }
    if !slots.is_empty() {
        writer.send_group(entries, slots);
        for a in acks {
            let _ = a.send(());
        }
        return;
    }
    let (ack, written) = oneshot::channel();
    if writer
        .append_group(Entries::Many(entries), ack, unwritten)
        .is_err()
    {
        // Shut down meanwhile: counted and logged by `append_group`; the
        // waiters see their acknowledgement dropped and stop waiting.
        return;
    }
    if written.await.is_ok() {
        for a in acks {
            let _ = a.send(());
        }
    }
}
