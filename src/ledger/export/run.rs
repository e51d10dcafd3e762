//! Running an export: [`Export::prepare`] checks everything that can be
//! checked before touching the database (filters, cursor file, output path);
//! [`Export::run`] streams the rows through, then finishes the file, the
//! manifest and the cursor, in that order. Rows come through the ledger's
//! one read path ([`crate::ledger::scan`]).
//!
//! An incremental export (`--after`, `--cursor`) goes chain by chain: for
//! each gateway instance, the rows numbered above the position it starts
//! from and at or below the chain's committed watermark, read once at the
//! start. Parallel workers commit batches out of order, so rows above the
//! watermark may still have holes below them; stopping at the watermark
//! (not at the highest number written) is what keeps a late batch from
//! being skipped for ever. Rows outside every chain (written before the
//! chain existed) are only in full exports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::manifest::{ChainSpan, Cursor, Manifest};
use super::parallel;
use super::pipeline::Output;
use super::row::{Encoding, RowWriter};
use super::sink::{Destination, Sink};
use super::{ExportError, ExportOptions, Filter, Format};
use crate::db::Db;
use crate::ledger::scan::{self, Order, Scan, ScanError, blocking, slices};

/// How often (in rows) the progress callback is called.
const PROGRESS_EVERY: u64 = 16_384;

/// An export ready to run: options checked, output opened.
pub struct Export {
    opts: ExportOptions,
    sink: Sink,
    output: Option<PathBuf>,
    /// Where an incremental export starts, per chain (`None`: a full export).
    start: Option<Cursor>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub rows: u64,
    /// Bytes as stored (after compression).
    pub bytes: u64,
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    /// Per chain: the span of it that was exported.
    pub chains: Vec<ChainSpan>,
    /// Incremental exports: where each chain's export started (exclusive).
    pub after_seq: BTreeMap<String, i64>,
    pub min_created_us: Option<i64>,
    pub max_created_us: Option<i64>,
    /// The file written, when the destination was a file.
    pub path: Option<PathBuf>,
    pub manifest: Option<PathBuf>,
    /// The SHA-256 of the file, when a manifest was asked for.
    pub sha256: Option<String>,
}

impl Export {
    /// Checks the options, reads the cursor file and opens the output. Every
    /// error here is the caller's (exit 2), and nothing has been read or
    /// written yet.
    pub fn prepare(opts: ExportOptions, dest: Destination) -> Result<Export, ExportError> {
        let output = match &dest {
            Destination::File(p) => Some(p.clone()),
            Destination::Stream(_) => None,
        };
        if opts.manifest && output.is_none() {
            return Err(ExportError::ManifestNeedsFile);
        }
        if opts.cursor.is_some()
            && (opts.filter.since_us.is_some() || opts.filter.until_us.is_some())
        {
            return Err(ExportError::CursorWithTimeRange);
        }
        let start = match &opts.cursor {
            Some(path) => {
                let cursor = Cursor::read(path)?.unwrap_or_default();
                Cursor::check_writable(path)?;
                Some(cursor)
            }
            None => opts.after.map(|_| Cursor::default()),
        };
        let sink = Sink::open(dest, opts.compression, opts.manifest)?;
        Ok(Export {
            opts,
            sink,
            output,
            start,
        })
    }

    /// The filter in force.
    pub fn filter(&self) -> &Filter {
        &self.opts.filter
    }

    /// How many rows the export will write, counted with the same filters
    /// (and, for an incremental export, the watermarks as they stand now):
    /// the length of the progress bar, so it can show an ETA. One extra
    /// query, so the command runs it only when a bar is shown.
    pub async fn count(&self, db: &Db) -> Result<u64, ExportError> {
        let (plan, _) = self.plan(db).await?;
        let source = Scan::new(db);
        let mut total = 0;
        for filter in &plan {
            total += source.count(filter).await?;
        }
        Ok(total)
    }

