//! `tokctl ledger export`: ledger rows streamed from the database to CSV or
//! JSON lines, optionally compressed, with a manifest and a cursor file for
//! incremental exports.
//!
//! Rows are read through the ledger's one read path ([`crate::ledger::scan`]);
//! this module owns what becomes of them. Memory stays flat however many
//! rows: each row, borrowed (not copied) from the driver's buffers, is
//! encoded into a fixed-size buffer and written through. A file is written under a
//! temporary name and renamed at the end ([`sink`]), so an interrupted or
//! failed export never leaves a file that looks complete.
//!
//! Incremental exports go chain by chain, by sequence number, up to each
//! chain's committed watermark ([`run`] says why). A full export of a SQLite
//! ledger file, on a machine with two cores, is read by two connections at
//! once, in slices of the time order written out in order ([`parallel`]);
//! otherwise encoding overlaps reading on a second thread ([`pipeline`]).

mod cells;
mod manifest;
mod parallel;
mod pipeline;
mod row;
mod run;
mod sink;

use std::path::PathBuf;

pub use crate::ledger::scan::{Filter, FilterError, ScanError, format_time, parse_time};
pub use manifest::{ChainSpan, Cursor, Manifest};
pub use row::{ExportRow, columns, push_nano_decimal, push_rfc3339};
pub use run::{Export, ExportReport};
pub use sink::Destination;
pub(crate) use sink::write_atomic;

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
    #[error(transparent)]
    Filter(#[from] FilterError),
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
    #[error(transparent)]
    Scan(#[from] ScanError),
}

/// The SQLite file's direct reader fails with rusqlite's errors: a failed
/// scan, as sqlx's are.
impl From<rusqlite::Error> for ExportError {
    fn from(source: rusqlite::Error) -> Self {
        ExportError::Scan(ScanError::from(source))
    }
}

impl ExportError {
    /// Whether the caller gave a bad value (exit 2) rather than the export
    /// failing on the way (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ExportError::Filter(_)
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
