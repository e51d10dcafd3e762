//! A writer started while its database is unreachable (#29, fault 2).
//!
//! With the spool on, nothing needs the database to take entries: the
//! chain's numbering continues from what the spool and the head file say
//! (every entry of this instance passes through the spool, and a segment
//! is deleted only below a watermark the head file has recorded, so
//! together they know the newest number), and entries wait on disk as
//! during any outage. What does need the database — reading the chain's
//! stored watermark, checking the schema, applying migrations — waits
//! for `ready` and runs then; only after it does the tailer feed the
//! workers. A database that answers with a schema this binary does not
//! know, or with a chain beyond what this instance knows, is never
//! written: the entries stay in the spool and health says why.

use std::sync::atomic::{AtomicU8, Ordering};

use super::*;
use crate::config::ChainConfig;

/// When the writer opens its chain against the database.
pub enum Opening {
    /// At start: the database answers.
    Now,
    /// Once this says so (`Err` when the database's schema must not be
    /// written: the reason is logged and shown by health). A channel, not
    /// a future: the schema check runs in `serve`'s own task, as sqlx's
    /// migration futures cannot be spawned.
    Deferred(oneshot::Receiver<Result<(), String>>),
}

const OPEN: u8 = 0;
const WAITING: u8 = 1;
const REFUSED_SCHEMA: u8 = 2;
const REFUSED_CHAIN: u8 = 3;

/// Where a deferred opening stands.
#[derive(Debug)]
pub(super) struct OpeningState(AtomicU8);

impl OpeningState {
    pub(super) fn new(deferred: bool) -> Self {
        Self(AtomicU8::new(if deferred { WAITING } else { OPEN }))
    }

    pub(super) fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed) == OPEN
    }

    fn set(&self, v: u8) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// For stats and health: why entries are not being written yet, and
    /// whether that is for good.
    pub(super) fn describe(&self) -> Option<(&'static str, bool)> {
        match self.0.load(Ordering::Relaxed) {
            WAITING => Some((
                "started during an outage of the ledger database: entries are kept in the spool \
                 and written once it answers",
                false,
            )),
            REFUSED_SCHEMA => Some((
                "the ledger database's schema is not one this binary knows: nothing is written, \
                 entries stay in the spool (see the log; run the matching tokctl version)",
                true,
            )),
            REFUSED_CHAIN => Some((
                "the ledger database holds entries of this chain beyond what this instance's spool \
                 and head file know (two gateways with one instance id, or a lost spool): nothing \
                 is written, entries stay in the spool (see the log)",
                true,
            )),
            _ => None,
        }
    }
}

/// The chain as far as this machine knows it without the database: the
/// instance id, and the head file's committed number as the watermark.
pub(super) fn offline(cfg: &ChainConfig) -> Result<start::Opened, ChainError> {
    let instance_id = start::instance_id(cfg)?;
    let head_file = head::read(std::path::Path::new(&cfg.head_file))
        .map_err(ChainError::from)?
        .filter(|h| h.instance_id == instance_id);
    let (watermark, hash) = head_file.as_ref().map_or((0, None), |h| (h.seq, h.hash));
    Ok(start::Opened {
        instance_id,
        watermark,
        watermark_hash: hash,
        stored_head: watermark,
        stored_head_hash: hash,
        head_file,
    })
}

/// Starts the tailer: entries above `after` go from the spool to the workers.
pub(super) fn spawn_tailer(
    shared: &Arc<worker::Shared>,
    sp: Arc<SpoolShared>,
    after: i64,
    tx: mpsc::Sender<Entry>,
) -> JoinHandle<()> {
    let s2 = shared.clone();
    tokio::spawn(spool::tailer::run(sp, after, tx, move |e| {
        s2.counters.queued.fetch_add(1, Relaxed);
        // An earlier run's spooled entry: its spend is not in the ledger yet.
        s2.unwritten.replayed(e);
    }))
}

/// Waits for `ready`, opens the chain against the database (retrying),
/// checks it against what this instance numbered offline (`known_last`),
/// then starts the tailer from the database's watermark.
pub(super) async fn open_when_ready(
    inner: Arc<Inner>,
    ready: oneshot::Receiver<Result<(), String>>,
    tx: mpsc::Sender<Entry>,
    chain: ChainConfig,
    known_last: i64,
) {
    match ready.await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            error!("{why}; the ledger is not written, entries stay in the spool");
            inner.opening.set(REFUSED_SCHEMA);
            return;
        }
        // The server stopped before the database answered.
        Err(_) => return,
    }
    let shared = &inner.shared;
    let mut backoff = Duration::from_millis(500);
    let opened = loop {
        match start::open(&shared.db, &chain, &shared.key).await {
            Ok(o) => break o,
            Err(e) => {
                warn!("cannot open the ledger's chain yet (retrying in {backoff:?}): {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    };
    if opened.stored_head > known_last {
        error!(
            "the ledger database holds entries of chain `{}` up to {}, but this instance's spool \
             and head file end at {known_last}: two gateways share this instance id, or this \
             gateway's spool or head file was lost. Nothing is written (numbers would repeat); \
             entries stay in the spool. Give each gateway its own ledger.chain.instance_id, or \
             restore the spool directory and head file, then restart",
            opened.instance_id, opened.stored_head
        );
        inner.opening.set(REFUSED_CHAIN);
        return;
    }
    shared
        .tracker
        .reset(opened.watermark, opened.watermark_hash);
    if let Err(e) = worker::commit(shared, &[]).await {
        warn!("cannot record the chain's state yet (retried in the background): {e}");
    }
    let Some(sp) = inner.spool.clone() else {
        return;
    };
    let backlog = inner.sequencer.head().0 - opened.watermark;
    // No await between spawning and storing: a shutdown that aborts this
    // task finds the tailer's handle, or no tailer at all.
    *lock(&inner.tailer) = Some(spawn_tailer(shared, sp, opened.watermark, tx));
    inner.opening.set(OPEN);
    info!(
        "the ledger database answers: chain `{}` opened at watermark {}, writing the {} entries \
         spooled meanwhile",
        opened.instance_id,
        opened.watermark,
        backlog.max(0)
    );
}
