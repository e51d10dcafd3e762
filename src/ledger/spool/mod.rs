//! The crash-safe spool: every admitted entry is appended to a local
//! segment file before its response ends, and the writer's workers are fed
//! from those files, so a kill -9 or a database outage loses nothing
//! acknowledged.
//!
//! - [`segment`]: the file format.
//! - The appender ([`appender`]) is one task: it takes entries from a
//!   channel in groups, links them into the chain (the sequencer lives
//!   here, so replay keeps numbers and hashes), writes each group with one
//!   `write(2)`, fsyncs by policy and only then acknowledges them. It also
//!   keeps each group in memory for the tailer ([`LiveGroup`]).
//! - The tailer ([`tailer`]) feeds the writer's channel in sequence order
//!   from the committed watermark on: from the appender's groups in memory
//!   while it keeps up, from the segments otherwise. At start it replays
//!   what the last run left, and during an outage it simply waits for room.
//! - Segments wholly at or below the watermark are deleted by the writer's
//!   keeper.

pub mod appender;
pub mod checkpoint;
pub mod record;
pub mod segment;
pub mod tailer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, watch};

use crate::config::SpoolConfig;
use crate::ledger::chain::Hash;
use crate::ledger::entry::Entry;

/// Why the spool could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(
        "the spool directory {} is not usable ({source}); make it writable by this user, or set ledger.spool.dir",
        path.display()
    )]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read spool segment {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The end of what the appender has written: readers may read up to here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WrittenTo {
    /// The active segment (its first sequence number).
    pub segment: i64,
    pub offset: u64,
    /// The last number written.
    pub last_seq: i64,
}

/// What a scan of the spool directory found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub segments: Vec<segment::SegmentInfo>,
}

impl Scan {
    /// The newest readable record's number and hash.
    pub fn last(&self) -> Option<(i64, Hash)> {
        self.segments.iter().rev().find_map(|s| s.last)
    }

    /// Whether `seq` is in a readable record (segments hold consecutive numbers).
    pub fn holds(&self, seq: i64) -> bool {
        self.segments.iter().any(|s| {
            s.last
                .is_some_and(|(last, _)| s.first_seq <= seq && seq <= last)
        })
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    pub fn unreadable_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.unreadable_bytes).sum()
    }
}

