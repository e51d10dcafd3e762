//! A full export of a SQLite ledger file read by two connections at once.
//!
//! Why: with one reader, the export can go no faster than one thread steps
//! SQLite and decodes the rows, and in the profile that thread was two
//! thirds of the work (docs/benchmarks-history.md, "SQLite export: two readers").
//! Here the time order is cut into slices (`created_at_us` ranges, about
//! [`ROWS_PER_SLICE`] rows each), two workers each read and encode every
//! other slice on a connection of their own, and this thread writes the
//! encoded slices to the output in order. Concatenated in order, the slices
//! are exactly `ORDER BY created_at_us, id`: a slice is a half-open range
//! of times, so rows of one time never straddle two slices.
//!
//! The workers' statements run at different moments, so they may see
//! different snapshots of a ledger that a gateway is writing. The export
//! takes the highest row id first and reads only rows at or below it. The
//! ledger is append-only: tokctl never updates or deletes a row, and SQLite
//! gives a new row an id above every existing one. So every snapshot holds
//! the same rows at or below that id, and the export is the ledger as it
//! stood when it started, as with one reader. (A row changed behind the
//! gateway's back during an export may come out as before or after the
//! change: tampering, which `ledger verify` reports.)
//!
//! Memory stays flat: a worker that is ahead hands over at most
//! [`CHUNKS_AHEAD`] encoded chunks and then waits for the writer.
//!
//! The runner ([`slices::in_order`]) is the ledger's read path's; what is
//! here is what an export makes of a slice: its rows encoded, and their tally.

use super::row::{Encoding, Records, RowWriter};
use super::run::Tally;
use super::sink::Sink;
use super::{ExportError, Filter};
use crate::ledger::scan::slices::{Halt, cut, in_order};
use crate::ledger::scan::{Order, Reader};

/// Rows per slice, roughly (slices are even in time, not in rows): small
/// enough that a worker can encode a whole slice while the writer is still
/// on the other's (see [`CHUNKS_AHEAD`]), large enough that the query per
/// slice is noise.
pub(super) const ROWS_PER_SLICE: i64 = 4_096;
/// Encoded bytes a worker gathers before handing them over.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks a worker may have handed over and not yet written: room for a
/// whole slice of ordinary rows (about 1.7 MB), so that the two workers
/// overlap; a worker whose slice is larger waits for the writer, which
/// keeps memory flat (two workers × 16 × 256 KiB at most).
const CHUNKS_AHEAD: usize = 16;

/// One parallel export: the rows `filter` selects, read through `reader`'s
/// file, encoded with `encoding`.
pub(super) struct Run<'a> {
    pub reader: &'a Reader,
    pub filter: &'a Filter,
    pub encoding: Encoding,
    pub rows_per_slice: i64,
}

/// What an export worker hands the writer.
enum Chunk {
    /// Encoded rows of the current slice.
    Bytes(Vec<u8>),
    /// The slice's rows add up to this (its last item).
    Tally(Tally),
}

