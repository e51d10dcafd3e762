//! The tailer: reads the spool's segments in order and feeds the writer's
//! channel, from the first number above the committed watermark.
//!
//! One code path serves start-up replay (what the last run left above the
//! watermark), normal running (it follows the appender closely and takes
//! each group from memory when it starts exactly where the tailer stands:
//! reading back and decoding the JSON was ~5 % of the gateway's CPU) and
//! outages (the channel is full while the workers retry, so it waits; the
//! spool grows instead of memory, and the tailer reads the file once it
//! has fallen behind the groups kept in memory). It stops when
//! the appender has stopped and everything written has been handed on.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::SpoolShared;
use super::segment::{self, Parsed};
use crate::ledger::entry::Entry;

/// Bytes read per system call at most.
const READ_CHUNK: u64 = 1 << 20;

/// Runs the tailer; `after` is the watermark: lower numbers are skipped.
/// `queued` is called with each entry handed on.
pub async fn run(
    shared: Arc<SpoolShared>,
    after: i64,
    tx: mpsc::Sender<Entry>,
    queued: impl Fn(&Entry),
) {
    let mut written = shared.written_to.subscribe();
    let mut cur: Option<(i64, PathBuf, Option<File>)> = None;
    let mut offset = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut expected = after + 1;
    loop {
        if shared.stop_tailing.load(Relaxed) {
            return;
        }
        let Some((first, path, file)) = cur.as_mut() else {
            match next_segment(&shared, after, None) {
                Some((f, p)) => {
                    cur = Some((f, p, None));
                    offset = 0;
                    carry.clear();
                    continue;
                }
                None => {
                    if shared.appender_done.load(Relaxed) {
                        return;
                    }
                    let _ = written.changed().await;
                    continue;
                }
            }
        };
        let w = *written.borrow_and_update();
        let active = w.segment == *first;
        if carry.is_empty()
            && let Some(g) = shared.take_live(*first, offset)
        {
            offset = g.end;
            for entry in g.entries {
                let seq = entry.chain.as_ref().map_or(0, |l| l.seq);
                if !hand_on(&shared, entry, seq, after, &mut expected, &tx, &queued).await {
                    return;
                }
            }
            continue;
        }
        if file.is_none() {
            match File::open(&*path) {
                Ok(f) => *file = Some(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Deleted once committed: nothing left to read in it.
                    let after_this = *first;
                    cur = next_segment(&shared, after, Some(after_this)).map(|(f, p)| (f, p, None));
                    offset = 0;
                    carry.clear();
                    continue;
                }
                Err(e) => {
                    warn!(
                        "cannot open spool segment {}: {e}; retrying",
                        path.display()
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let limit = if active {
            w.offset
        } else {
            file.as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(offset, |m| m.len())
        };
        if offset < limit {
            let n = (limit - offset).min(READ_CHUNK) as usize;
            let start = carry.len();
            carry.resize(start + n, 0);
            let read = file
                .as_ref()
                .map(|f| f.read_exact_at(&mut carry[start..], offset));
            if let Some(Err(e)) = read {
                warn!(
                    "cannot read spool segment {}: {e}; retrying",
                    path.display()
                );
                carry.truncate(start);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
            offset += n as u64;
            let mut at = 0;
            let mut corrupt = false;
            loop {
                match segment::parse(&carry[at..]) {
                    Parsed::Record(r, len) => {
                        at += len;
                        if r.seq <= after {
                            continue;
                        }
                        let entry = match super::record::decode(r.payload) {
                            Ok(e) => e,
                            Err(e) => {
                                warn!("spool record {} does not decode ({e}); skipped", r.seq);
                                shared.torn_records.fetch_add(1, Relaxed);
                                continue;
                            }
                        };
                        if !hand_on(&shared, entry, r.seq, after, &mut expected, &tx, &queued).await
                        {
                            return;
                        }
                    }
                    Parsed::Short => break,
                    Parsed::Corrupt(why) => {
                        corrupt = true;
                        warn!(
                            "spool segment {} is corrupt at byte {} ({why}); the rest of it is skipped",
                            path.display(),
                            offset - (carry.len() - at) as u64
                        );
                        break;
                    }
                }
            }
            carry.drain(..at);
            if corrupt {
                shared.torn_records.fetch_add(1, Relaxed);
                carry.clear();
                offset = u64::MAX; // read no further in this segment
            }
            continue;
        }
        if active {
            if shared.appender_done.load(Relaxed) {
                return;
            }
            let _ = written.changed().await;
            continue;
        }
        // A closed segment read to its end.
        if !carry.is_empty() && offset != u64::MAX {
            warn!(
                "spool segment {} ends with {} bytes of a torn record; skipped",
                path.display(),
                carry.len()
            );
            shared.torn_records.fetch_add(1, Relaxed);
        }
        let done = *first;
        match next_segment(&shared, after, Some(done)) {
            Some((f, p)) => {
                debug!("spool tailer: segment {done} done, on to {f}");
                cur = Some((f, p, None));
                offset = 0;
                carry.clear();
            }
            None => {
                if shared.appender_done.load(Relaxed) {
                    return;
                }
                // The next segment is being created; wait for its first write.
                let _ = written.changed().await;
            }
        }
    }
}

/// Hands one entry numbered `seq` to the writer, noting numbers skipped
/// since the last as unreadable; false once the writer has gone.
async fn hand_on(
    shared: &SpoolShared,
    entry: Entry,
    seq: i64,
    after: i64,
    expected: &mut i64,
    tx: &mpsc::Sender<Entry>,
    queued: &impl Fn(&Entry),
) -> bool {
    if seq <= after {
        return true;
    }
    if seq > *expected {
        note_unreadable(shared, *expected, seq - 1);
    }
    *expected = (*expected).max(seq + 1);
    queued(&entry);
    tx.send(entry).await.is_ok()
}

/// The segment to read after `done` (or the first that may hold numbers
/// above `after`, when starting).
fn next_segment(shared: &SpoolShared, after: i64, done: Option<i64>) -> Option<(i64, PathBuf)> {
    let list = segment::list(&shared.dir).ok()?;
    match done {
        Some(d) => list.into_iter().find(|(f, _)| *f > d),
        None => {
            // The last segment starting at or below after+1 holds after+1 if any does.
            let start = list.iter().rposition(|(f, _)| *f <= after + 1).unwrap_or(0);
            list.into_iter().nth(start)
        }
    }
}

fn note_unreadable(shared: &SpoolShared, lo: i64, hi: i64) {
    warn!("spool: entries {lo}..={hi} could not be read back; they become gaps unless stored");
    shared
        .unreadable
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((lo, hi));
}
