//! A SQLite ledger file read by two connections at once, in slices.
//!
//! Why: with one reader, a scan can go no faster than one thread steps
//! SQLite and decodes the rows, and in the profile that thread was two
//! thirds of an export's work (docs/benchmarks-history.md, "SQLite export:
//! two readers"). The runner ([`in_order`]) reads every other slice on each
//! of two connections and hands what each worker makes of its slices to
//! one consumer, slice after slice in order. It knows nothing of what the
//! rows become: the export encodes them ([`crate::ledger::export`]'s
//! parallel run, slices of time), `ledger verify` hashes them (slices of
//! sequence numbers).

use std::path::Path;

use super::Filter;
use super::sqlite_direct::Reader;

/// Slices at most, whatever the ledger's size.
const MAX_SLICES: i64 = 4_096;
/// Readers at once.
const WORKERS: usize = 2;

/// Whether a second reader has a core to run on.
pub(crate) fn worth_it() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Why a worker stopped before the end: its own error, or the consumer
/// hung up (having failed, and reporting why itself).
pub(crate) enum Halt<E> {
    Failed(E),
    Hung,
}

impl<E: From<rusqlite::Error>> From<rusqlite::Error> for Halt<E> {
    fn from(e: rusqlite::Error) -> Halt<E> {
        Halt::Failed(E::from(e))
    }
}

/// What travels from a worker to the consumer.
enum Msg<T> {
    Item(T),
    /// The slice is done.
    End,
}

/// Reads `slices` with [`WORKERS`] threads, slice `k` on worker
/// `k % WORKERS`, each worker on its own connection to `path`: `produce`
/// reads one slice and hands over what it makes of it as items, and
/// `consume` gets every slice's items on this thread, slice after slice in
/// order. A worker may hand over `ahead` items before it waits for the
/// consumer. The first error wins: the consumer's, else a worker's.
pub(crate) fn in_order<T: Send, E: Send + From<rusqlite::Error>>(
    path: &Path,
    slices: &[Filter],
    ahead: usize,
    produce: impl Fn(&Reader, &Filter, &mut dyn FnMut(T) -> Result<(), Halt<E>>) -> Result<(), Halt<E>>
    + Sync,
    mut consume: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    let mut consumed = Ok(());
    let produce = &produce;
    let stops = std::thread::scope(|scope| {
        let mut workers = Vec::with_capacity(WORKERS);
        let mut inbox = Vec::with_capacity(WORKERS);
        for k in 0..WORKERS {
            let (tx, rx) = flume::bounded::<Msg<T>>(ahead);
            let mine: Vec<&Filter> = slices.iter().skip(k).step_by(WORKERS).collect();
            workers.push(scope.spawn(move || -> Result<(), Halt<E>> {
                let reader = Reader::open_file(path)?;
                let mut send = |item| tx.send(Msg::Item(item)).map_err(|_| Halt::Hung);
                for filter in mine {
                    produce(&reader, filter, &mut send)?;
                    tx.send(Msg::End).map_err(|_| Halt::Hung)?;
                }
                Ok(())
            }));
            inbox.push(rx);
        }
        'slices: for k in 0..slices.len() {
            loop {
                match inbox[k % WORKERS].recv() {
                    Ok(Msg::Item(item)) => {
                        if let Err(e) = consume(item) {
                            consumed = Err(e);
                            break 'slices;
                        }
                    }
                    Ok(Msg::End) => break,
                    // The worker stopped on an error, collected below.
                    Err(_) => break 'slices,
                }
            }
        }
        // A worker waiting to hand over more sees the consumer gone.
        drop(inbox);
        workers
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Vec<_>>()
    });
    consumed?;
    for stop in stops {
        if let Err(Halt::Failed(e)) = stop {
            return Err(e);
        }
    }
    Ok(())
}

/// `n` slices of `lo..=hi` as `(after, upto)` pairs for a filter's
/// "greater than" and "at or below" bounds, the first open below and the
/// last open above: about `rows_per_slice` values each, at most
/// [`MAX_SLICES`]. Empty (`hi < lo`) gives one open slice.
pub(crate) fn cut(
    lo: i64,
    hi: i64,
    rows: i64,
    rows_per_slice: i64,
) -> Vec<(Option<i64>, Option<i64>)> {
    let n = (rows / rows_per_slice.max(1) + 1).clamp(1, MAX_SLICES);
    let (lo, hi) = (i128::from(lo), i128::from(hi));
    let width = ((hi - lo + 1) / i128::from(n)).max(1);
    let mut cuts: Vec<i64> = (1..i128::from(n))
        .map(|k| lo + k * width - 1)
        .take_while(|&c| c < hi)
        .filter_map(|c| i64::try_from(c).ok())
        .collect();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut after = None;
    for c in cuts {
        out.push((after, Some(c)));
        after = Some(c);
    }
    out.push((after, None));
    out
}
