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
use super::front::{Carry, Front};
use super::spool::{self, SpoolError, SpoolShared, appender};
use super::stats::{Counters, WriterStats};
use super::store::FileWriter;
use super::worker::{self, Shared};
use crate::config::{LedgerConfig, OnFull};
use crate::db::Db;

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
    buffer_size: usize,
    closed: AtomicBool,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Inline writes started by the synchronous [`LedgerWriter::record`].
    inline_tasks: Mutex<JoinSet<()>>,
    started: Instant,
    last_full_warn_ms: AtomicU64,
    /// Held for the whole of `shutdown`, so a second caller waits for the drain.
    shutting_down: tokio::sync::Mutex<()>,
}

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

    pub async fn wait(self) {
        if let Some(rx) = self.0 {
            let _ = rx.await;
        }
    }
}

impl LedgerWriter {
    /// Opens this instance's chain (continuing where the database, the
    /// spool or the head file says), starts the spool when on, and the
    /// workers, on the current tokio runtime.
    pub async fn start(db: Db, cfg: &LedgerConfig) -> Result<LedgerWriter, LedgerError> {
        let a = &cfg.async_writer;
        let key = ChainKey::new(&cfg.chain.hmac_key);
        let opened = start::open(&db, &cfg.chain, &key).await?;
        let spool_on = a.enabled && cfg.spool.enabled;
        let scan = if spool_on {
            Some(spool::open_dir(std::path::Path::new(&cfg.spool.dir))?)
        } else {
            None
        };
        // Numbering continues after the newest number anywhere.
        let mut last = (opened.stored_head, opened.stored_head_hash);
        if let Some((seq, hash)) = scan.as_ref().and_then(spool::Scan::last)
            && seq > last.0
        {
            last = (seq, Some(hash));
        }
        if let Some(h) = &opened.head_file
            && h.seq > last.0
        {
            warn!(
                "the chain head file {} says entry {} of chain `{}` was committed, but the ledger \
                 ends at {}: entries were deleted or the database was restored from a backup; \
                 run `tokctl ledger verify`",
                cfg.chain.head_file, h.seq, opened.instance_id, last.0
            );
            last = (h.seq, h.hash);
        }
        // Numbers at or below the head file's were committed when it was
        // written: one missing there was deleted, not lost in a crash, and
        // must not be recorded as a gap (lowering the stored watermark
        // behind the gateway's back would otherwise launder a deletion).
        let committed = opened
            .head_file
            .as_ref()
            .map_or(opened.watermark, |h| h.seq.max(opened.watermark));
        let lost = start::lost_numbers(
            &db,
            &key,
            &opened.instance_id,
            committed,
            opened.stored_head,
            "lost_in_crash",
            |s| scan.as_ref().is_some_and(|sc| sc.holds(s)),
        )
        .await
        .map_err(ChainError::from)?;
        if !lost.is_empty() {
            warn!(
                "{} entries of chain `{}` were lost by a crash with the spool off; recorded as gaps",
                lost.len(),
                opened.instance_id
            );
        }
        let tracker = Tracker::new(opened.watermark, opened.watermark_hash);
        tracker.add_gaps(lost);
        let sequencer = Arc::new(Sequencer::new(
            opened.instance_id.clone(),
            key.clone(),
            last.0,
            last.1.unwrap_or(GENESIS),
        ));
        if !key.is_keyed() {
            warn!(
                "ledger.chain.hmac_key is empty: the chain uses plain SHA-256, which anyone who can \
                 write to the database can recompute; set TOKCTL_LEDGER_CHAIN_HMAC_KEY"
            );
        }
        let buffer_size = a.buffer_size.max(1);
        let file = match FileWriter::for_db(&db, true).await {
            Ok(f) => f.map(std::sync::Mutex::new),
            Err(e) => {
                warn!("writing the SQLite ledger through the pool: cannot open the file: {e}");
                None
            }
        };
        let shared = Arc::new(Shared {
            db,
            counters: Counters::default(),
            dead_letter_path: cfg.dead_letter_path.clone().into(),
            batch_size: a.batch_size.max(1),
            flush: Duration::from_millis(a.flush_ms),
            tracker,
            key,
            instance_id: opened.instance_id.clone(),
            spooled: spool_on,
            abandon: AtomicBool::new(false),
            file,
        });
        if let Err(e) = worker::commit(&shared, &[]).await {
            warn!("cannot record the chain's gaps yet (retried in the background): {e}");
        }
        let (mut tx, workers) = if a.enabled {
            let (tx, rx) = mpsc::channel(buffer_size);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let workers = (0..a.num_workers.max(1))
                .map(|id| tokio::spawn(worker::run(id, shared.clone(), rx.clone())))
                .collect();
            (Some(tx), workers)
        } else {
            (None, Vec::new())
        };
        let (mut spool_shared, mut appender, mut thread, mut tailer) = (None, None, None, None);
        if let Some(scan) = scan
            && let Some(tx) = tx.take()
        {
            let torn = scan
                .segments
                .iter()
                .filter(|s| s.unreadable_bytes > 0)
                .count();
            let sp = Arc::new(SpoolShared::new(&cfg.spool, &scan));
            if torn > 0 {
                warn!(
                    "{torn} spool segments end in a torn or corrupt record ({} bytes); \
                     every whole record before it is replayed",
                    scan.unreadable_bytes()
                );
                sp.torn_records.fetch_add(torn as u64, Relaxed);
            }
            let backlog = scan.last().map_or(0, |(s, _)| s - opened.watermark).max(0);
            if backlog > 0 {
                info!(
                    "replaying up to {backlog} spooled entries above the watermark {} in the background",
                    opened.watermark
                );
            }
            let (handle, th) = appender::start(sp.clone(), sequencer.clone(), &cfg.spool)?;
            let s2 = shared.clone();
            tailer = Some(tokio::spawn(spool::tailer::run(
                sp.clone(),
                opened.watermark,
                tx,
                move || {
                    s2.counters.queued.fetch_add(1, Relaxed);
                },
            )));
            spool_shared = Some(sp);
            appender = Some(handle);
            thread = Some(th);
        }
        let stop_keeper = CancellationToken::new();
        let inner = Arc::new(Inner {
            shared,
            sequencer,
            tx: RwLock::new(tx),
            appender: RwLock::new(appender),
            spool: spool_shared,
            unwritten: Arc::new(Semaphore::new(buffer_size.min(Semaphore::MAX_PERMITS))),
            appender_task: Mutex::new(thread),
            tailer: Mutex::new(tailer),
            keeper: Mutex::new(None),
            stop_keeper: stop_keeper.clone(),
            head_path: cfg.chain.head_file.clone().into(),
            head_floor: opened.head_file.as_ref().map_or(0, |h| h.seq),
            inline: !a.enabled,
            on_full: a.on_full,
            buffer_size,
            closed: AtomicBool::new(false),
            workers: Mutex::new(workers),
            inline_tasks: Mutex::new(JoinSet::new()),
            started: Instant::now(),
            last_full_warn_ms: AtomicU64::new(0),
            shutting_down: tokio::sync::Mutex::new(()),
        });
        let interval = Duration::from_millis(cfg.chain.head_interval_ms.max(10));
        let k = inner.clone();
        *lock(&inner.keeper) = Some(tokio::spawn(async move {
            let mut written = None;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = stop_keeper.cancelled() => break,
                }
                k.keep(&mut written).await;
            }
        }));
        Ok(LedgerWriter { inner, front: None })
    }

    /// Takes a place for one entry. Under `on_full = "block"` this waits for
    /// room (in the channel, or in the spool when it is on): call it before
    /// the upstream, so backpressure delays new requests and never a
    /// response already paid for. Returns at once otherwise.
    pub async fn admit(&self) -> Admission {
        let none = Admission {
            permit: None,
            unwritten: None,
        };
        if self.inner.inline || self.inner.on_full == OnFull::Drop {
            return none;
        }
        if let Some(sp) = &self.inner.spool {
            while sp.is_full() && !self.inner.closed.load(Relaxed) {
                let room = sp.room.notified();
                let _ = tokio::time::timeout(Duration::from_millis(100), room).await;
            }
            let unwritten = self.inner.unwritten.clone().acquire_owned().await.ok();
            return Admission {
                permit: None,
                unwritten,
            };
        }
        let tx = self.sender();
        let permit = match tx {
            Some(tx) => tx.reserve_owned().await.ok(),
            None => None,
        };
        Admission {
            permit,
            unwritten: None,
        }
    }

    /// Hands an entry to the writer; never waits on the database. The entry
    /// is sanitized, then linked into the chain once it is admitted (a
    /// dropped entry takes no number). Under `"drop"` a full buffer or
    /// spool drops it (counted, warned at most once a second); after
    /// [`shutdown`](Self::shutdown) it is dropped with an error log. Await
    /// the returned [`Durable`] before the response's last byte. In inline mode the write is started on the runtime and
    /// awaited by `shutdown`; use [`persist`](Self::persist) to wait for it.
    pub fn record(&self, admission: Admission, mut entry: Entry) -> Durable {
        entry.sanitize();
        let none = Durable(None);
        if self.inner.inline {
            if self.inner.closed.load(Relaxed) {
                self.drop_after_shutdown(&entry);
                return none;
            }
            let entry = self.inner.sequencer.assign_then(entry, |e| e);
            let shared = self.inner.shared.clone();
            let mut tasks = self.lock_inline_tasks();
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move { worker::flush(&shared, "inline", &[entry]).await });
            return none;
        }
        let counters = &self.inner.shared.counters;
        if let Some(sp) = &self.inner.spool {
            if self.inner.on_full == OnFull::Drop && sp.is_full() {
                let dropped = counters.dropped.fetch_add(1, Relaxed) + 1;
                self.warn_full(dropped);
                return none;
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
                return none;
            };
            let one = appender::Entries::One(entry);
            if let Err(entries) = app.append(one, Some(ack), admission.unwritten) {
                entries
                    .into_vec()
                    .iter()
                    .for_each(|e| self.drop_after_shutdown(e));
                return none;
            }
            return Durable(Some(rx));
        }
        let seq = &self.inner.sequencer;
        if let Some(permit) = admission.permit {
            if let Some(front) = &self.front {
                return front.gather(self, entry, Carry::Slot(permit));
            }
            counters.queued.fetch_add(1, Relaxed);
            seq.assign_then(entry, |e| permit.send(e));
            return none;
        }
        let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else {
            self.drop_after_shutdown(&entry);
            return none;
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
        none
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
    pub async fn persist(&self, admission: Admission, mut entry: Entry) {
        if !self.inner.inline {
            return self.record(admission, entry).wait().await;
        }
        entry.sanitize();
        if self.inner.closed.load(Relaxed) {
            return self.drop_after_shutdown(&entry);
        }
        let entry = self.inner.sequencer.assign_then(entry, |e| e);
        worker::flush(&self.inner.shared, "inline", &[entry]).await;
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
            return !sp.is_full();
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
        if let Some(sp) = &self.inner.spool {
            s.spooled = true;
            s.spool_max_bytes = sp.max_bytes;
            s.spool_bytes = sp.bytes.load(Relaxed);
            s.oldest_unwritten = sp.oldest_unwritten_age(s.watermark, s.last_seq);
            s.spool_torn_records = sp.torn_records.load(Relaxed);
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

    /// Stops taking entries, drains every queued one, waits for the
    /// workers and returns the final stats. Entries under an outstanding
    /// [`Admission`] are still accepted and written: shutdown waits for
    /// them, as it waits for in-flight requests. With the spool on and the
    /// database unreachable, what is not written within 10 s stays in the
    /// spool for the next start. Safe to call from several clones.
    pub async fn shutdown(&self) -> WriterStats {
        let _one_at_a_time = self.inner.shutting_down.lock().await;
        let inner = &self.inner;
        inner.closed.store(true, Relaxed);
        drop(
            inner
                .tx
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        drop(
            inner
                .appender
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = lock(&inner.appender_task).take();
        if let Some(t) = task {
            let _ = t.await;
        }
        let tailer = lock(&inner.tailer).take();
        let workers = std::mem::take(&mut *lock(&inner.workers));
        let drain = async {
            if let Some(t) = tailer
                && let Err(e) = t.await
            {
                error!("spool tailer ended abnormally: {e}");
            }
            for (id, w) in workers.into_iter().enumerate() {
                if let Err(e) = w.await {
                    error!("ledger worker-{id} ended abnormally: {e}");
                }
            }
        };
        tokio::pin!(drain);
        if inner.spool.is_some() {
            if tokio::time::timeout(SPOOL_DRAIN_DEADLINE, &mut drain)
                .await
                .is_err()
            {
                warn!(
                    "the ledger database did not take the backlog within {SPOOL_DRAIN_DEADLINE:?}; \
                     the rest stays in the spool and is replayed at the next start"
                );
                inner.shared.abandon.store(true, Relaxed);
                drain.await;
            }
        } else {
            drain.await;
        }
        let tasks = std::mem::take(&mut *self.lock_inline_tasks());
        for r in tasks.join_all().await {
            let () = r;
        }
        inner.stop_keeper.cancel();
        let keeper = lock(&inner.keeper).take();
        if let Some(k) = keeper {
            let _ = k.await;
        }
        if !inner.shared.abandon.load(Relaxed) {
            inner.keep(&mut None).await;
        }
        self.stats()
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
        let now = self.inner.started.elapsed().as_millis() as u64 + 1_000;
        let last = self.inner.last_full_warn_ms.load(Relaxed);
        if now.saturating_sub(last) >= 1_000
            && self
                .inner
                .last_full_warn_ms
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            let what = if self.inner.spool.is_some() {
                "spool full (ledger.spool.max_bytes"
            } else {
                "ledger buffer full (ledger.async.buffer_size"
            };
            warn!("{what}, on_full = \"drop\"): {dropped} entries dropped so far");
        }
    }
}

impl Inner {
    /// One round of the keeper: gaps for unreadable spool records, the
    /// watermark when no batch moved it, the head file, old segments.
    async fn keep(&self, written: &mut Option<i64>) {
        let shared = &self.shared;
        if let Some(sp) = &self.spool {
            let ranges = std::mem::take(&mut *lock(&sp.unreadable));
            for (lo, hi) in ranges {
                match start::lost_numbers(
                    &shared.db,
                    &shared.key,
                    &shared.instance_id,
                    lo - 1,
                    hi,
                    "spool_corrupt",
                    |_| false,
                )
                .await
                {
                    Ok(gaps) => shared.tracker.add_gaps(gaps),
                    Err(e) => {
                        warn!("cannot check unreadable spool entries {lo}..={hi}: {e}");
                        lock(&sp.unreadable).push((lo, hi));
                    }
                }
            }
        }
        let (wm, hash) = shared.tracker.watermark();
        if (*written != Some(wm) || shared.tracker.has_gaps())
            && let Err(e) = worker::commit(shared, &[]).await
        {
            warn!("cannot write the chain's watermark: {e}");
            return;
        }
        let (wm, hash) = {
            let now = shared.tracker.watermark();
            if now.0 >= wm { now } else { (wm, hash) }
        };
        if *written != Some(wm) && wm >= self.head_floor {
            let head = Head {
                instance_id: shared.instance_id.clone(),
                seq: wm,
                hash,
                written_at_us: crate::db::now_us(),
            };
            match head::write(&self.head_path, &head) {
                Ok(()) => *written = Some(wm),
                Err(e) => warn!("{e}"),
            }
        }
        if let Some(sp) = &self.spool {
            sp.delete_committed(wm);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
