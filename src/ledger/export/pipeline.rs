//! Encoding on a second thread. The reading side (SQLite's step or the
//! PostgreSQL stream, plus decoding) and the writing side (CSV or JSON
//! encoding, compression, hashing, the file) each cost about half of an
//! export; run one after the other per row they add up, on two threads
//! they overlap. Rows cross over in batches: each batch copies its rows'
//! text into one buffer, and emptied batches come back to be refilled, so
//! the hand-off allocates nothing per row once running.

use std::io;
use std::thread::JoinHandle;

use super::ExportRow;
use super::row::RowWriter;
use super::sink::Sink;

/// Rows per batch: large enough that the hand-off is rare, small enough
/// that the two threads start overlapping at once.
const BATCH_ROWS: usize = 1024;
/// Batches in flight; with one being filled and one being encoded this
/// keeps memory flat (a few MiB) whatever the export's size.
const BATCHES: usize = 4;

/// Byte range of a string in a batch's buffer.
#[derive(Debug, Clone, Copy)]
struct Span(u32, u32);

/// One row, its text as spans of the batch buffer.
#[derive(Debug, Clone, Copy)]
struct Packed {
    id: i64,
    request_id: Span,
    created_at_us: i64,
    client_request_id: Option<Span>,
    upstream_request_id: Option<Span>,
    user_id: Option<i64>,
    user_name: Option<Span>,
    api_key_id: Option<i64>,
    endpoint: Span,
    model: Span,
    provider: Span,
    upstream_model: Option<Span>,
    tokens: [i64; 5],
    token_source: Span,
    cost_nano: i64,
    latency_us: i64,
    upstream_latency_us: Option<i64>,
    ttft_us: Option<i64>,
    overhead_us: Option<i64>,
    status_code: i32,
    streamed: bool,
    error_kind: Option<Span>,
    error_message: Option<Span>,
    instance_id: Option<Span>,
    seq: Option<i64>,
    prev_hash: Option<Span>,
    entry_hash: Option<Span>,
}

/// Rows copied out of the database's buffers.
#[derive(Default)]
struct Batch {
    text: String,
    bytes: Vec<u8>,
    rows: Vec<Packed>,
}

impl Batch {
    fn clear(&mut self) {
        self.text.clear();
        self.bytes.clear();
        self.rows.clear();
    }

    fn push(&mut self, r: &ExportRow<'_>) {
        let mut s = |v: &str| {
            let start = self.text.len();
            self.text.push_str(v);
            Span(start as u32, self.text.len() as u32)
        };
        let request_id = s(r.request_id);
        let client_request_id = r.client_request_id.map(&mut s);
        let upstream_request_id = r.upstream_request_id.map(&mut s);
        let user_name = r.user_name.map(&mut s);
        let endpoint = s(r.endpoint);
        let model = s(r.model);
        let provider = s(r.provider);
        let upstream_model = r.upstream_model.map(&mut s);
        let token_source = s(r.token_source);
        let error_kind = r.error_kind.map(&mut s);
        let error_message = r.error_message.map(&mut s);
        let instance_id = r.instance_id.map(&mut s);
        let mut b = |v: &[u8]| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(v);
            Span(start as u32, self.bytes.len() as u32)
        };
        let prev_hash = r.prev_hash.map(&mut b);
        let entry_hash = r.entry_hash.map(&mut b);
        self.rows.push(Packed {
            id: r.id,
            request_id,
            created_at_us: r.created_at_us,
            client_request_id,
            upstream_request_id,
            user_id: r.user_id,
            user_name,
            api_key_id: r.api_key_id,
            endpoint,
            model,
            provider,
            upstream_model,
            tokens: r.token_counts(),
            token_source,
            cost_nano: r.cost_nano,
            latency_us: r.latency_us,
            upstream_latency_us: r.upstream_latency_us,
            ttft_us: r.ttft_us,
            overhead_us: r.overhead_us,
            status_code: r.status_code,
            streamed: r.streamed,
            error_kind,
            error_message,
            instance_id,
            seq: r.seq,
            prev_hash,
            entry_hash,
        });
    }

    fn row(&self, p: &Packed) -> ExportRow<'_> {
        let s = |sp: Span| &self.text[sp.0 as usize..sp.1 as usize];
        let b = |sp: Span| &self.bytes[sp.0 as usize..sp.1 as usize];
        let [input, cached, cache_write, output, reasoning] = p.tokens;
        ExportRow {
            id: p.id,
            request_id: s(p.request_id),
            created_at_us: p.created_at_us,
            client_request_id: p.client_request_id.map(s),
            upstream_request_id: p.upstream_request_id.map(s),
            user_id: p.user_id,
            user_name: p.user_name.map(s),
            api_key_id: p.api_key_id,
            endpoint: s(p.endpoint),
            model: s(p.model),
            provider: s(p.provider),
            upstream_model: p.upstream_model.map(s),
            input_tokens: input,
            cached_input_tokens: cached,
            cache_write_tokens: cache_write,
            output_tokens: output,
            reasoning_tokens: reasoning,
            token_source: s(p.token_source),
            cost_nano: p.cost_nano,
            latency_us: p.latency_us,
            upstream_latency_us: p.upstream_latency_us,
            ttft_us: p.ttft_us,
            overhead_us: p.overhead_us,
            status_code: p.status_code,
            streamed: p.streamed,
            error_kind: p.error_kind.map(s),
            error_message: p.error_message.map(s),
            instance_id: p.instance_id.map(s),
            seq: p.seq,
            prev_hash: p.prev_hash.map(b),
            entry_hash: p.entry_hash.map(b),
        }
    }
}

/// Whether a second thread has a core of its own to run on.
fn two_cores() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
}

type Channel = (flume::Sender<Batch>, flume::Receiver<Batch>);

/// The two channels between the threads: full batches to the consumer
/// (bounded), emptied ones back, the latter primed with every batch.
fn channels() -> (Channel, Channel) {
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
fn drain<E>(
    full: &flume::Receiver<Batch>,
    back: &flume::Sender<Batch>,
    mut consume: impl FnMut(&ExportRow<'_>) -> Result<(), E>,
) -> Result<(), E> {
    for mut batch in full.iter() {
        for p in &batch.rows {
            consume(&batch.row(p))?;
        }
        batch.clear();
        let _ = back.send(batch);
    }
    Ok(())
}

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
                if e.filling.rows.len() >= BATCH_ROWS {
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
                if !e.filling.rows.is_empty() {
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
            if filling.rows.len() >= BATCH_ROWS {
                hand_over(&mut filling)?;
            }
            Ok(())
        })
        .and_then(|()| {
            if filling.rows.is_empty() {
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
