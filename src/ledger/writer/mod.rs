//! The ledger writer handle: admission, `record`, stats and shutdown.
//!
//! After TensorZero's batching writer: one bounded channel of
//! `buffer_size`, `num_workers` tasks that take batches from it
//! ([`super::worker`]) and drain it on close. The request path never waits
//! on the database. Every admitted entry is linked into this instance's
//! hash chain ([`super::chain`]) once, before the buffer.
//!
//! With the spool on (the default) `record` hands the entry to the spool's
//! appender and returns a [`Durable`] that resolves once the entry is in
//! the segment file; the spool's tailer feeds the channel. The spool's size
//! is then the bound: `on_full = "block"` makes new requests wait in
//! [`LedgerWriter::admit`] while it is over `max_bytes`, `"drop"` drops.
//! Under `"block"` admission also takes one of `buffer_size` places for
//! entries not yet written to the segment, so memory stays bounded when
//! entries come faster than the appender writes them.
//! With the spool off, a request reserves its channel slot in `admit`
//! *before* the upstream is called (block), or the entry is dropped when
//! the channel is full (drop). With `ledger.async.enabled = false` entries
//! are written inline instead. The keeper task writes the watermark when
//! no batch moves it, the head file, gap rows, and deletes spooled
//! segments below the watermark.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, OwnedPermit, error::TrySendError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::chain::head::{self, Head};
use super::chain::sequencer::Sequencer;
use super::chain::start::{self, ChainError};
use super::chain::tracker::Tracker;
use super::chain::{ChainKey, GENESIS};
use super::entry::Entry;
use super::spool::{self, SpoolError, SpoolShared, appender};
use super::store::FileWriter;
use crate::config::{LedgerConfig, OnFull};
use crate::db::Db;
use front::{Carry, Front};
use stats::{Counters, WriterStats};
use worker::Shared;

mod admit;
pub mod dead_letter;
mod deferred;
mod front;
mod health;
mod open;
mod replay;
mod shutdown;
pub mod stats;
mod worker;

pub use admit::Refused;
pub use deferred::Opening;
pub use replay::Replayed;

/// How long shutdown waits for an unreachable database before leaving the
/// rest in the spool for the next start.
const SPOOL_DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(
        "the ledger database is unreachable and the spool is off, so entries could not be kept \
         until it returns; start the database first, or set ledger.spool.enabled = true (and \
         ledger.async.enabled = true) to serve through its outages"
    )]
    DeferredNeedsSpool,
}

/// A cheap, clonable handle on the ledger writer; all clones share one
/// channel and one set of workers.
#[derive(Debug, Clone)]
pub struct LedgerWriter {
    inner: Arc<Inner>,
    /// Set on a worker thread's handle ([`LedgerWriter::for_worker`]).
    front: Option<Arc<Front>>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    sequencer: Arc<Sequencer>,
    /// The channel's sender when the spool is off; `None` once shut down,
    /// in inline mode, and with the spool on (the tailer owns it then).
    tx: RwLock<Option<mpsc::Sender<Entry>>>,
    appender: RwLock<Option<appender::Handle>>,
    spool: Option<Arc<SpoolShared>>,
    /// With the spool on: `buffer_size` places for entries recorded but
    /// not yet in the segment. The appender's queue is unbounded (`record`
    /// cannot wait), so admission waits here instead, and memory stays
    /// bounded however fast entries come.
    unwritten: Arc<Semaphore>,
    appender_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    tailer: Mutex<Option<JoinHandle<()>>>,
    keeper: Mutex<Option<JoinHandle<()>>>,
    stop_keeper: CancellationToken,
    head_path: PathBuf,
    /// The head file's number at start: it is never written lower, so a
    /// watermark lowered behind the gateway's back cannot wipe the record
    /// of what was committed.
    head_floor: i64,
    inline: bool,
    on_full: OnFull,
    /// How long admission waits for room under `on_full = "block"`.
    full_wait: Duration,
    buffer_size: usize,
    closed: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Inline writes started by the synchronous [`LedgerWriter::record`].
    inline_tasks: Mutex<JoinSet<()>>,
    started: Instant,
    last_full_warn_ms: AtomicU64,
    /// Held for the whole of `shutdown`, so a second caller waits for the drain.
    shutting_down: tokio::sync::Mutex<()>,
    /// Whether the chain is open against the database yet (a start during
    /// its outage opens it later).
    opening: deferred::OpeningState,
    /// The task that opens the chain once the database answers.
    opener: Mutex<Option<JoinHandle<()>>>,
    /// The watermark as the keeper last saw it move: (watermark, since
    /// when, rows written by then), to tell a stuck watermark.
    stall: Mutex<(i64, Instant, u64)>,
}