impl Run<'_> {
    /// Writes every selected row to `w` in time order; returns their tally
    /// and the writer, for the caller to finish.
    pub fn export(
        &self,
        mut w: RowWriter<Sink>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Tally, RowWriter<Sink>), ExportError> {
        let mut tally = Tally::default();
        let Some(slices) = self.slices()? else {
            return Ok((tally, w));
        };
        // Written buffers go back to the workers: reused, not reallocated
        // (fresh 256 KiB buffers cost page faults, a few per cent).
        let (spare_tx, spare) = flume::unbounded::<Vec<u8>>();
        let encoding = self.encoding;
        let produce =
            |reader: &Reader,
             filter: &Filter,
             send: &mut dyn FnMut(Chunk) -> Result<(), Halt<ExportError>>| {
                let fresh = || {
                    spare
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(CHUNK_BYTES + 4096))
                };
                let mut records = Records::new(encoding);
                let mut slice = Tally::default();
                let mut buf = fresh();
                reader.each(filter, Order::Time.sql(), |r| {
                    records.push(&mut buf, r);
                    slice.note(r);
                    if buf.len() >= CHUNK_BYTES {
                        send(Chunk::Bytes(std::mem::replace(&mut buf, fresh())))?;
                    }
                    Ok::<_, Halt<ExportError>>(())
                })?;
                if !buf.is_empty() {
                    send(Chunk::Bytes(buf))?;
                }
                send(Chunk::Tally(slice))
            };
        in_order(
            self.reader.path(),
            &slices,
            CHUNKS_AHEAD,
            produce,
            |chunk| {
                match chunk {
                    Chunk::Bytes(mut bytes) => {
                        w.write_encoded(&bytes)
                            .map_err(|source| ExportError::Write { source })?;
                        bytes.clear();
                        let _ = spare_tx.send(bytes);
                    }
                    Chunk::Tally(t) => {
                        tally.merge(t);
                        progress(tally.rows());
                    }
                }
                Ok(())
            },
        )?;
        Ok((tally, w))
    }

    /// The slices in time order, each the export's filter narrowed to a
    /// range of times and to the rows as they stand now (`None`: the
    /// ledger is empty).
    fn slices(&self) -> Result<Option<Vec<Filter>>, ExportError> {
        let Some((max_id, first, last)) = self.reader.extent()? else {
            return Ok(None);
        };
        let base = Filter {
            id_upto: Some(max_id),
            ..self.filter.clone()
        };
        // The range the filter leaves, cut into even slices; the first and
        // the last stay open-ended (rows of later ids may lie outside it,
        // and are left out by `id_upto` anyway). A slice's times are
        // `since_us <= t < until_us`: cut's "above" and "at or below",
        // shifted by one.
        let lo = base.since_us.map_or(first, |s| s.max(first));
        let hi = base
            .until_us
            .map_or(last, |u| u.saturating_sub(1).min(last));
        let slices = cut(lo, hi, max_id, self.rows_per_slice)
            .into_iter()
            .map(|(after, upto)| Filter {
                since_us: after.map(|a| a + 1).or(base.since_us),
                until_us: upto.map(|u| u + 1).or(base.until_us),
                ..base.clone()
            })
            .collect();
        Ok(Some(slices))
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::ledger::export::sink::Destination;
    use crate::ledger::export::{Compression, ExportReport};

    /// A ledger file (`sqlite_direct`'s test table) with `n` rows: many
    /// share a time, times run against ids, three chains and rows outside
    /// every chain, awkward text.
    fn ledger(n: i64) -> (tempfile::TempDir, Reader) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("l.db");
        let conn = crate::ledger::scan::sqlite_direct::tests::table(&path);
        let mut insert = conn
            .prepare(&format!(
                "{} (NULL, ?1, ?2, ?3, NULL, ?4, ?5, 1, '/v1/x', \
                 ?6, 'p', NULL, 1, 2, 3, ?7, 5, 'provider', ?8, 9, NULL, NULL, 1, 200, 0, NULL, \
                 ?9, ?10, ?11, x'01', ?12)",
                crate::ledger::scan::sqlite_direct::tests::insert_v1()
            ))
            .expect("prepare");
        let names = ["alice", "bob, \"the\" builder", "=cmd", "ünï\nline"];
        for i in 0..n {
            let chain = ["gw-a", "gw-b", "gw-c"].get((i % 4) as usize).copied();
            insert
                .execute(rusqlite::params![
                    format!("req-{i}"),
                    1_000_000 + (i * 37 % 101) * 1_000,
                    (i % 5 == 0).then(|| format!("c,{i}")),
                    i % 7,
                    names[(i % 4) as usize],
                    ["m1", "m2"][(i % 2) as usize],
                    i * 3,
                    i * 1_000_003,
                    (i % 11 == 0).then_some("upstream said \"no\""),
                    chain,
                    chain.map(|_| i),
                    chain.map(|_| i.to_be_bytes().to_vec()),
                ])
                .expect("insert");
        }
        drop(insert);
        drop(conn);
        let reader = Reader::open(&path).expect("reader");
        (dir, reader)
    }

    /// The file and report an export writes: in parallel with
    /// `rows_per_slice`, or (`None`) row by row through one reader.
    fn export(
        reader: &Reader,
        filter: &Filter,
        encoding: Encoding,
        rows_per_slice: Option<i64>,
    ) -> (String, ExportReport) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out");
        let sink =
            Sink::open(Destination::File(path.clone()), Compression::None, false).expect("sink");
        let mut w = RowWriter::new(sink, encoding).expect("writer");
        let tally = match rows_per_slice {
            Some(rows_per_slice) => {
                let run = Run {
                    reader,
                    filter,
                    encoding,
                    rows_per_slice,
                };
                let (tally, back) = run
                    .export(w, &mut |_| {})
                    .map_err(|e| e.to_string())
                    .expect("export");
                w = back;
                tally
            }
            None => {
                let mut tally = Tally::default();
                reader
                    .each(filter, Order::Time.sql(), |r| {
                        tally.note(r);
                        w.write(r).map_err(|source| ExportError::Write { source })
                    })
                    .map_err(|e| e.to_string())
                    .expect("read");
                tally
            }
        };
        w.finish()
            .expect("finish")
            .finish()
            .map_err(|e| e.to_string())
            .expect("file");
        let mut report = ExportReport::default();
        tally.finish(&mut report, None);
        let text = std::fs::read_to_string(&path).expect("read back");
        (text, report)
    }

    #[test]
    fn slices_written_in_order_are_the_one_reader_export_byte_for_byte() {
        let (_dir, reader) = ledger(600);
        let filters = [
            Filter::default(),
            Filter {
                since_us: Some(1_020_000),
                until_us: Some(1_070_500),
                ..Filter::default()
            },
            Filter {
                user: Some("bob, \"the\" builder".into()),
                until_us: Some(1_050_000),
                ..Filter::default()
            },
            Filter {
                model: Some("no such model".into()),
                ..Filter::default()
            },
        ];
        for jsonl in [false, true] {
            let encoding = Encoding {
                jsonl,
                excel_safe: jsonl,
            };
            for filter in &filters {
                let (want, want_report) = export(&reader, filter, encoding, None);
                for rows_per_slice in [1, 3, 50, 599, 100_000] {
                    let (got, report) = export(&reader, filter, encoding, Some(rows_per_slice));
                    assert!(
                        got == want,
                        "{filter:?}, {rows_per_slice} rows a slice: the output differs"
                    );
                    assert_eq!(report, want_report, "{filter:?}, {rows_per_slice}");
                }
                if filter.model.is_none() {
                    assert!(want_report.rows > 10, "{filter:?}: {want_report:?}");
                    assert!(!want_report.chains.is_empty());
                }
            }
        }
    }

    #[test]
    fn a_bad_row_in_any_slice_fails_the_export_without_hanging() {
        let (_dir, reader) = ledger(300);
        Connection::open(reader.path())
            .and_then(|c| {
                c.execute(
                    "UPDATE usage_entries SET input_tokens = 'ten' WHERE id = 200",
                    [],
                )
            })
            .expect("tamper");
        let encoding = Encoding {
            jsonl: false,
            excel_safe: false,
        };
        for rows_per_slice in [1, 7, 1_000] {
            let run = Run {
                reader: &reader,
                filter: &Filter::default(),
                encoding,
                rows_per_slice,
            };
            let sink = Sink::open(
                Destination::Stream(Box::new(std::io::sink())),
                Compression::None,
                false,
            )
            .expect("sink");
            let w = RowWriter::new(sink, encoding).expect("writer");
            let err = run.export(w, &mut |_| {}).map(|_| ()).expect_err("bad row");
            assert!(err.to_string().contains("input_tokens"), "{err}");
        }
    }

    #[test]
    fn an_empty_ledger_exports_just_the_header() {
        let (_dir, reader) = ledger(0);
        let encoding = Encoding {
            jsonl: false,
            excel_safe: false,
        };
        let (text, report) = export(&reader, &Filter::default(), encoding, Some(1));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(report.rows, 0);
    }
}
