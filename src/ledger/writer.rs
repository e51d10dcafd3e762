//! The ledger writer handle: admission, `record`, stats and shutdown.
//!
//! After TensorZero's batching writer: one bounded channel of
//! `buffer_size`, `num_workers` tasks that take batches from it
//! ([`super::worker`]) and drain it on close. The request path never waits
//! on the database: with `on_full = "block"` a request reserves its slot in
//! [`LedgerWriter::admit`] *before* the upstream is called, so
//! [`LedgerWriter::record`] only moves the entry into that slot; with
//! `"drop"` a full buffer drops the entry, counted and logged. With
//! `ledger.async.enabled = false` entries are written inline instead.
//! The SQL lives in [`super::store`]; the future spool goes in front of
//! `record`, without changing this API.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, OwnedPermit, error::TrySendError};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{error, warn};

use super::entry::Entry;
use super::stats::{Counters, WriterStats};
use super::worker::{self, Shared};
use crate::config::{LedgerConfig, OnFull};
use crate::db::Db;

/// A cheap, clonable handle on the ledger writer; all clones share one
/// channel and one set of workers.
#[derive(Debug, Clone)]
pub struct LedgerWriter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// `None` once shut down (dropping it closes the channel) and in inline mode.
    tx: RwLock<Option<mpsc::Sender<Entry>>>,
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
/// With `on_full = "block"` it holds a reserved slot of the channel, so
/// recording cannot fail for lack of room; otherwise it is empty. Dropping
/// it without recording frees the slot: nothing is counted, since no entry
/// existed.
#[derive(Debug)]
#[must_use = "pass the Admission to LedgerWriter::record"]
pub struct Admission {
    permit: Option<OwnedPermit<Entry>>,
}

impl LedgerWriter {
    /// Starts the writer on the current tokio runtime: `num_workers` tasks
    /// sharing one channel of `buffer_size` entries, or none when
    /// `async.enabled` is false (inline writes).
    pub fn start(db: Db, cfg: &LedgerConfig) -> LedgerWriter {
        let a = &cfg.async_writer;
        let buffer_size = a.buffer_size.max(1);
        let shared = Arc::new(Shared {
            db,
            counters: Counters::default(),
            dead_letter_path: cfg.dead_letter_path.clone().into(),
            batch_size: a.batch_size.max(1),
            flush: Duration::from_millis(a.flush_ms),
        });
        let (tx, workers) = if a.enabled {
            let (tx, rx) = mpsc::channel(buffer_size);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let workers = (0..a.num_workers.max(1))
                .map(|id| tokio::spawn(worker::run(id, shared.clone(), rx.clone())))
                .collect();
            (Some(tx), workers)
        } else {
            (None, Vec::new())
        };
        LedgerWriter {
            inner: Arc::new(Inner {
                shared,
                tx: RwLock::new(tx),
                inline: !a.enabled,
                on_full: a.on_full,
                buffer_size,
                closed: AtomicBool::new(false),
                workers: Mutex::new(workers),
                inline_tasks: Mutex::new(JoinSet::new()),
                started: Instant::now(),
                last_full_warn_ms: AtomicU64::new(0),
                shutting_down: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Takes a place for one entry. Under `on_full = "block"` this waits for
    /// room in the buffer: call it before the upstream, so backpressure
    /// delays new requests and never a response already paid for. Returns
    /// at once otherwise.
    pub async fn admit(&self) -> Admission {
        if self.inner.inline || self.inner.on_full == OnFull::Drop {
            return Admission { permit: None };
        }
        let tx = self.sender();
        let permit = match tx {
            Some(tx) => tx.reserve_owned().await.ok(),
            None => None,
        };
        Admission { permit }
    }

    /// Hands an entry to the writer; never waits. The entry is sanitized
    /// first. Under `"drop"` a full buffer drops it (counted, warned at most
    /// once a second); after [`shutdown`](Self::shutdown) it is dropped with
    /// an error log. In inline mode the write is started on the runtime and
    /// awaited by `shutdown`; use [`persist`](Self::persist) to wait for it.
    pub fn record(&self, admission: Admission, mut entry: Entry) {
        entry.sanitize();
        if self.inner.inline {
            if self.inner.closed.load(Relaxed) {
                return self.drop_after_shutdown(&entry);
            }
            let shared = self.inner.shared.clone();
            let mut tasks = self.lock_inline_tasks();
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move { worker::flush(&shared, "inline", &[entry]).await });
            return;
        }
        let counters = &self.inner.shared.counters;
        if let Some(permit) = admission.permit {
            counters.queued.fetch_add(1, Relaxed);
            permit.send(entry);
            return;
        }
        let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else {
            return self.drop_after_shutdown(&entry);
        };
        counters.queued.fetch_add(1, Relaxed);
        match tx.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                counters.dequeued(1);
                let dropped = counters.dropped.fetch_add(1, Relaxed) + 1;
                self.warn_full(dropped);
            }
            Err(TrySendError::Closed(entry)) => {
                counters.dequeued(1);
                self.drop_after_shutdown(&entry);
            }
        }
    }

    /// Records and, in inline mode, returns only once the entry is written
    /// (or dead-lettered). With the async writer it is [`record`](Self::record).
    pub async fn persist(&self, admission: Admission, mut entry: Entry) {
        if !self.inner.inline {
            return self.record(admission, entry);
        }
        entry.sanitize();
        if self.inner.closed.load(Relaxed) {
            return self.drop_after_shutdown(&entry);
        }
        worker::flush(&self.inner.shared, "inline", &[entry]).await;
    }

    /// Whether entries are written inline (`ledger.async.enabled = false`).
    pub fn is_inline(&self) -> bool {
        self.inner.inline
    }

    /// Whether a new entry would be taken now: not shut down, and room in
    /// the buffer (always, for inline writes). `/readyz` answers from this.
    pub fn accepts_entries(&self) -> bool {
        if self.inner.closed.load(Relaxed) {
            return false;
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
        self.inner.shared.counters.snapshot(buffer)
    }

    /// Stops taking entries, drains every queued one, waits for the
    /// workers and returns the final stats. Entries under an outstanding
    /// [`Admission`] are still accepted and written: shutdown waits for
    /// them, as it waits for in-flight requests. Safe to call from several
    /// clones: every caller returns after the drain.
    pub async fn shutdown(&self) -> WriterStats {
        let _one_at_a_time = self.inner.shutting_down.lock().await;
        self.inner.closed.store(true, Relaxed);
        drop(
            self.inner
                .tx
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let workers = std::mem::take(
            &mut *self
                .inner
                .workers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (id, w) in workers.into_iter().enumerate() {
            if let Err(e) = w.await {
                error!("ledger worker-{id} ended abnormally: {e}");
            }
        }
        let tasks = std::mem::take(&mut *self.lock_inline_tasks());
        for r in tasks.join_all().await {
            let () = r;
        }
        self.stats()
    }

    fn sender(&self) -> Option<mpsc::Sender<Entry>> {
        let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        tx.clone()
    }

    fn lock_inline_tasks(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.inner
            .inline_tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
            warn!(
                "ledger buffer full ({} entries, on_full = \"drop\"): {dropped} entries dropped so far",
                self.inner.buffer_size
            );
        }
    }
}
