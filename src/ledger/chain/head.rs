//! The head file: the chain's committed head (watermark and its hash),
//! kept outside the database.
//!
//! Written at intervals and at shutdown, always under a temporary name,
//! synced, then renamed and the directory synced, so after a crash or a
//! power loss it is the last one written, whole, or the one before. Because it holds the committed
//! watermark, never a newer uncommitted number, a crash cannot make it
//! claim more than the database holds; so when the database ends below
//! it, entries were deleted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Hash;

/// The head file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub instance_id: String,
    pub seq: i64,
    /// The hash at `seq`, when known (a lost entry's is not).
    #[serde(default, with = "opt_hex")]
    pub hash: Option<Hash>,
    pub written_at_us: i64,
}

/// Why the head file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("cannot read the chain head file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the chain head file {} is not a chain head ({source}); move it away if it is not tokctl's", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no chain head file {}: a head file given to check a chain against must exist", path.display())]
    Missing { path: PathBuf },
    #[error("cannot write the chain head file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HeadError {
    /// Whether the caller named a file that is not there (exit 2), rather
    /// than a head file failing to read (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, HeadError::Missing { .. })
    }
}

/// The head files to check chains against: each of `given` (which must
/// exist), or when none is given the configured one, if it exists yet.
pub fn read_all(configured: &Path, given: &[PathBuf]) -> Result<Vec<Head>, HeadError> {
    if given.is_empty() {
        return Ok(read(configured)?.into_iter().collect());
    }
    given
        .iter()
        .map(|p| read(p)?.ok_or_else(|| HeadError::Missing { path: p.clone() }))
        .collect()
}

/// Reads the head file; `None` when there is none yet.
pub fn read(path: &Path) -> Result<Option<Head>, HeadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(HeadError::Read {
                path: path.into(),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| HeadError::Parse {
            path: path.into(),
            source,
        })
}

/// Writes the head file atomically and durably: a temporary file in the
/// same directory, fsynced, renamed over it, the directory fsynced (the
/// export's atomic writer). Without the syncs a power loss could leave the
/// rename on disk before the bytes (an empty head file) or lose the rename.
pub fn write(path: &Path, head: &Head) -> Result<(), HeadError> {
    let err = |source| HeadError::Write {
        path: path.into(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let text = serde_json::to_string_pretty(head).unwrap_or_default() + "\n";
    crate::ledger::export::write_atomic(path, text.as_bytes()).map_err(err)
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::Hash;

    pub fn serialize<S: Serializer>(h: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_str(crate::ledger::chain::hex_hash::encode(h, &mut [0u8; 64])),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => crate::ledger::chain::hex_hash::parse(&s)
                .map(Some)
                .ok_or_else(|| D::Error::custom("expected 64 hex digits")),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/head.json");
        assert_eq!(read(&path).unwrap(), None);
        let head = Head {
            instance_id: "gw".into(),
            seq: 9,
            hash: Some([7; 32]),
            written_at_us: 1,
        };
        write(&path, &head).unwrap();
        assert_eq!(read(&path).unwrap(), Some(head.clone()));
        let newer = Head {
            seq: 10,
            ..head.clone()
        };
        write(&path, &newer).unwrap();
        assert_eq!(read(&path).unwrap(), Some(newer.clone()));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["head.json"], "no temporary file is left beside it");
        // Given files must exist; the configured one may not yet.
        let given = [path.clone()];
        assert_eq!(read_all(&dir.path().join("none"), &given).unwrap(), [newer]);
        assert!(read_all(&dir.path().join("none"), &[]).unwrap().is_empty());
        let missing = read_all(&path, &[dir.path().join("none")]).unwrap_err();
        assert!(missing.is_usage(), "{missing}");
        std::fs::write(&path, "nope").unwrap();
        assert!(
            read(&path)
                .unwrap_err()
                .to_string()
                .contains("not a chain head")
        );
    }
}
