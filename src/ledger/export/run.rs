//! Running an export: [`Export::prepare`] checks everything that can be
//! checked before touching the database (filters, cursor file, output path);
//! [`Export::run`] streams the rows through, then finishes the file, the
//! manifest and the cursor, in that order. [`scan`] is the same stream with
//! nothing written, the baseline of the export benchmark.

use std::path::PathBuf;

use futures_util::TryStreamExt;
use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::manifest::{Cursor, Manifest};
use super::row::{Encoding, RowWriter, SELECT, decode_row};
use super::sink::{Destination, Sink};
use super::{ExportError, ExportOptions, Filter, Format, push_filter};
use crate::db::Db;

/// How often (in rows) the progress callback is called.
const PROGRESS_EVERY: u64 = 16_384;

/// An export ready to run: options checked, output opened.
pub struct Export {
    opts: ExportOptions,
    sink: Sink,
    output: Option<PathBuf>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub rows: u64,
    /// Bytes as stored (after compression).
    pub bytes: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    pub min_created_us: Option<i64>,
    pub max_created_us: Option<i64>,
    /// The file written, when the destination was a file.
    pub path: Option<PathBuf>,
    pub manifest: Option<PathBuf>,
    /// The SHA-256 of the file, when a manifest was asked for.
    pub sha256: Option<String>,
}

impl Export {
    /// Checks the options, reads the cursor file (its position becomes the
    /// filter's `after_id`) and opens the output. Every error here is the
    /// caller's (exit 2), and nothing has been read or written yet.
    pub fn prepare(mut opts: ExportOptions, dest: Destination) -> Result<Export, ExportError> {
        let output = match &dest {
            Destination::File(p) => Some(p.clone()),
            Destination::Stream(_) => None,
        };
        if opts.manifest && output.is_none() {
            return Err(ExportError::ManifestNeedsFile);
        }
        if let Some(path) = &opts.cursor
            && let Some(c) = Cursor::read(path)?
        {
            opts.filter.after_id = Some(c.last_id);
        }
        let sink = Sink::open(dest, opts.compression, opts.manifest)?;
        Ok(Export { opts, sink, output })
    }

    /// The filter in force (after the cursor file was read).
    pub fn filter(&self) -> &Filter {
        &self.opts.filter
    }

    /// Streams the rows, then renames the file into place, writes the
    /// manifest and advances the cursor. On any error the temporary file is
    /// removed and the cursor is left as it was.
    pub async fn run(
        self,
        db: &Db,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ExportReport, ExportError> {
        let Export { opts, sink, output } = self;
        let encoding = Encoding {
            jsonl: opts.format == Format::Jsonl,
            excel_safe: opts.excel_safe,
        };
        let write_err = |source| ExportError::Write { source };
        let mut w = RowWriter::new(sink, encoding).map_err(write_err)?;
        let mut report = ExportReport::default();
        let read_err = |source| ExportError::Read {
            backend: db.backend(),
            source,
        };
        macro_rules! stream {
            ($db:ty, $pool:expr) => {{
                let mut q = QueryBuilder::<$db>::new(SELECT);
                push_filter!(q, &opts.filter);
                q.push(" ORDER BY id");
                let mut rows = q.build().fetch($pool);
                while let Some(row) = rows.try_next().await.map_err(read_err)? {
                    let r = decode_row!(&row).map_err(read_err)?;
                    w.write(&r).map_err(write_err)?;
                    note(&mut report, r.id, r.created_at_us);
                    if report.rows % PROGRESS_EVERY == 0 {
                        progress(report.rows);
                    }
                }
            }};
        }
        match db {
            Db::Sqlite(p) => stream!(Sqlite, p),
            Db::Postgres(p) => stream!(Postgres, p),
        }
        progress(report.rows);
        let written = w.finish().map_err(write_err)?.finish()?;
        report.bytes = written.bytes;
        report.path = written.path;
        report.sha256 = written.sha256;
        if opts.manifest
            && let Some(path) = &output
        {
            let m = Manifest::new(path, &opts, &report);
            report.manifest = Some(m.write(path)?);
        }
        if let Some(cursor) = &opts.cursor
            && let Some(last_id) = report.last_id
        {
            Cursor { last_id }.write(cursor)?;
        }
        Ok(report)
    }
}

fn note(report: &mut ExportReport, id: i64, created_us: i64) {
    report.rows += 1;
    report.first_id.get_or_insert(id);
    report.last_id = Some(id);
    report.min_created_us = Some(
        report
            .min_created_us
            .map_or(created_us, |m| m.min(created_us)),
    );
    report.max_created_us = Some(
        report
            .max_created_us
            .map_or(created_us, |m| m.max(created_us)),
    );
}

/// Reads and decodes the rows `filter` selects, writing nothing: the bare
/// streaming scan that the export benchmark compares itself with. Returns
/// the row count and the sum of `cost_nano` (so the work cannot be skipped).
pub async fn scan(db: &Db, filter: &Filter) -> Result<(u64, i64), ExportError> {
    let read_err = |source| ExportError::Read {
        backend: db.backend(),
        source,
    };
    let (mut n, mut sum) = (0u64, 0i64);
    macro_rules! stream {
        ($db:ty, $pool:expr) => {{
            let mut q = QueryBuilder::<$db>::new(SELECT);
            push_filter!(q, filter);
            q.push(" ORDER BY id");
            let mut rows = q.build().fetch($pool);
            while let Some(row) = rows.try_next().await.map_err(read_err)? {
                let r = decode_row!(&row).map_err(read_err)?;
                n += 1;
                sum = sum
                    .wrapping_add(r.cost_nano)
                    .wrapping_add(r.request_id.len() as i64);
            }
        }};
    }
    match db {
        Db::Sqlite(p) => stream!(Sqlite, p),
        Db::Postgres(p) => stream!(Postgres, p),
    }
    Ok((n, sum))
}
