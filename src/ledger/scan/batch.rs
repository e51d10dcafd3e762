//! Rows handed from the reading thread to a second one, in batches. The
//! reading side (SQLite's step or the PostgreSQL stream, plus decoding) and
//! what becomes of the rows (an export's encoding, compression and file;
//! verify's hashing) each cost about half of the work; run one after the
//! other per row they add up, on two threads they overlap. Each batch
//! copies its rows' text into one buffer, and emptied batches come back to
//! be refilled, so the hand-off allocates nothing per row once running.
//! [`overlapped`] runs both sides; an export's encoder thread
//! ([`crate::ledger::export`]'s pipeline) uses the batches alone.

use crate::ledger::columns::{Column, ExportRow, NUM_COLUMNS, Row, Source, Visit};

/// Rows per batch: large enough that the hand-off is rare, small enough
/// that the two threads start overlapping at once.
pub(crate) const BATCH_ROWS: usize = 1024;
/// Batches in flight; with one being filled and one being encoded this
/// keeps memory flat (a few MiB) whatever the export's size.
const BATCHES: usize = 4;

/// Byte range of a string in a batch's buffer.
#[derive(Debug, Clone, Copy)]
struct Span(u32, u32);

/// One column's value, its text as a span of the batch buffer.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Int(Option<i64>),
    Int4(Option<i32>),
    Bool(bool),
    Text(Option<Span>),
    Blob(Option<Span>),
}

/// Rows copied out of the database's buffers: each row's `id`, and its
/// columns as one array of [`NUM_COLUMNS`] cells in table order, pushed
/// once per row (as the fixed row struct before the column table was),
/// not once per cell with a capacity check each.
#[derive(Default)]
pub(crate) struct Batch {
    text: String,
    bytes: Vec<u8>,
    ids: Vec<i64>,
    cells: Vec<[Cell; NUM_COLUMNS]>,
}

impl Batch {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.bytes.clear();
        self.ids.clear();
        self.cells.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(crate) fn push(&mut self, r: &ExportRow<'_>) {
        self.ids.push(r.id);
        let mut pack = Pack {
            text: &mut self.text,
            bytes: &mut self.bytes,
            cells: [Cell::Int(None); NUM_COLUMNS],
            at: 0,
        };
        r.row.visit(&mut pack);
        let cells = pack.cells;
        self.cells.push(cells);
    }

    fn row(&self, i: usize) -> ExportRow<'_> {
        let cells = self.cells.get(i).map_or(&[][..], |c| &c[..]);
        let mut source = Unpack {
            batch: self,
            cells: cells.iter(),
        };
        let Ok(row) = Row::read(&mut source);
        ExportRow {
            id: self.ids.get(i).copied().unwrap_or_default(),
            row,
        }
    }
}

/// Copies a row's columns into a batch: the text into its buffers, the
/// cells into `cells`, which the batch takes whole.
struct Pack<'b> {
    text: &'b mut String,
    bytes: &'b mut Vec<u8>,
    cells: [Cell; NUM_COLUMNS],
    /// The next cell's place (the table has [`NUM_COLUMNS`] columns, so
    /// it never runs past the end; were it to, the cell would be dropped).
    at: usize,
}

impl Pack<'_> {
    #[inline(always)]
    fn put(&mut self, cell: Cell) {
        if let Some(slot) = self.cells.get_mut(self.at) {
            *slot = cell;
        }
        self.at += 1;
    }

    #[inline(always)]
    fn text(&mut self, v: Option<&str>) {
        let t = &mut *self.text;
        let span = v.map(|v| {
            let start = t.len();
            t.push_str(v);
            Span(start as u32, t.len() as u32)
        });
        self.put(Cell::Text(span));
    }
}

impl<'a> Visit<'a> for Pack<'_> {
    #[inline(always)]
    fn text(&mut self, _: &'static Column, v: &'a str) {
        Pack::text(self, Some(v));
    }
    #[inline(always)]
    fn opt_text(&mut self, _: &'static Column, v: Option<&'a str>) {
        Pack::text(self, v);
    }
    #[inline(always)]
    fn int(&mut self, _: &'static Column, v: i64) {
        self.put(Cell::Int(Some(v)));
    }
    #[inline(always)]
    fn opt_int(&mut self, _: &'static Column, v: Option<i64>) {
        self.put(Cell::Int(v));
    }
    #[inline(always)]
    fn int4(&mut self, _: &'static Column, v: i32) {
        self.put(Cell::Int4(Some(v)));
    }
    #[inline(always)]
    fn opt_int4(&mut self, _: &'static Column, v: Option<i32>) {
        self.put(Cell::Int4(v));
    }
    #[inline(always)]
    fn boolean(&mut self, _: &'static Column, v: bool) {
        self.put(Cell::Bool(v));
    }
    #[inline(always)]
    fn opt_blob(&mut self, _: &'static Column, v: Option<&'a [u8]>) {
        let b = &mut *self.bytes;
        let span = v.map(|v| {
            let start = b.len();
            b.extend_from_slice(v);
            Span(start as u32, b.len() as u32)
        });
        self.put(Cell::Blob(span));
    }
}

/// Reads a packed row back. The cells were written by [`Pack`] from the
/// same table, so each holds what its column asks for; were one not to, it
/// reads as empty rather than failing.
struct Unpack<'b> {
    batch: &'b Batch,
    cells: std::slice::Iter<'b, Cell>,
}

