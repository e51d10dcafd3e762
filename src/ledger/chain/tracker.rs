//! The committed watermark of one chain: the highest sequence number at or
//! below which every entry is committed or recorded as a gap.
//!
//! Parallel workers commit batches out of order, so the newest commit says
//! nothing about what is durable; the watermark does. A worker asks
//! [`Tracker::prospective`] what the watermark will be once its batch
//! commits and writes that in the batch's own transaction, then calls
//! [`Tracker::mark`]. Gaps known lost wait in the tracker until the next
//! commit carries them.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Gap, Hash};

/// A committed run of sequence numbers and the hash of its last one (when
/// known: a lost entry's hash may not be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub lo: i64,
    pub hi: i64,
    pub hash: Option<Hash>,
}

#[derive(Debug)]
struct State {
    watermark: i64,
    hash: Option<Hash>,
    /// Committed spans above the watermark, by first sequence number.
    done: BTreeMap<i64, (i64, Option<Hash>)>,
    gaps: Vec<Gap>,
}

/// The watermark of one chain and the gaps waiting to be written.
#[derive(Debug)]
pub struct Tracker {
    state: Mutex<State>,
}

impl Tracker {
    /// Starts at the watermark stored in the database.
    pub fn new(watermark: i64, hash: Option<Hash>) -> Tracker {
        Tracker {
            state: Mutex::new(State {
                watermark,
                hash,
                done: BTreeMap::new(),
                gaps: Vec::new(),
            }),
        }
    }

    /// Moves the watermark to the one stored in the database, for a
    /// writer that started during a database outage (from its head file)
    /// and has now read the real one; spans at or below it are let go.
    pub fn reset(&self, watermark: i64, hash: Option<Hash>) {
        let mut s = self.lock();
        s.watermark = watermark;
        s.hash = hash;
        s.done.retain(|_, (hi, _)| *hi > watermark);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The watermark and the hash at it.
    pub fn watermark(&self) -> (i64, Option<Hash>) {
        let s = self.lock();
        (s.watermark, s.hash)
    }

    /// The watermark as it will be once `spans` are committed too.
    pub fn prospective(&self, spans: &[Span]) -> (i64, Option<Hash>) {
        let s = self.lock();
        let mut extra: BTreeMap<i64, (i64, Option<Hash>)> =
            spans.iter().map(|p| (p.lo, (p.hi, p.hash))).collect();
        let (mut wm, mut hash) = (s.watermark, s.hash);
        loop {
            let next = wm + 1;
            let found = s.done.get(&next).or_else(|| extra.get(&next)).copied();
            match found {
                Some((hi, h)) => {
                    wm = hi;
                    hash = h;
                    extra.remove(&next);
                }
                None => return (wm, hash),
            }
        }
    }

    /// Records `spans` as committed and advances the watermark over them.
    pub fn mark(&self, spans: &[Span]) {
        let mut s = self.lock();
        for p in spans {
            let wm = s.watermark;
            if p.hi > wm {
                s.done.insert(p.lo.max(wm + 1), (p.hi, p.hash));
            }
        }
        loop {
            let next = s.watermark + 1;
            let Some((hi, h)) = s.done.remove(&next) else {
                break;
            };
            s.watermark = hi;
            s.hash = h;
        }
    }

    /// Queues gaps for the next commit.
    pub fn add_gaps(&self, gaps: impl IntoIterator<Item = Gap>) {
        self.lock().gaps.extend(gaps);
    }

    /// Whether gaps wait for a commit.
    pub fn has_gaps(&self) -> bool {
        !self.lock().gaps.is_empty()
    }

    /// Takes the queued gaps; give them back with [`Tracker::add_gaps`] if
    /// the commit carrying them fails.
    pub fn take_gaps(&self) -> Vec<Gap> {
        std::mem::take(&mut self.lock().gaps)
    }

    /// Committed sequence numbers above the watermark, waiting for a hole
    /// below them to fill.
    pub fn pending_spans(&self) -> usize {
        self.lock().done.len()
    }
}

/// The spans of consecutive sequence numbers among `seqs_and_hashes`, in
/// the order given (a batch is in sequence order).
pub fn spans<'a>(links: impl IntoIterator<Item = (i64, &'a Hash)>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for (seq, hash) in links {
        match out.last_mut() {
            Some(last) if last.hi + 1 == seq => {
                last.hi = seq;
                last.hash = Some(*hash);
            }
            _ => out.push(Span {
                lo: seq,
                hi: seq,
                hash: Some(*hash),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(lo: i64, hi: i64) -> Span {
        Span {
            lo,
            hi,
            hash: Some([hi as u8; 32]),
        }
    }

    #[test]
    fn out_of_order_commits_hold_the_watermark_until_the_hole_fills() {
        let t = Tracker::new(0, None);
        assert_eq!(t.prospective(&[span(11, 20)]).0, 0);
        t.mark(&[span(11, 20)]);
        assert_eq!(t.watermark().0, 0);
        assert_eq!(t.prospective(&[span(1, 10)]), (20, Some([20; 32])));
        t.mark(&[span(1, 10)]);
        assert_eq!(t.watermark(), (20, Some([20; 32])));
        assert_eq!(t.pending_spans(), 0);
        // A replayed span below the watermark changes nothing.
        t.mark(&[span(5, 8)]);
        assert_eq!(t.watermark().0, 20);
    }

    #[test]
    fn spans_split_where_numbers_skip() {
        let h = [0; 32];
        let s = spans([(3, &h), (4, &h), (6, &h)]);
        assert_eq!(
            s.iter().map(|s| (s.lo, s.hi)).collect::<Vec<_>>(),
            [(3, 4), (6, 6)]
        );
    }
}
