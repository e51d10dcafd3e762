//! Encoding on a second thread: an export's reading side puts rows into
//! batches ([`crate::ledger::scan`]'s hand-off), and an encoder thread
//! writes them as CSV or JSON lines, compressed and hashed, to the file.
//! The two halves of an export's work then overlap.

use std::io;
use std::thread::JoinHandle;

use super::ExportRow;
use super::row::RowWriter;
use super::sink::Sink;
use crate::ledger::scan::batch::{BATCH_ROWS, Batch, channels, drain, two_cores};

/// Where the reading side puts rows: encoded at once on this thread, or
/// batched for the encoder thread.
pub(crate) enum Output {
    Inline(Box<RowWriter<Sink>>),
    Threaded(Encoder),
}

/// The encoder thread and the two channels to it (full batches there,
/// emptied batches back).
pub(crate) struct Encoder {
    /// Dropped to tell the encoder there is no more.
    full: Option<flume::Sender<Batch>>,
    empty: flume::Receiver<Batch>,
    filling: Batch,
    /// Taken when joined (at the end, or early when it stopped on an error).
    thread: Option<JoinHandle<io::Result<RowWriter<Sink>>>>,
}

impl Output {
    /// A second thread when the machine has a second core to run it.
    pub fn new(w: RowWriter<Sink>) -> io::Result<Output> {
        if !two_cores() {
            return Ok(Output::Inline(Box::new(w)));
        }
        let ((full, to_encode), (give_back, empty)) = channels();
        let thread = std::thread::Builder::new()
            .name("export-encode".into())
            .spawn(move || {
                let mut w = w;
                drain(&to_encode, &give_back, |r| w.write(r))?;
                Ok(w)
            })?;
        Ok(Output::Threaded(Encoder {
            full: Some(full),
            empty,
            filling: Batch::default(),
            thread: Some(thread),
        }))
    }

    /// Writes (or queues) one row; blocks while the encoder is behind (for
    /// at most one batch's encoding, also when called from the async
    /// PostgreSQL stream, whose connection nothing else is waiting on).
    pub fn write(&mut self, r: &ExportRow<'_>) -> io::Result<()> {
        match self {
            Output::Inline(w) => w.write(r),
            Output::Threaded(e) => {
                e.filling.push(r);
                if e.filling.len() >= BATCH_ROWS {
                    e.hand_over()?;
                }
                Ok(())
            }
        }
    }

    /// Sends the last rows, waits for the encoder and hands back the writer
    /// (or the error that stopped it).
    pub fn finish(self) -> io::Result<RowWriter<Sink>> {
        match self {
            Output::Inline(w) => Ok(*w),
            Output::Threaded(mut e) => {
                if !e.filling.is_empty() {
                    e.hand_over()?;
                }
                e.full = None;
                join(e.thread.take())
            }
        }
    }
}

/// Waits for the encoder thread: its writer, or the error that stopped it.
fn join(thread: Option<JoinHandle<io::Result<RowWriter<Sink>>>>) -> io::Result<RowWriter<Sink>> {
    let gone = || io::Error::other("the export's encoder thread is gone");
    thread
        .ok_or_else(gone)?
        .join()
        .map_err(|_| io::Error::other("the export's encoder thread panicked"))?
}

/// An export that fails while reading drops its output here: the encoder
/// is told to stop and waited for, so the temporary file it owns is removed
/// before the error reaches the user (and before the process exits).
impl Drop for Encoder {
    fn drop(&mut self) {
        self.full = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Encoder {
    fn hand_over(&mut self) -> io::Result<()> {
        let sent = match self.empty.recv() {
            Ok(next) => {
                let full = std::mem::replace(&mut self.filling, next);
                self.full.as_ref().is_some_and(|tx| tx.send(full).is_ok())
            }
            Err(_) => false,
        };
        if sent {
            return Ok(());
        }
        // A closed channel: the encoder stopped on a write error (a full
        // disk, a closed pipe). Report that error, not the channel's.
        match join(self.thread.take()) {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the export's encoder stopped early")),
        }
    }
}
