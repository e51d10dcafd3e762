//! The identity snapshot: every API key's hash, its user's state and its
//! limits, kept in a local file (`identity.snapshot_path`) while the
//! identity database answers, so that a gateway started during an outage
//! of that database still authenticates the keys it knew (#29, fault 2).
//!
//! The file holds SHA-256 hashes of keys, never keys, and is written with
//! mode 0600 by rename, so a reader never sees half of it. Keys from it are
//! served as a stale cache is during an outage: revocations, disabled users
//! and new keys made during the outage take effect once the database
//! answers again (the first lookup that answers ends the outage, and each
//! key is looked up afresh on its next use).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cache::Authenticator;
use super::records::KeyRecord;
use super::store;
use crate::db::{Db, now_us};

/// How often the snapshot is rewritten while the database answers.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(30);

/// Why the snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot write the identity snapshot {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the identity snapshot {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the identity snapshot {} is not valid ({source}); it is rewritten once the identity database answers",
        path.display()
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Query(#[from] super::IdentityError),
}

#[derive(Serialize, Deserialize)]
struct File {
    /// Format of this file; 1 so far.
    version: u32,
    written_at_us: i64,
    keys: Vec<Key>,
}

#[derive(Serialize, Deserialize)]
struct Key {
    key_hash: String,
    #[serde(flatten)]
    record: KeyRecord,
}

/// Reads every key from `db` and replaces the file at `path` with them;
/// returns how many keys it holds.
pub async fn write(db: &Db, path: &Path) -> Result<usize, SnapshotError> {
    let keys = store::all_key_records(db).await?;
    let n = keys.len();
    let file = File {
        version: 1,
        written_at_us: now_us(),
        keys: keys
            .into_iter()
            .map(|(key_hash, record)| Key { key_hash, record })
            .collect(),
    };
    let fail = |source| SnapshotError::Write {
        path: path.into(),
        source,
    };
    let text = serde_json::to_vec(&file).map_err(|e| fail(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        f.write_all(&text).map_err(fail)?;
        f.sync_data().map_err(fail)?;
    }
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(n)
}

/// A snapshot as read back.
#[derive(Debug)]
pub struct Snapshot {
    pub written_at_us: i64,
    /// Each key's hash (hex) and state.
    pub keys: Vec<(String, KeyRecord)>,
}

/// The snapshot at `path`; `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Snapshot>, SnapshotError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Read {
                path: path.into(),
                source,
            });
        }
    };
    let file: File = serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Parse {
        path: path.into(),
        source,
    })?;
    let keys = file
        .keys
        .into_iter()
        .map(|k| (k.key_hash, k.record.compiled()))
        .collect();
    Ok(Some(Snapshot {
        written_at_us: file.written_at_us,
        keys,
    }))
}

/// Rewrites the snapshot now and every [`SNAPSHOT_EVERY`] while the
/// database answers (a failure is logged once per outage, not each time).
pub fn spawn_keeper(db: Db, path: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            match write(&db, &path).await {
                Ok(n) => {
                    if failing {
                        tracing::info!(
                            "identity snapshot {} written again ({n} keys)",
                            path.display()
                        );
                    }
                    failing = false;
                }
                Err(e) if !failing => {
                    tracing::warn!("{e}; kept as it was, retried every {SNAPSHOT_EVERY:?}");
                    failing = true;
                }
                Err(e) => tracing::debug!("{e}"),
            }
            tokio::time::sleep(SNAPSHOT_EVERY).await;
        }
    })
}

impl Authenticator {
    /// Loads a snapshot's keys as stale cache entries and takes the
    /// database as failing: the keys are served without waiting on it, and
    /// the first lookup that answers ends the outage. Returns how many keys
    /// were loaded.
    pub fn seed(&self, keys: Vec<(String, KeyRecord)>) -> usize {
        let long_ago = Instant::now()
            .checked_sub(self.inner.ttl + Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        let mut n = 0;
        for (hash, record) in keys {
            let mut digest = [0u8; 32];
            if hex::decode_to_slice(&hash, &mut digest).is_ok() {
                self.insert_found_at(digest, record, long_ago);
                n += 1;
            }
        }
        self.inner.db_state.failed();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_snapshot_is_none_and_a_bad_one_names_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("snap.json");
        assert!(read(&p).expect("no file is fine").is_none());
        std::fs::write(&p, b"{not json").expect("write");
        let e = read(&p).expect_err("bad JSON");
        assert!(e.to_string().contains("snap.json"), "{e}");
    }

    /// The snapshot carries each key's team and allow-lists (compiled when
    /// read), so a gateway started during an outage still stamps entries
    /// with the team and refuses what the lists refuse; a snapshot written
    /// before teams reads as no team and no lists.
    /// Writes a snapshot of one key with `record` at `p` and reads it back.
    fn round_trip(p: &std::path::Path, record: KeyRecord) -> Snapshot {
        let file = File {
            version: 1,
            written_at_us: 0,
            keys: vec![Key {
                key_hash: "ab".into(),
                record,
            }],
        };
        std::fs::write(p, serde_json::to_vec(&file).expect("json")).expect("write");
        read(p).expect("read").expect("there")
    }

    #[test]
    fn team_and_lists_survive_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("snap.json");
        let record = KeyRecord {
            key_id: 1,
            user_id: 2,
            user_name: "bob".into(),
            team_id: Some(3),
            key_models: Some("gpt-*".into()),
            team_models: Some("*-mini".into()),
            ..KeyRecord::default()
        };
        let back = round_trip(&p, record);
        let r = &back.keys[0].1;
        assert_eq!(r.team_id, Some(3));
        let access = r.access.as_ref().expect("compiled");
        assert!(access.allows("gpt-4o-mini") && !access.allows("gpt-4o"));

        let old = r#"{"version":1,"written_at_us":0,"keys":[{"key_hash":"ab","key_id":1,
            "user_id":2,"user_name":"bob","user_disabled":false,"expires_at_us":null,
            "revoked_at_us":null,"rps":null,"burst":null,"tokens_per_minute":null}]}"#;
        std::fs::write(&p, old).expect("write");
        let back = read(&p).expect("read").expect("there");
        assert_eq!(back.keys[0].1.team_id, None);
        assert!(back.keys[0].1.access.is_none());
        assert!(back.keys[0].1.budgets.is_none());
    }

    /// The budget columns of key, user and team travel in the snapshot and
    /// are compiled into budgets when read.
    #[test]
    fn budgets_survive_the_snapshot() {
        use crate::budget::{Scope, Window};
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("snap.json");
        let record = KeyRecord {
            key_id: 1,
            user_id: 2,
            user_name: "bob".into(),
            team_id: Some(3),
            key_budget_nano: Some(500_000_000),
            key_budget_window: Some("1h".into()),
            key_budget_soft_percent: Some(80),
            key_budget_anchor_us: Some(42),
            team_budget_nano: Some(7),
            team_budget_window: Some("daily".into()),
            ..KeyRecord::default()
        };
        let back = round_trip(&p, record);
        let b = back.keys[0].1.budgets.as_deref().expect("budgets");
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].scope, b[0].id, b[0].limit_nano),
            (Scope::Key, 1, 500_000_000)
        );
        assert_eq!(b[0].window, Window::Every(Duration::from_secs(3600)));
        assert_eq!((b[0].anchor_us, b[0].soft_percent), (42, Some(80)));
        assert_eq!(
            (b[1].scope, b[1].id, b[1].window),
            (Scope::Team, 3, Window::Daily)
        );
    }
}