/// A watermark that has not moved for this long while rows are written
/// is stuck: an entry the gateway cannot account for sits just above it.
pub const STUCK_AFTER: Duration = Duration::from_secs(30);

/// A place in the ledger, taken before the upstream is called.
///
/// With the spool off and `on_full = "block"` it holds a reserved slot of
/// the channel, so recording cannot fail for lack of room. With the spool
/// on and `"block"` it holds one of `buffer_size` places for entries not
/// yet written to the segment. Otherwise it is empty. Dropping it without
/// recording frees what it holds.
#[derive(Debug)]
#[must_use = "pass the Admission to LedgerWriter::record"]
pub struct Admission {
    permit: Option<OwnedPermit<Entry>>,
    /// With the spool on and `on_full = "block"`: room for one entry
    /// between `record` and the segment, given back once it is written.
    unwritten: Option<OwnedSemaphorePermit>,
}

/// Resolves once a recorded entry is on disk in the spool; with the spool
/// off, once it is in the writer's channel (at once, but for a worker's
/// handle, whose front hands entries on in groups): hold the response's
/// last byte until then.
#[derive(Debug)]
#[must_use = "await Durable::wait before the response ends"]
pub struct Durable(Option<oneshot::Receiver<()>>);

impl Durable {
    pub(super) fn pending(rx: oneshot::Receiver<()>) -> Self {
        Durable(Some(rx))
    }

    /// Whether there is anything to wait for.
    pub fn is_pending(&self) -> bool {
        self.0.is_some()
    }

    /// False when the entry will never be durable (the spool's appender
    /// gave up at shutdown); true otherwise, with the spool off at once.
    pub async fn wait(self) -> bool {
        match self.0 {
            Some(rx) => rx.await.is_ok(),
            None => true,
        }
    }
}

impl LedgerWriter {
    /// Hands an entry to the writer; never waits on the database. The entry
    /// is sanitized, then linked into the chain once it is admitted (a
    /// dropped entry takes no number). Under `"drop"` a full buffer or
    /// spool drops it (counted, warned at most once a second); after
    /// [`shutdown`](Self::shutdown) it is dropped with an error log. Await
    /// the returned [`Durable`] before the response's last byte. In inline mode the write is started on the runtime and
    /// awaited by `shutdown`; use [`persist`](Self::persist) to wait for it.
    pub fn record(&self, admission: Admission, mut entry: Entry) -> Durable {
        entry.sanitize();
        if self.inner.inline {
            self.record_inline(entry);
            return Durable(None);
        }
        if let Some(sp) = &self.inner.spool {
            return self.record_spooled(sp, admission, entry);
        }
        self.record_queued(admission, entry)
    }

