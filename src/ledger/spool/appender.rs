//! The appender: one task that links entries into the chain and writes
//! them to the active segment in groups, then acknowledges them.
//!
//! Many requests finishing at once cost one `write(2)` (and under
//! `fsync = "always"` one `fdatasync`) for the whole group: group commit,
//! with no lock held across a syscall by a request. An acknowledgement
//! means the entry's bytes are in the kernel (and on the device, under
//! `always`), so a process crash cannot lose it.
//!
//! A task, not an OS thread: the first version ran on a thread of its own,
//! and waking it (a futex) for every small group cost more than the write
//! itself — context switches were a quarter of the gateway's CPU profile
//! on 2 cores. A page-cache `write(2)` takes microseconds, so it runs on
//! the runtime; `fdatasync`, which can take milliseconds, runs on the
//! blocking pool.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tracing::{error, info, warn};

use super::{SpoolError, SpoolShared, WrittenTo, segment};
use crate::config::{Fsync, SpoolConfig};
use crate::ledger::chain::sequencer::Sequencer;
use crate::ledger::entry::Entry;

/// Entries per group at most: bounds the write and the wait of the first.
const MAX_GROUP: usize = 4096;

/// Entries to append, in order, and whom to tell once all are written.
#[derive(Debug)]
pub struct Request {
    pub entries: Entries,
    pub ack: Option<oneshot::Sender<()>>,
    /// Their admissions' places for unwritten entries, freed once written.
    pub unwritten: Option<OwnedSemaphorePermit>,
}

/// One entry, or a worker's gathered group (one message, one wake-up of
/// this task, one acknowledgement for all of them).
// The channel holds requests by value either way; boxing the one entry
// would add an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Entries {
    One(Entry),
    Many(Vec<Entry>),
}

impl Entries {
    pub fn into_vec(self) -> Vec<Entry> {
        match self {
            Entries::One(e) => vec![e],
            Entries::Many(v) => v,
        }
    }
}

/// Adds `more` to the places held in `held` (one permit for a whole group).
pub fn merge_places(held: &mut Option<OwnedSemaphorePermit>, more: Option<OwnedSemaphorePermit>) {
    match (held.as_mut(), more) {
        (Some(h), Some(m)) => h.merge(m),
        (None, m) => *held = m,
        (Some(_), None) => {}
    }
}

/// Sends entries to the appender; clonable, never blocks (the spool's size
/// is bounded at admission, not here).
#[derive(Debug, Clone)]
pub struct Handle {
    tx: UnboundedSender<Request>,
}

impl Handle {
    /// Queues entries, acknowledged together once all are written; gives
    /// them back (as they came) when the appender has stopped.
    #[allow(clippy::result_large_err)]
    pub fn append(
        &self,
        entries: Entries,
        ack: Option<oneshot::Sender<()>>,
        unwritten: Option<OwnedSemaphorePermit>,
    ) -> Result<(), Entries> {
        self.tx
            .send(Request {
                entries,
                ack,
                unwritten,
            })
            .map_err(|e| e.0.entries)
    }
}

/// Starts the appender on a new segment after the sequencer's head. It
/// stops when every [`Handle`] is dropped, after writing what was queued.
pub fn start(
    shared: Arc<SpoolShared>,
    sequencer: Arc<Sequencer>,
    cfg: &SpoolConfig,
) -> Result<(Handle, tokio::task::JoinHandle<()>), SpoolError> {
    let first = sequencer.head().0 + 1;
    let file = open_segment(&shared, first)?;
    shared.written_to.send_replace(WrittenTo {
        segment: first,
        offset: 0,
        last_seq: first - 1,
    });
    let (tx, rx) = unbounded_channel();
    let a = Appender {
        shared,
        sequencer,
        file: Arc::new(file),
        segment: first,
        offset: 0,
        fsync: cfg.fsync,
        fsync_every: Duration::from_millis(cfg.fsync_ms.max(1)),
        segment_bytes: cfg.segment_bytes.max(1),
        last_sync: Instant::now(),
        dirty: false,
        last_seq: first - 1,
    };
    let task = tokio::spawn(a.run(rx));
    Ok((Handle { tx }, task))
}

