//! The spool seen from outside the server (`tokctl ledger spool status`):
//! how far the database has committed this gateway's chain and how many
//! spooled entries lie above that. Each way the answer can be unknown is
//! a state of its own, for the caller to say.

use crate::config::Loaded;
use crate::db::open::{Presence, Role, open};
use crate::errors::chain;
use crate::ledger::chain::start;

/// This gateway's committed watermark and the spool's backlog above it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// The gateway has never started: no instance id, so no chain.
    NoInstance,
    /// The instance id could not be read (why).
    UnknownInstance(String),
    /// The ledger database could not be opened (why).
    Unreachable { instance_id: String, why: String },
    /// The database holds no chain for this instance yet: every spooled
    /// entry is backlog.
    NoChain { instance_id: String, backlog: i64 },
    /// The committed watermark and the entries above it.
    Committed {
        instance_id: String,
        watermark: i64,
        backlog: i64,
    },
    /// The watermark could not be read (why).
    Unknown { instance_id: String, why: String },
}

impl Checkpoint {
    /// Reads the checkpoint for a spool whose newest entry is `last`.
    pub async fn read(loaded: &Loaded, last: i64) -> Checkpoint {
        let instance_id = match start::existing_instance_id(&loaded.config.ledger.chain) {
            Ok(Some(id)) => id,
            Ok(None) => return Checkpoint::NoInstance,
            Err(e) => return Checkpoint::UnknownInstance(e.to_string()),
        };
        let db = match open(loaded, Role::Ledger, Presence::MustExist).await {
            Ok((db, _)) => db,
            Err(e) => {
                let why = chain(&e);
                return Checkpoint::Unreachable { instance_id, why };
            }
        };
        let wm = start::stored_watermark(&db, &instance_id).await;
        db.close().await;
        match wm {
            Ok(Some(watermark)) => Checkpoint::Committed {
                instance_id,
                watermark,
                backlog: (last - watermark).max(0),
            },
            Ok(None) => Checkpoint::NoChain {
                instance_id,
                backlog: last,
            },
            Err(e) => Checkpoint::Unknown {
                instance_id,
                why: e.to_string(),
            },
        }
    }

    pub fn instance_id(&self) -> Option<&str> {
        match self {
            Checkpoint::NoInstance | Checkpoint::UnknownInstance(_) => None,
            Checkpoint::Unreachable { instance_id, .. }
            | Checkpoint::NoChain { instance_id, .. }
            | Checkpoint::Committed { instance_id, .. }
            | Checkpoint::Unknown { instance_id, .. } => Some(instance_id),
        }
    }

    pub fn watermark(&self) -> Option<i64> {
        match self {
            Checkpoint::Committed { watermark, .. } => Some(*watermark),
            _ => None,
        }
    }

    /// Entries to replay, when known.
    pub fn backlog(&self) -> Option<i64> {
        match self {
            Checkpoint::Committed { backlog, .. } | Checkpoint::NoChain { backlog, .. } => {
                Some(*backlog)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load};

    fn loaded(dir: &std::path::Path, extra: &str) -> Loaded {
        let path = dir.join("config.toml");
        std::fs::write(&path, format!("[ledger]\npath = \"ledger.db\"\n{extra}"))
            .expect("write the config");
        load(&LoadOptions {
            config_path: Some(path),
            flags: Vec::new(),
            env: Some(Vec::new()),
            cwd: Some(dir.to_path_buf()),
        })
        .expect("the config loads")
    }

    #[tokio::test]
    async fn each_state_of_the_checkpoint_is_told_apart() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let fresh = loaded(dir.path(), "");
        assert_eq!(Checkpoint::read(&fresh, 5).await, Checkpoint::NoInstance);

        let named = loaded(dir.path(), "[ledger.chain]\ninstance_id = \"gw-1\"\n");
        let missing = Checkpoint::read(&named, 5).await;
        match &missing {
            Checkpoint::Unreachable { instance_id, why } => {
                assert_eq!(instance_id, "gw-1");
                assert!(why.contains("no ledger at"), "{why}");
            }
            other => panic!("a missing ledger file is unreachable, got {other:?}"),
        }
        assert_eq!(missing.backlog(), None);

        let (db, dsn) = open(&named, Role::Ledger, Presence::MayCreate)
            .await
            .expect("the ledger opens");
        crate::db::migrate::apply(&db, &dsn, &|| {})
            .await
            .expect("migrated");
        db.close().await;
        let empty = Checkpoint::read(&named, 5).await;
        assert_eq!(
            empty,
            Checkpoint::NoChain {
                instance_id: "gw-1".into(),
                backlog: 5
            }
        );
        assert_eq!(
            (empty.instance_id(), empty.backlog()),
            (Some("gw-1"), Some(5))
        );
        assert_eq!(empty.watermark(), None);
    }
}
