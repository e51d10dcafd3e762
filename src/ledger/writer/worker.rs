//! The writer's workers: collect a batch from the shared channel (by size or
//! `flush_ms` after its first entry), then flush it with recovery.
//!
//! Recovery, in order: a transient database error is retried with backoff;
//! a batch the database refuses is split in halves until the refused
//! entries stand alone; an entry refused alone, or a batch still failing
//! after the retries (the database is unreachable), goes to the dead-letter
//! file. Inserts are idempotent, so every retry is safe. The handle,
//! admission and shutdown live in [`super::writer`].

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc};
use tracing::{debug, error, warn};

use super::dead_letter;
use super::stats::Counters;
use crate::db::Db;
use crate::ledger::chain::tracker::{self, Span, Tracker};
use crate::ledger::chain::{ChainKey, Gap};
use crate::ledger::entry::Entry;
use crate::ledger::store::{self, FileWriter, StoreError, Watermark};

/// Attempts per batch on transient errors, and the first backoff (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// What the workers and the inline path share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub db: Db,
    pub counters: Counters,
    pub dead_letter_path: PathBuf,
    pub batch_size: usize,
    pub flush: Duration,
    /// The chain's watermark and pending gaps.
    pub tracker: Tracker,
    pub key: ChainKey,
    pub instance_id: String,
    /// With the spool on, a batch the database cannot take now stays in
    /// the spool: workers retry until it is written or `abandon` is set.
    pub spooled: bool,
    pub abandon: AtomicBool,
    /// On a SQLite file: the connection every commit goes through, kept
    /// open so its statements stay prepared (`None`: through the pool).
    pub file: Option<std::sync::Mutex<FileWriter>>,
    /// Budgets' unwritten spend: told of every commit and of every entry
    /// an earlier run spooled; the gateway's limiter reads it.
    pub unwritten: Arc<crate::budget::Unwritten>,
}

/// One worker: runs until the channel is closed and drained.
pub(crate) async fn run(id: usize, shared: Arc<Shared>, rx: Arc<Mutex<mpsc::Receiver<Entry>>>) {
    let limit = shared.batch_size;
    loop {
        let mut batch = Vec::with_capacity(limit);
        {
            // Held only while collecting: another worker flushes meanwhile.
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut batch, limit).await == 0 {
                break; // closed and drained
            }
            let deadline = tokio::time::Instant::now() + shared.flush;
            while batch.len() < limit {
                let room = limit - batch.len();
                match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                    Ok(0) | Err(_) => break, // closed, or the batch is due
                    Ok(_) => {}
                }
            }
        }
        shared.counters.dequeued(batch.len());
        if shared.spooled && shared.abandon.load(Relaxed) {
            // Shutdown gave up on the database: these stay in the spool.
            continue;
        }
        flush(&shared, &format!("worker-{id}"), &batch).await;
    }
    debug!("ledger worker-{id} stopped: channel closed and drained");
}

/// Writes one batch with full recovery and counts it. Never fails: what is
/// not inserted is dead-lettered (or, if even that fails, logged and dropped).
pub(crate) async fn flush(shared: &Shared, who: &str, batch: &[Entry]) {
    let start = Instant::now();
    let inserted = write_or_isolate(shared, batch, true).await;
    let took = start.elapsed();
    shared.counters.batch(batch.len(), inserted, took);
    let secs = took.as_secs_f64();
    let rate = if secs > 0.0 {
        batch.len() as f64 / secs
    } else {
        0.0
    };
    debug!(
        "{who} flushed {inserted}/{} entries in {}ms ({rate:.0} entries/sec)",
        batch.len(),
        took.as_millis()
    );
}

type Flushing<'a> = Pin<Box<dyn Future<Output = u64> + Send + 'a>>;

/// Inserts `entries`, splitting on refusal; returns the rows inserted.
fn write_or_isolate<'a>(shared: &'a Shared, entries: &'a [Entry], top: bool) -> Flushing<'a> {
    Box::pin(async move {
        let err = match insert_with_retry(shared, entries).await {
            Ok(n) => return n,
            Err(e) => e,
        };
        if err.is_transient() && shared.spooled {
            // Abandoned at shutdown: the entries stay in the spool, replayed at the next start.
            warn!(
                "{} ledger entries left in the spool for the next start: {err}",
                entries.len()
            );
            return 0;
        }
        if entries.len() == 1 || err.is_transient() {
            dead_letter(shared, entries, &err).await;
            return 0;
        }
        if top {
            warn!(
                "ledger batch of {} entries refused ({err}); isolating the refused entries",
                entries.len()
            );
        }
        let (a, b) = entries.split_at(entries.len() / 2);
        write_or_isolate(shared, a, false).await + write_or_isolate(shared, b, false).await
    })
}