fn open_segment(shared: &SpoolShared, first: i64) -> Result<File, SpoolError> {
    let path = segment::path(&shared.dir, first);
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(|source| SpoolError::Dir { path, source })
}

struct Appender {
    shared: Arc<SpoolShared>,
    sequencer: Arc<Sequencer>,
    /// Shared with the blocking pool for `fdatasync`.
    file: Arc<File>,
    segment: i64,
    offset: u64,
    fsync: Fsync,
    fsync_every: Duration,
    segment_bytes: u64,
    last_sync: Instant,
    dirty: bool,
    /// The last number written to the active segment (`segment - 1` while
    /// it is empty).
    last_seq: i64,
}

impl Appender {
    async fn run(mut self, mut rx: UnboundedReceiver<Request>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut acks = Vec::with_capacity(MAX_GROUP);
        let mut places: Option<OwnedSemaphorePermit> = None;
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            let sync_due = (self.dirty && self.fsync == Fsync::Interval)
                .then(|| self.fsync_every.saturating_sub(self.last_sync.elapsed()));
            let woke = tokio::select! {
                n = rx.recv_many(&mut group, MAX_GROUP) => Woke::Received(n),
                () = self.shared.reclaim.notified() => Woke::Reclaim,
                () = sleep_or_never(sync_due) => Woke::Sync,
            };
            match woke {
                Woke::Received(0) => break,
                Woke::Received(_) => {}
                Woke::Reclaim => {
                    self.reclaim().await;
                    continue;
                }
                Woke::Sync => {
                    self.sync().await;
                    continue;
                }
            }
            // The first entry wakes this task at once (tokio runs a task
            // woken by another next, on the same worker), so groups were of
            // one entry and each request paid a write(2) of its own. Letting
            // the requests already runnable go first fills the group.
            if group.len() < MAX_GROUP {
                tokio::task::yield_now().await;
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(r) => group.push(r),
                        Err(_) => break,
                    }
                }
            }
            if self.offset >= self.segment_bytes {
                self.rotate().await;
            }
            buf.clear();
            let first = self.sequencer.head().0 + 1;
            let mut last = first - 1;
            let mut linked = Vec::with_capacity(group.len());
            let mut link = |entry: Entry| {
                let e = self.sequencer.assign_then(entry, |e| {
                    last = e.chain.as_ref().map_or(0, |l| l.seq);
                    segment::encode(&mut buf, last, &e);
                    e
                });
                linked.push(e);
            };
            for r in group.drain(..) {
                match r.entries {
                    Entries::One(entry) => link(entry),
                    Entries::Many(entries) => entries.into_iter().for_each(&mut link),
                }
                acks.extend(r.ack);
                merge_places(&mut places, r.unwritten);
            }
            if !self.write(&buf, first).await {
                // Given up at a shutdown past its deadline: these entries
                // are lost, their requests told (their acknowledgements
                // are dropped), and what is on disk stays for the next start.
                let n = linked.len() as u64;
                self.shared.lost.fetch_add(n, Relaxed);
                error!(
                    "{n} ledger entries could not be written to the spool before shutdown; lost"
                );
                acks.clear();
                drop(places.take());
                continue;
            }
            let start = self.offset - buf.len() as u64;
            // Written: these entries no longer count against buffer_size.
            drop(places.take());
            self.shared.push_live(super::LiveGroup {
                segment: self.segment,
                start,
                end: self.offset,
                entries: linked,
            });
            if self.fsync == Fsync::Always {
                self.sync().await;
            }
            self.last_seq = last;
            self.shared.written_to.send_replace(WrittenTo {
                segment: self.segment,
                offset: self.offset,
                last_seq: last,
            });
            self.shared.sample(first);
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
            // Under `interval` the promise is "at most fsync_ms lost to a
            // power cut", so the sync may follow the acknowledgements.
            if self.fsync == Fsync::Interval && self.last_sync.elapsed() >= self.fsync_every {
                self.sync().await;
            }
        }
        if self.fsync != Fsync::Never {
            self.sync().await;
        }
        self.shared.appender_done.store(true, Relaxed);
        self.shared.written_to.send_modify(|_| {});
    }

    /// Writes a group whole (its first number `first`); false only when a
    /// shutdown past its deadline gave up. On an I/O error (a full disk)
    /// the segment is cut back to its last whole record, the spool marked
    /// failing (admission refuses new requests, `/readyz` says 503) and the
    /// write retried: answers already admitted wait, nothing acknowledged
    /// is lost. When every entry already in the segment is committed, the
    /// segment is dropped and the group written to a new one: that frees
    /// the space a database outage filled, without a restart.
    async fn write(&mut self, buf: &[u8], first: i64) -> bool {
        let mut failures = 0u32;
        loop {
            match (&*self.file).write_all(buf) {
                Ok(()) => break,
                Err(e) => {
                    self.shared.failing.store(true, Relaxed);
                    if failures.is_multiple_of(50) {
                        error!(
                            "cannot append {} bytes to spool segment {} ({e}); new requests are refused \
                             (503 ledger_unavailable) and admitted answers wait until it succeeds",
                            buf.len(),
                            segment::path(&self.shared.dir, self.segment).display()
                        );
                    }
                    failures += 1;
                    let _ = self.file.set_len(self.offset);
                    let _ = std::io::Seek::seek(
                        &mut &*self.file,
                        std::io::SeekFrom::Start(self.offset),
                    );
                    if self.shared.abandon.load(Relaxed) {
                        return false;
                    }
                    if self.wholly_committed() {
                        self.rotate_to(first).await;
                        continue;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if self.shared.failing.swap(false, Relaxed) {
            info!("the spool is writable again; new requests are admitted");
            self.shared.room.notify_waiters();
        }
        self.offset += buf.len() as u64;
        self.shared.bytes.fetch_add(buf.len() as u64, Relaxed);
        self.dirty = true;
        true
    }

    /// Whether the active segment holds entries and all are committed.
    fn wholly_committed(&self) -> bool {
        self.offset > 0 && self.last_seq <= self.shared.committed.load(Relaxed)
    }

    /// Drops the active segment when every entry in it is committed (the
    /// keeper asks, see [`SpoolShared::note_committed`]).
    async fn reclaim(&mut self) {
        if self.wholly_committed() {
            let next = self.last_seq + 1;
            self.rotate_to(next).await;
        }
    }

    async fn sync(&mut self) {
        if self.dirty {
            let file = self.file.clone();
            let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
            match synced {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!("fsync of the spool segment failed: {e}"),
                Err(e) => warn!("fsync of the spool segment did not run: {e}"),
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
    }

    /// Closes the full segment and starts the next at the next number.
    async fn rotate(&mut self) {
        let next = self.sequencer.head().0 + 1;
        self.rotate_to(next).await;
    }

    /// Starts the segment whose first number is `first`; the old one is
    /// deleted at once when wholly committed (else the keeper deletes it
    /// once it is). A failure to create the file (a full disk) is retried,
    /// and the spool marked failing meanwhile.
    async fn rotate_to(&mut self, first: i64) {
        if self.fsync != Fsync::Never {
            self.sync().await;
        }
        let committed = self.wholly_committed();
        let old = (segment::path(&self.shared.dir, self.segment), self.offset);
        if committed {
            // Deleted first: on a full disk the new file needs its room.
            match std::fs::remove_file(&old.0) {
                Ok(()) => self.shared.freed(old.1),
                Err(e) => warn!("cannot delete spool segment {}: {e}", old.0.display()),
            }
        }
        loop {
            match open_segment(&self.shared, first) {
                Ok(f) => {
                    self.file = Arc::new(f);
                    break;
                }
                Err(e) => {
                    self.shared.failing.store(true, Relaxed);
                    error!("{e}; retrying");
                    if self.shared.abandon.load(Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        self.segment = first;
        self.offset = 0;
        self.last_seq = first - 1;
        self.dirty = false;
        self.shared.written_to.send_replace(WrittenTo {
            segment: first,
            offset: 0,
            last_seq: first - 1,
        });
    }
}

/// What woke the appender.
enum Woke {
    Received(usize),
    Reclaim,
    Sync,
}

/// Sleeps `d`, or forever when `None`.
async fn sleep_or_never(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