impl<'b> Unpack<'b> {
    #[inline(always)]
    fn str(&self, sp: Span) -> &'b str {
        self.batch
            .text
            .get(sp.0 as usize..sp.1 as usize)
            .unwrap_or_default()
    }
    #[inline(always)]
    fn int(&mut self) -> Option<i64> {
        match self.cells.next() {
            Some(Cell::Int(v)) => *v,
            _ => None,
        }
    }
    #[inline(always)]
    fn int4(&mut self) -> Option<i32> {
        match self.cells.next() {
            Some(Cell::Int4(v)) => *v,
            _ => None,
        }
    }
    #[inline(always)]
    fn text(&mut self) -> Option<&'b str> {
        match self.cells.next() {
            Some(Cell::Text(v)) => v.map(|sp| self.str(sp)),
            _ => None,
        }
    }
}

impl<'b> Source<'b> for Unpack<'b> {
    type Error = std::convert::Infallible;
    #[inline(always)]
    fn text(&mut self, _: &'static Column) -> Result<&'b str, Self::Error> {
        Ok(Unpack::text(self).unwrap_or_default())
    }
    #[inline(always)]
    fn opt_text(&mut self, _: &'static Column) -> Result<Option<&'b str>, Self::Error> {
        Ok(Unpack::text(self))
    }
    #[inline(always)]
    fn int(&mut self, _: &'static Column) -> Result<i64, Self::Error> {
        Ok(Unpack::int(self).unwrap_or_default())
    }
    #[inline(always)]
    fn opt_int(&mut self, _: &'static Column) -> Result<Option<i64>, Self::Error> {
        Ok(Unpack::int(self))
    }
    #[inline(always)]
    fn int4(&mut self, _: &'static Column) -> Result<i32, Self::Error> {
        Ok(Unpack::int4(self).unwrap_or_default())
    }
    #[inline(always)]
    fn opt_int4(&mut self, _: &'static Column) -> Result<Option<i32>, Self::Error> {
        Ok(Unpack::int4(self))
    }
    #[inline(always)]
    fn boolean(&mut self, _: &'static Column) -> Result<bool, Self::Error> {
        Ok(matches!(self.cells.next(), Some(Cell::Bool(true))))
    }
    #[inline(always)]
    fn opt_blob(&mut self, _: &'static Column) -> Result<Option<&'b [u8]>, Self::Error> {
        Ok(match self.cells.next() {
            Some(Cell::Blob(Some(sp))) => self.batch.bytes.get(sp.0 as usize..sp.1 as usize),
            _ => None,
        })
    }
}

/// Whether a second thread has a core of its own to run on.
pub(crate) fn two_cores() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
}

pub(crate) type Channel = (flume::Sender<Batch>, flume::Receiver<Batch>);

/// The two channels between the threads: full batches to the consumer
/// (bounded), emptied ones back, the latter primed with every batch.
pub(crate) fn channels() -> (Channel, Channel) {
    let full = flume::bounded::<Batch>(BATCHES);
    let back = flume::bounded::<Batch>(BATCHES + 1);
    for _ in 0..BATCHES {
        let _ = back.0.send(Batch::default());
    }
    (full, back)
}

/// The consumer's loop: every row of every batch to `consume`, each
/// emptied batch back. Ends when the reading side drops its sender (done
/// or failed), or at `consume`'s first error.
pub(crate) fn drain<E>(
    full: &flume::Receiver<Batch>,
    back: &flume::Sender<Batch>,
    mut consume: impl FnMut(&ExportRow<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for mut batch in full.iter() {
        for i in 0..batch.len() {
            consume(&batch.row(i))?;
        }
        batch.clear();
        let _ = back.send(batch);
    }
    Ok(())
}

/// Why feeding a row to [`overlapped`]'s consumer failed.
pub(crate) enum Fed<E> {
    /// Reading failed.
    Failed(E),
    /// The consumer stopped (on an error of its own, which is reported).
    Stopped,
}

impl<E: From<rusqlite::Error>> From<rusqlite::Error> for Fed<E> {
    fn from(e: rusqlite::Error) -> Self {
        Fed::Failed(E::from(e))
    }
}

/// Runs `read` on this thread and `consume` on a second one, rows crossing
/// in batches as in an export: for `ledger verify`, whose hashing then
/// overlaps the reading. One thread when the machine has one core. The
/// consumer's error wins over the reader's (it is why reading stopped).
pub(crate) fn overlapped<E: Send>(
    read: impl FnOnce(&mut dyn FnMut(&ExportRow<'_>) -> Result<(), Fed<E>>) -> Result<(), Fed<E>>,
    mut consume: impl FnMut(&ExportRow<'_>) -> Result<(), E> + Send,
) -> Result<(), E> {
    let finish = |r: Result<(), Fed<E>>| match r {
        Ok(()) | Err(Fed::Stopped) => Ok(()),
        Err(Fed::Failed(e)) => Err(e),
    };
    if !two_cores() {
        return finish(read(&mut |r| consume(r).map_err(Fed::Failed)));
    }
    let ((full_tx, full_rx), (back_tx, back_rx)) = channels();
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || drain(&full_rx, &back_tx, consume));
        let mut filling = Batch::default();
        let hand_over = |filling: &mut Batch| -> Result<(), Fed<E>> {
            let next = back_rx.recv().map_err(|_| Fed::Stopped)?;
            let full = std::mem::replace(filling, next);
            full_tx.send(full).map_err(|_| Fed::Stopped)
        };
        let read_result = read(&mut |r| {
            filling.push(r);
            if filling.len() >= BATCH_ROWS {
                hand_over(&mut filling)?;
            }
            Ok(())
        })
        .and_then(|()| {
            if filling.is_empty() {
                Ok(())
            } else {
                hand_over(&mut filling)
            }
        });
        drop(full_tx);
        let consumed = consumer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        consumed.and(finish(read_result))
    })
}
