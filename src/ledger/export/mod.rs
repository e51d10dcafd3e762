//! `tokctl ledger export`: ledger rows streamed from the database to CSV or
//! JSON lines, optionally compressed, with a manifest and a cursor file for
//! incremental exports.
//!
//! Memory stays flat however many rows: rows are decoded one at a time from
//! the driver's stream, borrowed (not copied) into [`ExportRow`], encoded
//! into a fixed-size buffer and written through. A file is written under a
//! temporary name and renamed at the end ([`sink`]), so an interrupted or
//! failed export never leaves a file that looks complete.
//!
//! Incremental exports go chain by chain, by sequence number, up to each
//! chain's committed watermark ([`run`] says why). A full export of a SQLite
//! ledger file, on a machine with two cores, is read by two connections at
//! once, in slices of the time order written out in order ([`parallel`]);
//! otherwise encoding overlaps reading on a second thread ([`pipeline`]).

mod cells;
mod filter;
mod manifest;
pub(crate) mod parallel;
pub(crate) mod pipeline;
pub(crate) mod postgres_copy;
mod row;
mod run;
mod sink;
pub(crate) mod sqlite_direct;

use std::path::PathBuf;

pub use filter::{Filter, format_time, parse_time};
pub use manifest::{ChainSpan, Cursor, Manifest};
pub use row::{ExportRow, columns, push_nano_decimal, push_rfc3339};
pub use run::{Export, ExportReport, scan};
pub use sink::Destination;
pub(crate) use sink::write_atomic;

pub(crate) use crate::ledger::columns::select;
pub(crate) use filter::{Bound, push_filter};
pub(crate) use row::decode_row;

/// The order of a full (not incremental) export: time, then row id. Why not
/// `id` alone: on PostgreSQL `id` has no index (migration 0004: every entry
/// paid for one that only full exports read), while the time index gives
/// this order on both backends (SQLite's index entries end with the rowid;
/// PostgreSQL sorts only the rows of one timestamp), and a ranged export
/// (`--since`, `--until`) reads just its range of that index instead of
/// scanning the table in `id` order.
pub(crate) const TIME_ORDER: &str = " ORDER BY created_at_us, id";

/// A transaction for PostgreSQL reads that stream rows in an order an index
/// already gives ([`TIME_ORDER`], or a chain's `ORDER BY seq`): sorting is
/// switched off for it. Why: right after a bulk load, before autovacuum has
/// analysed the table, the planner estimates a chain at a thousand rows and
/// picks a bitmap scan plus a sort, which for a million rows spilled 380 MB
/// to disk and held back the first row (docs/benchmarks.md). The index scan
/// streams from the first row in every case. `SET LOCAL` ends with the
/// transaction, so the pool's connections are left as they were.
pub(crate) async fn index_ordered(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL enable_sort = off")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

use crate::db::Backend;

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 4180 CSV with a header record.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Compression applied to the whole output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The flag wins; else the output file's extension (`.gz` or `.gzip`,
    /// `.zst` or `.zstd`) decides, so `--output usage.csv.gz` does what it says.
    pub fn resolve(flag: Option<Compression>, output: Option<&std::path::Path>) -> Compression {
        if let Some(c) = flag {
            return c;
        }
        match output.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some("gz" | "gzip") => Compression::Gzip,
            Some("zst" | "zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: Format,
    pub compression: Compression,
    pub filter: Filter,
    /// Prefix text cells that begin with `=`, `+`, `-` or `@` with `'`, so
    /// spreadsheets do not run them as formulas. Off by default: values stay exact.
    pub excel_safe: bool,
    /// Write `<output>.manifest.json` beside the output (files only).
    pub manifest: bool,
    /// Incremental export from this sequence number (exclusive), in the one
    /// chain the filter's `instance` names (or the only chain).
    pub after: Option<i64>,
    /// A cursor file: read for each chain's starting position, rewritten
    /// when the export completes.
    pub cursor: Option<PathBuf>,
}

/// Errors of an export, each naming what it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "{flag} `{text}` is neither an RFC 3339 time (2026-11-23T00:00:00Z) nor a duration before now (24h, 7d)"
    )]
    BadTime { flag: &'static str, text: String },
    #[error("--since ({since}) is after --until ({until})")]
    SinceAfterUntil { since: String, until: String },
    #[error("--manifest needs --output FILE (a manifest describes a file)")]
    ManifestNeedsFile,
    #[error("cannot write the output {}: {source}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no hash chain has instance id `{instance}` (chains: {})", list(known))]
    UnknownInstance {
        instance: String,
        known: Vec<String>,
    },
    #[error(
        "--after counts in one chain, and the ledger has several: name one with --instance (chains: {})",
        list(known)
    )]
    AfterNeedsInstance { known: Vec<String> },
    #[error("cursor file {}: {reason}", path.display())]
    Cursor { path: PathBuf, reason: String },
    #[error(
        "--cursor cannot be combined with --since or --until: the cursor moves to each chain's \
         watermark, so rows below it outside the time range would never be exported; filter the \
         exported file by time instead, or use --after SEQ"
    )]
    CursorWithTimeRange,
    #[error("cannot finish writing {what} {}: {source}{then}", path.display())]
    Finish {
        what: &'static str,
        /// What it means for the export, when more than that it failed.
        then: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the export: {source}")]
    Write {
        #[source]
        source: std::io::Error,
    },
    #[error("reading the SQLite ledger file: {source}")]
    ReadFile {
        #[from]
        source: rusqlite::Error,
    },
    #[error("reading the {backend} ledger: {source}")]
    Read {
        backend: Backend,
        #[source]
        source: sqlx::Error,
    },
}

impl ExportError {
    /// Whether the caller gave a bad value (exit 2) rather than the export
    /// failing on the way (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ExportError::BadTime { .. }
                | ExportError::SinceAfterUntil { .. }
                | ExportError::ManifestNeedsFile
                | ExportError::Output { .. }
                | ExportError::Cursor { .. }
                | ExportError::CursorWithTimeRange
                | ExportError::UnknownInstance { .. }
                | ExportError::AfterNeedsInstance { .. }
        )
    }

    /// Whether the output stream was closed by its reader (e.g. `| head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ExportError::Write { source } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none yet".to_string()
    } else {
        ids.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn compression_comes_from_the_flag_else_the_extension() {
        let r = Compression::resolve;
        assert_eq!(r(None, Some(Path::new("a.csv.gz"))), Compression::Gzip);
        assert_eq!(r(None, Some(Path::new("a.jsonl.zst"))), Compression::Zstd);
        assert_eq!(r(None, Some(Path::new("a.csv.gzip"))), Compression::Gzip);
        assert_eq!(r(None, Some(Path::new("a.csv.zstd"))), Compression::Zstd);
        assert_eq!(r(None, Some(Path::new("a.csv"))), Compression::None);
        assert_eq!(r(None, None), Compression::None);
        let flag = Some(Compression::Zstd);
        assert_eq!(r(flag, Some(Path::new("a.gz"))), Compression::Zstd);
    }
}