/// Creates the directory if needed, checks it is writable and scans it.
pub fn open_dir(dir: &Path) -> Result<Scan, SpoolError> {
    let fail = |source| SpoolError::Dir {
        path: dir.into(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    scan_dir(dir)
}

/// Scans the segments of `dir` (read-only).
pub fn scan_dir(dir: &Path) -> Result<Scan, SpoolError> {
    let list = segment::list(dir).map_err(|source| SpoolError::Dir {
        path: dir.into(),
        source,
    })?;
    let mut segments = Vec::with_capacity(list.len());
    for (first, path) in list {
        let info = segment::scan(first, &path).map_err(|source| SpoolError::Read {
            path: path.clone(),
            source,
        })?;
        segments.push(info);
    }
    Ok(Scan { segments })
}

/// A wholly committed active segment at least this big is dropped by the
/// appender even when the spool has room.
pub const RECLAIM_BYTES: u64 = 1 << 20;

/// Entries the appender keeps in memory for the tailer at most (the newest
/// groups are kept; older ones are read back from the segment instead).
const LIVE_MAX_ENTRIES: usize = 16 * 1024;

/// A group the appender has just written, handed to the tailer in memory:
/// in normal running the tailer takes it instead of reading back and
/// decoding bytes it was given a moment ago. The segment stays the source
/// of truth for replay, outages and a tailer that has fallen behind.
#[derive(Debug)]
pub struct LiveGroup {
    /// The segment (its first number) and the byte range the group fills.
    pub segment: i64,
    pub start: u64,
    pub end: u64,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Live {
    groups: std::collections::VecDeque<LiveGroup>,
    entries: usize,
}

/// State the appender, the tailer, the keeper and admission share.
#[derive(Debug)]
pub struct SpoolShared {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// Bytes of all segments on disk.
    pub bytes: AtomicU64,
    pub written_to: watch::Sender<WrittenTo>,
    /// Woken when segments are deleted (room for blocked admissions).
    pub room: Notify,
    /// Records found torn or corrupt (at start or while tailing).
    pub torn_records: AtomicU64,
    /// Set when the appender has written its last group and stopped.
    pub appender_done: AtomicBool,
    /// The appender's last write or segment creation failed (a full disk):
    /// no new entry is admitted until a write succeeds again.
    pub failing: AtomicBool,
    /// The committed watermark as the keeper last saw it: the appender
    /// may drop its active segment once every entry in it is at or below.
    pub committed: AtomicI64,
    /// Poked by the keeper when the active segment is wholly committed and
    /// its space is wanted (the spool full or failing, or the segment big).
    pub reclaim: Notify,
    /// Set by a shutdown past its deadline: a write that fails gives up
    /// instead of retrying, and its entries are counted in `lost`.
    pub abandon: AtomicBool,
    /// Entries never written because the appender gave up at shutdown.
    pub lost: AtomicU64,
    /// Set when shutdown gives up on the database: the tailer stops
    /// reading (the rest is replayed at the next start).
    pub stop_tailing: AtomicBool,
    /// Ranges of numbers the tailer could not read (corrupt records), for
    /// the keeper to record as gaps when the database lacks them.
    pub unreadable: Mutex<Vec<(i64, i64)>>,
    /// (first number of a group, when it was written), sampled, for the
    /// age of the oldest entry not yet in the database.
    samples: Mutex<std::collections::VecDeque<(i64, Instant)>>,
    live: Mutex<Live>,
}

impl SpoolShared {
    pub fn new(cfg: &SpoolConfig, scan: &Scan) -> SpoolShared {
        let (written_to, _) = watch::channel(WrittenTo::default());
        SpoolShared {
            dir: PathBuf::from(&cfg.dir),
            max_bytes: cfg.max_bytes,
            bytes: AtomicU64::new(scan.bytes()),
            written_to,
            room: Notify::new(),
            torn_records: AtomicU64::new(0),
            appender_done: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            committed: AtomicI64::new(0),
            reclaim: Notify::new(),
            abandon: AtomicBool::new(false),
            lost: AtomicU64::new(0),
            stop_tailing: AtomicBool::new(false),
            unreadable: Mutex::new(Vec::new()),
            samples: Mutex::new(std::collections::VecDeque::new()),
            live: Mutex::new(Live::default()),
        }
    }

    /// Keeps a group just written for the tailer (the oldest are let go
    /// beyond [`LIVE_MAX_ENTRIES`]).
    pub fn push_live(&self, group: LiveGroup) {
        let mut l = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        l.entries += group.entries.len();
        l.groups.push_back(group);
        while l.entries > LIVE_MAX_ENTRIES && l.groups.len() > 1 {
            if let Some(old) = l.groups.pop_front() {
                l.entries -= old.entries.len();
            }
        }
    }

    /// The kept group that starts exactly at `offset` of `segment`, if any;
    /// groups before that position are already read and are let go.
    pub fn take_live(&self, segment: i64, offset: u64) -> Option<LiveGroup> {
        let mut l = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(front) = l.groups.front() {
            let at = (front.segment, front.start);
            if at > (segment, offset) {
                return None;
            }
            let g = l.groups.pop_front()?;
            l.entries -= g.entries.len();
            if at == (segment, offset) {
                return Some(g);
            }
        }
        None
    }

    pub fn is_full(&self) -> bool {
        self.bytes.load(Relaxed) >= self.max_bytes
    }

    /// Whether a new entry can be kept: the spool is under `max_bytes` and
    /// its last write succeeded. Admission and `/readyz` answer from this.
    pub fn can_keep(&self) -> bool {
        !self.is_full() && !self.failing.load(Relaxed)
    }

    /// Why a new entry cannot be kept now, for errors and health; `None`
    /// when it can.
    pub fn refusal(&self) -> Option<&'static str> {
        if self.failing.load(Relaxed) {
            Some("the spool cannot be written (its disk is full or failing)")
        } else if self.is_full() {
            Some("the spool is full (ledger.spool.max_bytes)")
        } else {
            None
        }
    }

    /// Subtracts a deleted segment's bytes and wakes blocked admissions.
    pub fn freed(&self, len: u64) {
        let _ = self
            .bytes
            .fetch_update(Relaxed, Relaxed, |b| Some(b.saturating_sub(len)));
        self.room.notify_waiters();
    }

    /// Notes that entries from `first_seq` on were written now (at most
    /// ten samples a second are kept).
    pub fn sample(&self, first_seq: i64) {
        let mut s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if s.back()
            .is_none_or(|(_, t)| now.duration_since(*t).as_millis() >= 100)
        {
            s.push_back((first_seq, now));
        }
    }

    /// How long the oldest entry above `watermark` has waited (an upper
    /// bound, to the sampling interval); zero when none waits.
    pub fn oldest_unwritten_age(&self, watermark: i64, last_seq: i64) -> std::time::Duration {
        let mut s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        while s.len() > 1 && s[1].0 <= watermark + 1 {
            s.pop_front();
        }
        if last_seq <= watermark {
            return std::time::Duration::ZERO;
        }
        s.front()
            .filter(|(seq, _)| *seq <= watermark + 1)
            .map(|(_, t)| t.elapsed())
            .unwrap_or_default()
    }

    /// Notes the committed watermark for the appender, and pokes it to
    /// drop its active segment when every entry in it is committed and the
    /// space is wanted: the spool cannot take entries, or the segment has
    /// grown past [`RECLAIM_BYTES`] (a quiet gateway should not keep a
    /// committed segment of up to `segment_bytes` on disk for good).
    pub fn note_committed(&self, watermark: i64) {
        self.committed.store(watermark, Relaxed);
        let w = *self.written_to.borrow();
        if w.offset > 0
            && w.last_seq <= watermark
            && (!self.can_keep() || w.offset >= RECLAIM_BYTES)
        {
            self.reclaim.notify_one();
        }
    }

    /// Deletes the segments whose every number is at or below `watermark`
    /// (never the active one). Returns how many were deleted.
    pub fn delete_committed(&self, watermark: i64) -> usize {
        let Ok(list) = segment::list(&self.dir) else {
            return 0;
        };
        let active = self.written_to.borrow().segment;
        let mut deleted = 0;
        for pair in list.windows(2) {
            let ((first, path), (next_first, _)) = (&pair[0], &pair[1]);
            if *first == active || next_first - 1 > watermark {
                continue;
            }
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            match std::fs::remove_file(path) {
                Ok(()) => {
                    self.freed(len);
                    deleted += 1;
                }
                Err(e) => tracing::warn!("cannot delete spool segment {}: {e}", path.display()),
            }
        }
        deleted
    }
}

/// A handle on the running spool.
#[derive(Debug, Clone)]
pub struct Spool {
    pub shared: Arc<SpoolShared>,
    pub appender: appender::Handle,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::chain::tests_entry as entry;

    fn group(segment: i64, start: u64, end: u64, n: usize) -> LiveGroup {
        LiveGroup {
            segment,
            start,
            end,
            entries: (0..n)
                .map(|i| entry(&format!("{segment}-{start}-{i}")))
                .collect(),
        }
    }

    fn shared() -> SpoolShared {
        SpoolShared::new(&SpoolConfig::default(), &Scan::default())
    }

    #[test]
    fn the_tailer_gets_the_group_that_starts_where_it_stands() {
        let s = shared();
        s.push_live(group(1, 0, 100, 2));
        s.push_live(group(1, 100, 250, 3));
        s.push_live(group(4, 0, 50, 1));
        assert!(s.take_live(1, 40).is_none(), "no group starts mid-record");
        // The first group lay below 40 and was let go; the next starts at 100.
        assert!(s.take_live(1, 60).is_none());
        let g = s.take_live(1, 100).expect("the group at 100");
        assert_eq!((g.start, g.end, g.entries.len()), (100, 250, 3));
        assert!(
            s.take_live(1, 250).is_none(),
            "the next group is in another segment"
        );
        assert_eq!(s.take_live(4, 0).map(|g| g.entries.len()), Some(1));
        assert!(s.take_live(4, 50).is_none());
    }

    #[test]
    fn a_tailer_that_fell_behind_reads_the_file_and_finds_the_newest_groups() {
        let s = shared();
        let per = 1000;
        let groups = LIVE_MAX_ENTRIES / per + 5;
        for i in 0..groups as u64 {
            s.push_live(group(1, i * 10, (i + 1) * 10, per));
        }
        assert!(s.take_live(1, 0).is_none(), "the oldest groups were let go");
        let newest = (groups as u64 - 1) * 10;
        assert_eq!(s.take_live(1, newest).map(|g| g.end), Some(newest + 10));
        let l = s.live.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!((l.groups.len(), l.entries), (0, 0));
    }
}
