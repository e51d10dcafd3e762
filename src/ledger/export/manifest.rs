//! The files written beside an export: the manifest (`<output>.manifest.json`,
//! so a receiver can check what it got) and the cursor file of incremental
//! exports (how far each hash chain was exported). Both are written
//! atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::run::ExportReport;
use super::sink::write_atomic;
use super::{ExportError, ExportOptions, Filter, columns};
use crate::ledger::scan::format_time;

/// What a manifest says about its export file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Bumped when a field changes meaning.
    pub manifest_version: u32,
    /// The export file's name (same directory as the manifest).
    pub file: String,
    /// SHA-256 (hex) of the file's bytes as stored (compressed, if it is).
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
    pub format: String,
    pub compression: String,
    pub columns: Vec<String>,
    pub excel_safe: bool,
    pub filters: ManifestFilters,
    /// `created_at` of the earliest and latest exported row (RFC 3339 UTC).
    pub first_created_at: Option<String>,
    pub last_created_at: Option<String>,
    /// Row ids of the first and last exported row, in export order.
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
    pub exported_at: String,
    pub tokctl_version: String,
    /// Per hash chain in the export: the last exported row's sequence number
    /// and hash (the head the export ends at), so a receiver can check the
    /// chain link by link up to it.
    pub chains: Vec<ChainSpan>,
}

/// The part of one hash chain an export holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChainSpan {
    pub instance_id: String,
    pub rows: u64,
    pub first_seq: i64,
    pub last_seq: i64,
    /// `entry_hash` (hex) of the row at `last_seq`.
    pub last_entry_hash: String,
    /// For incremental exports: the committed watermark the export stopped
    /// at (the cursor's new position for this chain).
    pub watermark_seq: Option<i64>,
}

/// The filters of the export, as given (times in RFC 3339 UTC).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFilters {
    pub since: Option<String>,
    pub until: Option<String>,
    pub user: Option<String>,
    pub key: Option<i64>,
    pub model: Option<String>,
    pub status: Option<i32>,
    pub instance: Option<String>,
    /// For incremental exports: where each chain's export started (exclusive).
    pub after_seq: BTreeMap<String, i64>,
}

impl From<&Filter> for ManifestFilters {
    fn from(f: &Filter) -> Self {
        ManifestFilters {
            since: f.since_us.map(format_time),
            until: f.until_us.map(format_time),
            user: f.user.clone(),
            key: f.key,
            model: f.model.clone(),
            status: f.status,
            instance: f.instance.clone(),
            after_seq: BTreeMap::new(),
        }
    }
}

impl Manifest {
    pub(crate) fn new(output: &Path, opts: &ExportOptions, r: &ExportReport) -> Manifest {
        Manifest {
            manifest_version: 2,
            file: output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: r.sha256.clone().unwrap_or_default(),
            bytes: r.bytes,
            rows: r.rows,
            format: opts.format.as_str().to_string(),
            compression: opts.compression.as_str().to_string(),
            columns: columns().iter().map(|c| c.to_string()).collect(),
            excel_safe: opts.excel_safe,
            filters: ManifestFilters {
                after_seq: r.after_seq.clone(),
                ..(&opts.filter).into()
            },
            first_created_at: r.min_created_us.map(format_time),
            last_created_at: r.max_created_us.map(format_time),
            first_id: r.first_id,
            last_id: r.last_id,
            exported_at: format_time(crate::db::now_us()),
            tokctl_version: env!("CARGO_PKG_VERSION").to_string(),
            chains: r.chains.clone(),
        }
    }

    /// The manifest's path for an export file: `<output>.manifest.json`.
    pub fn path_for(output: &Path) -> PathBuf {
        let mut s = output.as_os_str().to_owned();
        s.push(".manifest.json");
        PathBuf::from(s)
    }

    pub(crate) fn write(&self, output: &Path) -> Result<PathBuf, ExportError> {
        let path = Manifest::path_for(output);
        let mut text = serde_json::to_vec_pretty(self).map_err(|e| ExportError::Write {
            source: std::io::Error::other(e),
        })?;
        text.push(b'\n');
        write_atomic(&path, &text).map_err(|source| ExportError::Finish {
            what: "the manifest",
            then: "",
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// The position of an incremental export: per hash chain (by instance id),
/// the sequence number up to which it has been exported. Chains not named
/// start from the beginning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub chains: BTreeMap<String, i64>,
}

impl Cursor {
    /// The cursor in `path`, or `None` when the file does not exist yet
    /// (the first run exports from the beginning).
    pub fn read(path: &Path) -> Result<Option<Cursor>, ExportError> {
        let bad = |reason: String| ExportError::Cursor {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            bad(format!(
                "expected {{\"chains\": {{\"<instance id>\": <seq>, ...}}}}: {e}; \
                     delete the file to export from the beginning"
            ))
        })
    }

    /// Checks, before anything is exported, that the cursor file can be
    /// replaced: its directory exists and takes a new file (a temporary one,
    /// removed at once). Without this a cursor in a missing directory reads
    /// as "from the beginning", and its write fails only after the export
    /// file is in place, so the next run exports the same rows again.
    pub fn check_writable(path: &Path) -> Result<(), ExportError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        tempfile::Builder::new()
            .prefix(".tokctl.")
            .suffix(".partial")
            .tempfile_in(dir)
            .map(drop)
            .map_err(|e| ExportError::Cursor {
                path: path.to_path_buf(),
                reason: format!("cannot write in its directory {}: {e}", dir.display()),
            })
    }

    /// Replaces the cursor file atomically. It runs after the export file
    /// is in place, so a failure is the operation's (exit 1), not the caller's.
    pub fn write(&self, path: &Path) -> Result<(), ExportError> {
        let mut text = serde_json::to_vec(self).map_err(|e| ExportError::Write {
            source: std::io::Error::other(e),
        })?;
        text.push(b'\n');
        write_atomic(path, &text).map_err(|source| ExportError::Finish {
            what: "the cursor file",
            then: "; the export is in place but the cursor did not move, so the next run \
                   exports the same rows again",
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_a_missing_file_is_the_start() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("cursor.json");
        assert!(matches!(Cursor::read(&path), Ok(None)));
        assert!(Cursor::check_writable(&path).is_ok());
        let nowhere = dir.path().join("missing/cursor.json");
        let e = Cursor::check_writable(&nowhere).unwrap_err();
        assert!(e.is_usage() && e.to_string().contains("missing"), "{e}");
        let e = Cursor::default().write(&nowhere).unwrap_err();
        assert!(!e.is_usage(), "a failure after the export is exit 1: {e}");
        let c = Cursor {
            chains: BTreeMap::from([("gw-a".to_string(), 41), ("gw-b".to_string(), 7)]),
        };
        assert!(c.write(&path).is_ok());
        assert_eq!(Cursor::read(&path).ok().flatten(), Some(c));
        assert!(std::fs::write(&path, "garbage").is_ok());
        assert!(matches!(
            Cursor::read(&path),
            Err(ExportError::Cursor { .. })
        ));
    }

    #[test]
    fn manifest_sits_beside_the_output() {
        assert_eq!(
            Manifest::path_for(Path::new("/x/usage.csv.gz")),
            PathBuf::from("/x/usage.csv.gz.manifest.json")
        );
    }
}