/// Commits `entries` with the gaps waiting in the tracker and the
/// watermark they make, in one transaction.
pub(crate) async fn commit(shared: &Shared, entries: &[Entry]) -> Result<u64, StoreError> {
    let gaps = shared.tracker.take_gaps();
    let mut spans = tracker::spans(
        entries
            .iter()
            .filter_map(|e| e.chain.as_ref().map(|l| (l.seq, &l.hash))),
    );
    spans.extend(gaps.iter().map(gap_span));
    let (wm, hash) = shared.tracker.prospective(&spans);
    let hash = hash.unwrap_or_default();
    let watermark = Watermark {
        instance_id: &shared.instance_id,
        seq: wm,
        hash: &hash,
    };
    let committed = match &shared.file {
        Some(file) => {
            let commit = || {
                let mut file = file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                store::commit_file(&mut file, entries, &gaps, Some(watermark))
            };
            // The commit runs on this thread and may wait up to the busy
            // timeout on a locked file: on a multi-threaded runtime the
            // tasks queued behind it (the spool's appender among them)
            // move to another thread meanwhile instead of waiting too.
            match tokio::runtime::Handle::current().runtime_flavor() {
                tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(commit),
                _ => commit(),
            }
        }
        None => store::commit(&shared.db, entries, &gaps, Some(watermark)).await,
    };
    match committed {
        Ok(n) => {
            shared.tracker.mark(&spans);
            shared.unwritten.written(entries);
            Ok(n)
        }
        Err(e) => {
            shared.tracker.add_gaps(gaps);
            Err(e)
        }
    }
}

fn gap_span(g: &Gap) -> Span {
    Span {
        lo: g.seq,
        hi: g.seq,
        hash: g.entry_hash,
    }
}

/// The longest wait between retries while the spool holds a batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn insert_with_retry(shared: &Shared, entries: &[Entry]) -> Result<u64, StoreError> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match commit(shared, entries).await {
            Ok(n) => return Ok(n),
            Err(e) if e.is_transient() && shared.spooled && !shared.abandon.load(Relaxed) => {
                if attempt == 1 || attempt % 20 == 0 {
                    warn!(
                        "ledger insert of {} entries failed (attempt {attempt}); they stay in the \
                         spool and are retried (next in {:?}, backing off to every {:?}): {e}",
                        entries.len(),
                        backoff.min(MAX_BACKOFF),
                        MAX_BACKOFF
                    );
                }
                tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(e)
                if e.is_transient()
                    && attempt < ATTEMPTS
                    && !(shared.spooled && shared.abandon.load(Relaxed)) =>
            {
                warn!(
                    "ledger insert of {} entries failed (attempt {attempt}/{ATTEMPTS}), \
                     retrying in {backoff:?}: {e}",
                    entries.len()
                );
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn dead_letter(shared: &Shared, entries: &[Entry], err: &StoreError) {
    // Their numbers become gaps, so the watermark is not held back for ever.
    shared.tracker.add_gaps(entries.iter().filter_map(|e| {
        let l = e.chain.as_ref()?;
        Some(shared.key.gap(
            &l.instance_id,
            l.seq,
            Some(&e.request_id),
            "dead_lettered",
            Some(l.hash),
        ))
    }));
    let reason = err.to_string();
    let path = &shared.dead_letter_path;
    match dead_letter::append(path, entries, &reason).await {
        Ok(()) => {
            shared
                .counters
                .dead_lettered
                .fetch_add(entries.len() as u64, Relaxed);
            for e in entries {
                error!(
                    "ledger entry `{}` dead-lettered to {}: {reason}",
                    e.request_id,
                    path.display()
                );
            }
        }
        Err(dl) => {
            shared
                .counters
                .dropped
                .fetch_add(entries.len() as u64, Relaxed);
            for e in entries {
                let json = serde_json::to_string(e).unwrap_or_default();
                error!("ledger entry LOST ({reason}; and {dl}): {json}");
            }
        }
    }
}