    /// The queries to run: one full scan, or one per chain for an
    /// incremental export (with the cursor it will leave behind).
    async fn plan(&self, db: &Db) -> Result<(Vec<Filter>, Option<Cursor>), ExportError> {
        let Some(start) = &self.start else {
            return Ok((vec![self.opts.filter.clone()], None));
        };
        let chains = scan::watermarks(db).await?;
        let chosen: Vec<&(String, i64)> = match &self.opts.filter.instance {
            Some(id) => match chains.iter().find(|(c, _)| c == id) {
                Some(c) => vec![c],
                None => {
                    return Err(ExportError::UnknownInstance {
                        instance: id.clone(),
                        known: chains.iter().map(|(c, _)| c.clone()).collect(),
                    });
                }
            },
            None => chains.iter().collect(),
        };
        if self.opts.after.is_some() && chosen.len() > 1 {
            return Err(ExportError::AfterNeedsInstance {
                known: chains.iter().map(|(c, _)| c.clone()).collect(),
            });
        }
        let mut next = start.clone();
        let mut filters = Vec::with_capacity(chosen.len());
        for (id, watermark) in chosen {
            let after = self
                .opts
                .after
                .or_else(|| start.chains.get(id).copied())
                .unwrap_or(0);
            // A cursor ahead of the watermark (a restored database, say)
            // exports nothing and keeps its position, rather than moving back.
            next.chains.insert(id.clone(), after.max(*watermark));
            filters.push(Filter {
                instance: Some(id.clone()),
                seq_after: Some(after),
                seq_upto: Some(*watermark),
                ..self.opts.filter.clone()
            });
        }
        Ok((filters, Some(next)))
    }

    /// Streams the rows, then renames the file into place, writes the
    /// manifest and advances the cursor. On any error the temporary file is
    /// removed and the cursor is left as it was.
    pub async fn run(
        self,
        db: &Db,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ExportReport, ExportError> {
        let (plan, next_cursor) = self.plan(db).await?;
        let Export {
            opts, sink, output, ..
        } = self;
        let incremental = next_cursor.is_some();
        let encoding = Encoding {
            jsonl: opts.format == Format::Jsonl,
            excel_safe: opts.excel_safe,
        };
        let write_err = |source| ExportError::Write { source };
        let writer = RowWriter::new(sink, encoding).map_err(write_err)?;
        let mut report = ExportReport::default();
        if incremental {
            report.after_seq = plan
                .iter()
                .filter_map(|f| Some((f.instance.clone()?, f.seq_after?)))
                .collect();
        }
        let order = if incremental { Order::Seq } else { Order::Time };
        let source = Scan::new(db);
        let (tally, writer) = match (source.file(), &plan[..]) {
            // A full export of a SQLite file, on two cores: two readers.
            (Some(reader), [filter]) if !incremental && slices::worth_it() => {
                let run = parallel::Run {
                    reader,
                    filter,
                    encoding,
                    rows_per_slice: parallel::ROWS_PER_SLICE,
                };
                blocking(|| run.export(writer, &mut *progress))?
            }
            _ => {
                let mut w = Output::new(writer).map_err(write_err)?;
                let mut tally = Tally::default();
                let read_err = |e| ExportError::from(ScanError::read(db)(e));
                for filter in &plan {
                    let emit = |r: &super::ExportRow<'_>| -> Result<(), ExportError> {
                        w.write(r).map_err(write_err)?;
                        tally.note(r);
                        if tally.rows % PROGRESS_EVERY == 0 {
                            progress(tally.rows);
                        }
                        Ok(())
                    };
                    source.each(filter, order, read_err, emit).await?;
                }
                (tally, w.finish().map_err(write_err)?)
            }
        };
        progress(tally.rows);
        tally.finish(&mut report, next_cursor.as_ref());
        let written = writer.finish().map_err(write_err)?.finish()?;
        report.bytes = written.bytes;
        report.path = written.path;
        report.sha256 = written.sha256;
        if opts.manifest
            && let Some(path) = &output
        {
            let m = Manifest::new(path, &opts, &report);
            report.manifest = Some(m.write(path)?);
        }
        if let (Some(path), Some(next)) = (&opts.cursor, &next_cursor) {
            next.write(path)?;
        }
        Ok(report)
    }
}

