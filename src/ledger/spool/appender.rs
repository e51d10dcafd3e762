//! The appender: one OS thread that links entries into the chain and
//! writes them to the active segment in groups, then acknowledges them.
//!
//! Many requests finishing at once cost one `write(2)` (and under
//! `fsync = "always"` one `fdatasync`) for the whole group: group commit,
//! with no lock held across a syscall by a request. An acknowledgement
//! means the entry's bytes are in the kernel (and on the device, under
//! `always`), so a process crash cannot lose it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{error, warn};

use super::{SpoolError, SpoolShared, WrittenTo, segment};
use crate::config::{Fsync, SpoolConfig};
use crate::ledger::chain::sequencer::Sequencer;
use crate::ledger::entry::Entry;

/// Entries per group at most: bounds the write and the wait of the first.
const MAX_GROUP: usize = 4096;

/// One entry to append and whom to tell once it is written.
#[derive(Debug)]
pub struct Request {
    pub entry: Entry,
    pub ack: Option<oneshot::Sender<()>>,
}

/// Sends entries to the appender thread; clonable, never blocks.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: Sender<Request>,
}

impl Handle {
    /// Queues an entry; gives it back when the appender has stopped.
    pub fn append(&self, entry: Entry, ack: Option<oneshot::Sender<()>>) -> Result<(), Box<Entry>> {
        self.tx
            .send(Request { entry, ack })
            .map_err(|e| Box::new(e.0.entry))
    }
}

/// Starts the appender on a new segment after the sequencer's head. It
/// stops when every [`Handle`] is dropped, after writing what was queued.
pub fn start(
    shared: Arc<SpoolShared>,
    sequencer: Arc<Sequencer>,
    cfg: &SpoolConfig,
) -> Result<(Handle, std::thread::JoinHandle<()>), SpoolError> {
    let first = sequencer.head().0 + 1;
    let file = open_segment(&shared, first)?;
    shared.written_to.send_replace(WrittenTo {
        segment: first,
        offset: 0,
        last_seq: first - 1,
    });
    let (tx, rx) = channel();
    let mut a = Appender {
        shared,
        sequencer,
        file,
        segment: first,
        offset: 0,
        fsync: cfg.fsync,
        fsync_every: Duration::from_millis(cfg.fsync_ms.max(1)),
        segment_bytes: cfg.segment_bytes.max(1),
        last_sync: Instant::now(),
        dirty: false,
    };
    let thread = std::thread::Builder::new()
        .name("tokctl-spool".into())
        .spawn(move || a.run(rx))
        .map_err(|source| SpoolError::Dir {
            path: std::path::PathBuf::from("(spool thread)"),
            source,
        })?;
    Ok((Handle { tx }, thread))
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
    file: File,
    segment: i64,
    offset: u64,
    fsync: Fsync,
    fsync_every: Duration,
    segment_bytes: u64,
    last_sync: Instant,
    dirty: bool,
}

impl Appender {
    fn run(&mut self, rx: Receiver<Request>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut acks = Vec::with_capacity(MAX_GROUP);
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            let wait = if self.dirty && self.fsync == Fsync::Interval {
                self.fsync_every.saturating_sub(self.last_sync.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            match rx.recv_timeout(wait) {
                Ok(r) => group.push(r),
                Err(RecvTimeoutError::Timeout) => {
                    self.sync();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            if self.offset >= self.segment_bytes {
                self.rotate();
            }
            buf.clear();
            let first = self.sequencer.head().0 + 1;
            let mut last = first - 1;
            for r in group.drain(..) {
                last = self.sequencer.assign_then(r.entry, |e| {
                    let seq = e.chain.as_ref().map_or(0, |l| l.seq);
                    segment::encode(&mut buf, seq, &e);
                    seq
                });
                acks.extend(r.ack);
            }
            self.write(&buf);
            if self.fsync == Fsync::Always
                || (self.fsync == Fsync::Interval && self.last_sync.elapsed() >= self.fsync_every)
            {
                self.sync();
            }
            self.shared.written_to.send_replace(WrittenTo {
                segment: self.segment,
                offset: self.offset,
                last_seq: last,
            });
            self.shared.sample(first);
            for ack in acks.drain(..) {
                let _ = ack.send(());
            }
        }
        if self.fsync != Fsync::Never {
            self.sync();
        }
        self.shared.appender_done.store(true, Relaxed);
        self.shared.written_to.send_modify(|_| {});
    }

    /// Writes a group whole. On an I/O error (a full disk) the segment is
    /// cut back to its last whole record and the write retried: answers
    /// wait, nothing acknowledged is lost.
    fn write(&mut self, buf: &[u8]) {
        let mut failures = 0u32;
        loop {
            match self.file.write_all(buf) {
                Ok(()) => break,
                Err(e) => {
                    if failures.is_multiple_of(50) {
                        error!(
                            "cannot append {} bytes to spool segment {} ({e}); answers wait until it succeeds",
                            buf.len(),
                            segment::path(&self.shared.dir, self.segment).display()
                        );
                    }
                    failures += 1;
                    let _ = self.file.set_len(self.offset);
                    let _ =
                        std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(self.offset));
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.offset += buf.len() as u64;
        self.shared.bytes.fetch_add(buf.len() as u64, Relaxed);
        self.dirty = true;
    }

    fn sync(&mut self) {
        if self.dirty {
            if let Err(e) = self.file.sync_data() {
                warn!("fsync of the spool segment failed: {e}");
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
    }

    /// Closes the full segment and starts the next at the next number.
    fn rotate(&mut self) {
        if self.fsync != Fsync::Never {
            self.sync();
        }
        let first = self.sequencer.head().0 + 1;
        loop {
            match open_segment(&self.shared, first) {
                Ok(f) => {
                    self.file = f;
                    break;
                }
                Err(e) => {
                    error!("{e}; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.segment = first;
        self.offset = 0;
        self.shared.written_to.send_replace(WrittenTo {
            segment: first,
            offset: 0,
            last_seq: first - 1,
        });
    }
}
