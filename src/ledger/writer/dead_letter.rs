//! The dead-letter file: entries the database refused even one at a time,
//! appended as JSON lines so that none is lost and an operator can replay
//! them once the cause is fixed.
//!
//! Each line is `{"dead_lettered_at_us", "error", "entry"}`; `entry` is the
//! [`Entry`] as serde writes it. Deciding *when* an entry is dead-lettered is
//! the worker's business, not this module's.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::ledger::entry::Entry;

/// Why the dead-letter file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot create the dead-letter directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot append to the dead-letter file {}: {source}", path.display())]
    Append {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize entry `{request_id}` for the dead-letter file: {source}")]
    Serialize {
        request_id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One line of the dead-letter file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub dead_lettered_at_us: i64,
    /// The database's refusal, as logged.
    pub error: String,
    pub entry: Entry,
}

/// Appends `entries` to the JSON-lines file at `path` in one write, creating
/// the file and its directory when missing.
pub async fn append(path: &Path, entries: &[Entry], error: &str) -> Result<(), DeadLetterError> {
    let now = crate::db::now_us();
    let mut buf = Vec::with_capacity(entries.len() * 512);
    for entry in entries {
        let line = DeadLetter {
            dead_lettered_at_us: now,
            error: error.to_string(),
            entry: entry.clone(),
        };
        serde_json::to_writer(&mut buf, &line).map_err(|source| DeadLetterError::Serialize {
            request_id: entry.request_id.clone(),
            source,
        })?;
        buf.push(b'\n');
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| DeadLetterError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    let append_err = |source| DeadLetterError::Append {
        path: path.to_path_buf(),
        source,
    };
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
        .map_err(append_err)?;
    file.write_all(&buf).await.map_err(append_err)?;
    file.sync_data().await.map_err(append_err)
}

/// Reads every line of a dead-letter file back (for tests and replay).
pub async fn read(path: &Path) -> Result<Vec<DeadLetter>, std::io::Error> {
    let text = tokio::fs::read_to_string(path).await?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}