    /// Inline writes: the insert starts now, awaited by `shutdown`.
    fn record_inline(&self, entry: Entry) {
        if self.inner.closed.load(Relaxed) {
            return self.drop_after_shutdown(&entry);
        }
        let entry = self.inner.sequencer.assign_then(entry, |e| e);
        let shared = self.inner.shared.clone();
        let mut tasks = self.lock_inline_tasks();
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move { worker::flush(&shared, "inline", &[entry]).await });
    }

    /// Spool on: to the appender (through the worker's front, if any);
    /// durable once in the segment.
    fn record_spooled(&self, sp: &SpoolShared, admission: Admission, entry: Entry) -> Durable {
        if self.inner.on_full == OnFull::Drop && !sp.can_keep() {
            let dropped = self.inner.shared.counters.dropped.fetch_add(1, Relaxed) + 1;
            self.warn_full(dropped);
            return Durable(None);
        }
        if let Some(front) = &self.front {
            return front.gather(self, entry, Carry::Place(admission.unwritten));
        }
        let app = self
            .inner
            .appender
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (ack, rx) = oneshot::channel();
        let Some(app) = app.as_ref() else {
            self.drop_after_shutdown(&entry);
            return Durable(None);
        };
        let one = appender::Entries::One(entry);
        if let Err(entries) = app.append(one, Some(ack), admission.unwritten) {
            entries
                .into_vec()
                .iter()
                .for_each(|e| self.drop_after_shutdown(e));
            return Durable(None);
        }
        Durable(Some(rx))
    }

    /// Spool off: into the writer's channel, in the slot the admission
    /// reserved (`block`), else in one free now (`drop`: counted if none).
    fn record_queued(&self, admission: Admission, entry: Entry) -> Durable {
        let counters = &self.inner.shared.counters;
        let seq = &self.inner.sequencer;
        if let Some(permit) = admission.permit {
            if let Some(front) = &self.front {
                return front.gather(self, entry, Carry::Slot(permit));
            }
            counters.queued.fetch_add(1, Relaxed);
            seq.assign_then(entry, |e| permit.send(e));
            return Durable(None);
        }
        let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else {
            self.drop_after_shutdown(&entry);
            return Durable(None);
        };
        match tx.try_reserve() {
            Ok(permit) => {
                counters.queued.fetch_add(1, Relaxed);
                seq.assign_then(entry, |e| permit.send(e));
            }
            Err(TrySendError::Full(())) => {
                let dropped = counters.dropped.fetch_add(1, Relaxed) + 1;
                self.warn_full(dropped);
            }
            Err(TrySendError::Closed(())) => self.drop_after_shutdown(&entry),
        }
        Durable(None)
    }

    /// A handle for one serving worker thread: the entries recorded
    /// through it reach the spool's appender, or with the spool off and
    /// `on_full = "block"` the writer's channel, in groups
    /// ([`super::front`]). Use it only from that thread's runtime.
    pub fn for_worker(&self) -> LedgerWriter {
        LedgerWriter {
            inner: self.inner.clone(),
            front: (!self.inner.inline).then(|| Arc::new(Front::default())),
        }
    }

    /// Sends a worker's gathered group into the writer's channel, each
    /// entry into the slot its admission reserved, linked into the chain
    /// in the group's order.
    pub(super) fn send_group(&self, entries: Vec<Entry>, slots: Vec<OwnedPermit<Entry>>) {
        let n = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        self.inner.shared.counters.queued.fetch_add(n, Relaxed);
        for (entry, slot) in entries.into_iter().zip(slots) {
            self.inner.sequencer.assign_then(entry, |e| slot.send(e));
        }
    }

    /// Hands a worker's gathered group to the appender; after shutdown the
    /// entries are dropped (counted and logged) and an error returned.
    pub(super) fn append_group(
        &self,
        entries: appender::Entries,
        ack: oneshot::Sender<()>,
        unwritten: Option<OwnedSemaphorePermit>,
    ) -> Result<(), ()> {
        let app = self
            .inner
            .appender
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let refused = match app.as_ref() {
            Some(app) => app.append(entries, Some(ack), unwritten).err(),
            None => Some(entries),
        };
        match refused {
            Some(entries) => {
                entries
                    .into_vec()
                    .iter()
                    .for_each(|e| self.drop_after_shutdown(e));
                Err(())
            }
            None => Ok(()),
        }
    }

    /// Records and, in inline mode, returns only once the entry is written
    /// (or dead-lettered); otherwise [`record`](Self::record) and wait for
    /// the spool.
    /// False when the entry cannot be kept (see [`Durable::wait`]).
    pub async fn persist(&self, admission: Admission, mut entry: Entry) -> bool {
        if !self.inner.inline {
            return self.record(admission, entry).wait().await;
        }
        entry.sanitize();
        if self.inner.closed.load(Relaxed) {
            self.drop_after_shutdown(&entry);
            return true;
        }
        let entry = self.inner.sequencer.assign_then(entry, |e| e);
        worker::flush(&self.inner.shared, "inline", &[entry]).await;
        true
    }

    /// Whether entries are written inline (`ledger.async.enabled = false`).
    pub fn is_inline(&self) -> bool {
        self.inner.inline
    }

    /// Whether an answer must wait for its entry before it ends: with the
    /// spool on (the entry is on disk) or with inline writes (the entry is
    /// in the database, as `ledger.async.enabled = false` promises).
    pub fn holds_answers(&self) -> bool {
        self.inner.inline || self.inner.spool.is_some()
    }

    /// Whether entries go through the spool.
    pub fn is_spooled(&self) -> bool {
        self.inner.spool.is_some()
    }

    /// This gateway's chain.
    /// Spend this process settled or found spooled that the ledger does
    /// not hold yet (see [`crate::budget::Unwritten`]).
    pub fn unwritten(&self) -> Arc<crate::budget::Unwritten> {
        self.inner.shared.unwritten.clone()
    }

    pub fn instance_id(&self) -> &str {
        self.inner.sequencer.instance_id()
    }

    /// Whether a new entry would be taken now: not shut down, and room in
    /// the buffer or the spool (always, for inline writes). `/readyz`
    /// answers from this.
    pub fn accepts_entries(&self) -> bool {
        if self.inner.closed.load(Relaxed) {
            return false;
        }
        if let Some(sp) = &self.inner.spool {
            return sp.can_keep();
        }
        let s = self.stats();
        self.inner.inline || s.queue_depth < s.buffer_size
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> WriterStats {
        let buffer = if self.inner.inline {
            0
        } else {
            self.inner.buffer_size
        };
        let mut s = self.inner.shared.counters.snapshot(buffer);
        s.watermark = self.inner.shared.tracker.watermark().0;
        s.last_seq = self.inner.sequencer.head().0;
        let (wm, since, written) = *lock(&self.inner.stall);
        if wm == s.watermark && s.backlog() > 0 && s.written > written {
            s.watermark_stuck_for = since.elapsed();
        }
        if let Some(sp) = &self.inner.spool {
            s.spooled = true;
            s.spool_max_bytes = sp.max_bytes;
            s.spool_bytes = sp.bytes.load(Relaxed);
            s.oldest_unwritten = sp.oldest_unwritten_age(s.watermark, s.last_seq);
            s.spool_torn_records = sp.torn_records.load(Relaxed);
            s.spool_refusal = sp.refusal();
            s.opening = self.inner.opening.describe();
            s.dropped += sp.lost.load(Relaxed);
        }
        s
    }

    /// Waits until every entry numbered so far is committed (or a gap), or
    /// `limit` passes; `true` when caught up. For `ledger spool replay`.
    pub async fn wait_caught_up(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            let s = self.stats();
            if s.watermark >= s.last_seq {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Entry>> {
        let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        tx.clone()
    }

    fn lock_inline_tasks(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        lock(&self.inner.inline_tasks)
    }

    fn drop_after_shutdown(&self, entry: &Entry) {
        self.inner.shared.counters.dropped.fetch_add(1, Relaxed);
        error!(
            "ledger entry `{}` recorded after the writer shut down; dropped",
            entry.request_id
        );
    }

    /// Warns about a full buffer at most once a second.
    fn warn_full(&self, dropped: u64) {
        if self.once_a_second() {
            let what = if self.inner.spool.is_some() {
                "spool full (ledger.spool.max_bytes"
            } else {
                "ledger buffer full (ledger.async.buffer_size"
            };
            warn!("{what}, on_full = \"drop\"): {dropped} entries dropped so far");
        }
    }

    /// True at most once a second (across clones): for warnings the
    /// request path may hit at every request.
    fn once_a_second(&self) -> bool {
        let now = self.inner.started.elapsed().as_millis() as u64 + 1_000;
        let last = self.inner.last_full_warn_ms.load(Relaxed);
        now.saturating_sub(last) >= 1_000
            && self
                .inner
                .last_full_warn_ms
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