/// What the rows written so far add up to: counted row by row, or per
/// slice by the parallel export's workers and merged in order.
#[derive(Default)]
pub(crate) struct Tally {
    rows: u64,
    first_id: Option<i64>,
    last_id: Option<i64>,
    min_created_us: Option<i64>,
    max_created_us: Option<i64>,
    spans: Spans,
}

impl Tally {
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn note(&mut self, r: &super::ExportRow<'_>) {
        self.rows += 1;
        self.first_id.get_or_insert(r.id);
        self.last_id = Some(r.id);
        let t = r.created_at_us;
        self.min_created_us = Some(self.min_created_us.map_or(t, |m| m.min(t)));
        self.max_created_us = Some(self.max_created_us.map_or(t, |m| m.max(t)));
        self.spans.note(r);
    }

    /// Adds `later`, the tally of the rows written right after these.
    pub fn merge(&mut self, later: Tally) {
        self.rows += later.rows;
        if self.first_id.is_none() {
            self.first_id = later.first_id;
        }
        if later.last_id.is_some() {
            self.last_id = later.last_id;
        }
        let pick = |a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64| match (a, b) {
            (Some(a), Some(b)) => Some(f(a, b)),
            (a, b) => a.or(b),
        };
        self.min_created_us = pick(self.min_created_us, later.min_created_us, i64::min);
        self.max_created_us = pick(self.max_created_us, later.max_created_us, i64::max);
        self.spans.merge(later.spans);
    }

    pub(super) fn finish(self, report: &mut ExportReport, cursor: Option<&Cursor>) {
        report.rows = self.rows;
        report.first_id = self.first_id;
        report.last_id = self.last_id;
        report.min_created_us = self.min_created_us;
        report.max_created_us = self.max_created_us;
        report.chains = self.spans.finish(cursor);
    }
}

/// The span of each chain seen so far, kept in the order chains first
/// appear, with the raw hash of its newest row (hex-encoded once, at the end,
/// not for every row).
#[derive(Default)]
struct Spans(Vec<(ChainSpan, Vec<u8>)>);

impl Spans {
    fn note(&mut self, r: &super::ExportRow<'_>) {
        let (Some(id), Some(seq)) = (r.instance_id, r.seq) else {
            return;
        };
        // Rows come chain by chain (or in id order, mostly one chain at a
        // time): the last span is nearly always the one.
        let at = match self.0.iter().rposition(|(s, _)| s.instance_id == id) {
            Some(at) => at,
            None => {
                self.0.push((
                    ChainSpan {
                        instance_id: id.to_string(),
                        rows: 0,
                        first_seq: seq,
                        last_seq: seq,
                        last_entry_hash: String::new(),
                        watermark_seq: None,
                    },
                    Vec::new(),
                ));
                self.0.len() - 1
            }
        };
        let (s, last_hash) = &mut self.0[at];
        s.rows += 1;
        s.first_seq = s.first_seq.min(seq);
        if seq >= s.last_seq {
            s.last_seq = seq;
            last_hash.clear();
            last_hash.extend_from_slice(r.entry_hash.unwrap_or_default());
        }
    }

    /// Adds the spans of rows written after these, chain by chain.
    fn merge(&mut self, later: Spans) {
        for (span, hash) in later.0 {
            match self
                .0
                .iter_mut()
                .find(|(s, _)| s.instance_id == span.instance_id)
            {
                Some((s, last_hash)) => {
                    s.rows += span.rows;
                    s.first_seq = s.first_seq.min(span.first_seq);
                    if span.last_seq >= s.last_seq {
                        s.last_seq = span.last_seq;
                        *last_hash = hash;
                    }
                }
                None => self.0.push((span, hash)),
            }
        }
    }

    fn finish(self, cursor: Option<&Cursor>) -> Vec<ChainSpan> {
        self.0
            .into_iter()
            .map(|(mut s, last_hash)| {
                s.last_entry_hash = hex::encode(last_hash);
                if let Some(c) = cursor {
                    s.watermark_seq = c.chains.get(&s.instance_id).copied();
                }
                s
            })
            .collect()
    }
}
