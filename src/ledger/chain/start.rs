//! Opening this instance's chain at start-up: its name, its row in
//! `ledger_chains`, where numbering continues, and the gaps a crash left.
//!
//! Numbering continues after the newest number anywhere: the database, the
//! spool (entries to replay) or the head file. Numbers between the
//! watermark and the newest stored one that are neither stored nor in the
//! spool were lost in a crash with the spool off; they become gap rows
//! (`lost_in_crash`) so the watermark can pass them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::Row;
use tracing::warn;

use super::head::{self, Head, HeadError};
use super::{ChainKey, GENESIS, Gap, Hash, hash_from_bytes};
use crate::config::ChainConfig;
use crate::db::{Db, on_pool};
use crate::ledger::store::StoreError;

/// Why the chain could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("cannot {action} the instance id file {}: {source}", path.display())]
    InstanceFile {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "ledger.chain.instance_id `{0}` is not a valid name: use 1 to 64 letters, digits, `.`, `_` or `-`"
    )]
    BadInstanceId(String),
    #[error(
        "the chain of instance `{instance}` is hashed {stored}, but ledger.chain.hmac_key gives {configured}; \
         set the key it was started with, or give this gateway a new ledger.chain.instance_id"
    )]
    KeyMismatch {
        instance: String,
        stored: String,
        configured: String,
    },
}

/// Where this instance's chain stands at start-up.
#[derive(Debug, Clone)]
pub struct Opened {
    pub instance_id: String,
    /// The committed watermark in the database and the hash at it.
    pub watermark: i64,
    pub watermark_hash: Option<Hash>,
    /// The newest number in the database (entries and gaps) and its hash.
    pub stored_head: i64,
    pub stored_head_hash: Option<Hash>,
    /// The head file, when it names this instance.
    pub head_file: Option<Head>,
}

/// This gateway's instance id: configured, else the one kept in
/// `instance_id_path`, else a new one written there.
pub fn instance_id(cfg: &ChainConfig) -> Result<String, ChainError> {
    if !cfg.instance_id.is_empty() {
        return check_name(&cfg.instance_id);
    }
    let path = Path::new(&cfg.instance_id_path);
    let fail = |action| {
        move |source| ChainError::InstanceFile {
            action,
            path: path.into(),
            source,
        }
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return check_name(text.trim()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("read")(e)),
    }
    let id = format!("gw-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail("create the directory of"))?;
    }
    std::fs::write(path, format!("{id}\n")).map_err(fail("write"))?;
    Ok(id)
}

fn check_name(id: &str) -> Result<String, ChainError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(ChainError::BadInstanceId(id.to_string()))
    }
}

/// How a chain is hashed, in words, for key-mismatch errors.
pub fn describe(keyed: bool, key_id: Option<&str>) -> String {
    match (keyed, key_id) {
        (true, Some(id)) => format!("with HMAC key id {id}"),
        (true, None) => "with an HMAC key".into(),
        (false, _) => "with plain SHA-256 (no key)".into(),
    }
}

/// Registers the chain (first start) or checks that the configured key is
/// the one it was started with, records its baseline if it has none
/// ([`record_baseline`]), and reads where it stands.
pub async fn open(db: &Db, cfg: &ChainConfig, key: &ChainKey) -> Result<Opened, ChainError> {
    let instance_id = instance_id(cfg)?;
    let q = |what: &str| StoreError::query(db, format!("{what} of chain `{instance_id}`"));
    const REGISTER: &str = "INSERT INTO ledger_chains (instance_id, keyed, key_id, started_at_us, \
        watermark_seq, updated_at_us) VALUES ($1, $2, $3, $4, 0, $4) ON CONFLICT DO NOTHING";
    const READ: &str = "SELECT keyed, key_id, watermark_seq, watermark_hash, baseline_rows \
        FROM ledger_chains WHERE instance_id = $1";
    let now = crate::db::now_us();
    type Read = (bool, Option<String>, i64, Option<Vec<u8>>, Option<i64>);
    let (registered, read) = on_pool!(db, p => {
        let r = sqlx::query(REGISTER)
            .bind(&instance_id)
            .bind(key.is_keyed())
            .bind(key.key_id())
            .bind(now)
            .execute(p)
            .await
            .map_err(q("registering"))?;
        let read = sqlx::query_as::<_, Read>(READ)
            .bind(&instance_id)
            .fetch_one(p)
            .await;
        (r.rows_affected() == 1, read)
    });
    let (keyed, key_id, watermark, wm_hash, baseline) = read.map_err(q("reading the watermark"))?;
    if keyed != key.is_keyed() || key_id.as_deref() != key.key_id() {
        return Err(ChainError::KeyMismatch {
            instance: instance_id,
            stored: describe(keyed, key_id.as_deref()),
            configured: describe(key.is_keyed(), key.key_id()),
        });
    }
    if baseline.is_none() {
        record_baseline(db, key, &instance_id, registered).await?;
    }
    let (stored_head, stored_head_hash) = stored_head(db, &instance_id).await?;
    let head_file = head::read(Path::new(&cfg.head_file))?.filter(|h| h.instance_id == instance_id);
    Ok(Opened {
        instance_id,
        watermark,
        watermark_hash: wm_hash.as_deref().and_then(hash_from_bytes),
        stored_head,
        stored_head_hash,
        head_file,
    })
}

/// Records the chain's baseline: how many rows stand outside every chain
/// and the highest id among them, MAC'd under the chain's key, so that
/// `verify` can tell the rows that were there before the chains (which no
/// chain protects) from rows inserted since, whatever their `created_at_us`
/// says. Run once per chain: when it is registered (`new`), or, for a
/// chain begun before migration 0005, at its gateway's first start after
/// it (the migration's SQL has no key to MAC with). A new chain counts
/// every row outside every chain; an old one only those older than the
/// first chain, since rows written after it are no part of the baseline.
pub async fn record_baseline(
    db: &Db,
    key: &ChainKey,
    instance_id: &str,
    new: bool,
) -> Result<(), StoreError> {
    // Outside every chain, as `verify` counts them (verify.rs, `unchained`).
    const ALL: &str = "SELECT COUNT(*), MAX(id) FROM usage_entries \
        WHERE seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)";
    const OLDER: &str = "SELECT COUNT(*), MAX(id) FROM usage_entries \
        WHERE (seq IS NULL OR instance_id IS NULL \
        OR instance_id NOT IN (SELECT instance_id FROM ledger_chains)) \
        AND created_at_us < (SELECT MIN(started_at_us) FROM ledger_chains)";
    const RECORD: &str = "UPDATE ledger_chains SET baseline_rows = $1, baseline_max_id = $2, \
        baseline_mac = $3 WHERE instance_id = $4 AND baseline_rows IS NULL";
    let sql = if new { ALL } else { OLDER };
    let ctx = |what: &str| StoreError::query(db, format!("{what} of chain `{instance_id}`"));
    let (rows, max_id): (i64, Option<i64>) =
        on_pool!(db, p => sqlx::query_as(sql).fetch_one(p).await).map_err(ctx(
            "counting the rows outside every chain for the baseline",
        ))?;
    let mac = key.baseline_mac(instance_id, rows, max_id);
    on_pool!(db, p => sqlx::query(RECORD)
        .bind(rows)
        .bind(max_id)
        .bind(mac.as_slice())
        .bind(instance_id)
        .execute(p)
        .await
        .map(|_| ()))
    .map_err(ctx("recording the baseline"))?;
    if !new {
        warn!(
            "chain `{instance_id}` had no baseline of the rows outside every chain (it was begun \
             before migration 0005): recorded now, {rows} rows older than the first chain, up to \
             id {}. If this chain was begun after that migration, its baseline was removed behind \
             the gateway's back: rows inserted before now are taken into it",
            max_id.map_or("-".to_string(), |m| m.to_string())
        );
    }
    Ok(())
}

/// The chain's committed watermark as stored, or `None` when the chain is not
/// registered yet (for `ledger spool status`, which changes nothing).
pub async fn stored_watermark(db: &Db, instance_id: &str) -> Result<Option<i64>, StoreError> {
    const SQL: &str = "SELECT watermark_seq FROM ledger_chains WHERE instance_id = $1";
    let ctx = StoreError::query(
        db,
        format!("reading the watermark of chain `{instance_id}`"),
    );
    on_pool!(db, p => sqlx::query_scalar(SQL)
        .bind(instance_id)
        .fetch_optional(p)
        .await)
    .map_err(ctx)
}

/// This gateway's instance id if it has one yet (configured, or kept in
/// `instance_id_path`), without making one.
pub fn existing_instance_id(cfg: &ChainConfig) -> Result<Option<String>, ChainError> {
    if cfg.instance_id.is_empty() && !Path::new(&cfg.instance_id_path).exists() {
        return Ok(None);
    }
    instance_id(cfg).map(Some)
}

/// The newest number stored for the chain (entries or gaps) and its hash
/// (`GENESIS` for an empty chain; `None` for a gap whose hash is unknown).
pub async fn stored_head(db: &Db, instance_id: &str) -> Result<(i64, Option<Hash>), StoreError> {
    const SQL: &str = "SELECT seq, entry_hash FROM ( \
          SELECT seq, entry_hash FROM usage_entries WHERE instance_id = $1 \
          UNION ALL SELECT seq, entry_hash FROM ledger_gaps WHERE instance_id = $1 \
        ) t ORDER BY seq DESC LIMIT 1";
    let ctx = StoreError::query(
        db,
        format!("reading the newest entry of chain `{instance_id}`"),
    );
    let row = on_pool!(db, p => sqlx::query(SQL)
        .bind(instance_id)
        .fetch_optional(p)
        .await
        .map(|r| r.map(|r| (r.get::<i64, _>(0), r.get::<Option<Vec<u8>>, _>(1)))))
    .map_err(ctx)?;
    Ok(match row {
        Some((seq, hash)) => (seq, hash.as_deref().and_then(hash_from_bytes)),
        None => (0, Some(GENESIS)),
    })
}

/// The numbers in `(above, up_to]` stored for the chain, entries and gaps.
pub async fn stored_numbers(
    db: &Db,
    instance_id: &str,
    above: i64,
    up_to: i64,
) -> Result<BTreeSet<i64>, StoreError> {
    const SQL: &str = "SELECT seq FROM usage_entries WHERE instance_id = $1 AND seq > $2 AND seq <= $3 \
        UNION SELECT seq FROM ledger_gaps WHERE instance_id = $1 AND seq > $2 AND seq <= $3";
    let ctx = StoreError::query(
        db,
        format!("reading the unsettled numbers of chain `{instance_id}`"),
    );
    let seqs: Vec<i64> = on_pool!(db, p => sqlx::query_scalar(SQL)
        .bind(instance_id)
        .bind(above)
        .bind(up_to)
        .fetch_all(p)
        .await)
    .map_err(ctx)?;
    Ok(seqs.into_iter().collect())
}

/// Gap rows for the numbers in `(watermark, up_to]` that are neither stored
/// nor `elsewhere` (in the spool): entries lost with the process, or
/// unreadable in the spool.
pub async fn lost_numbers(
    db: &Db,
    key: &ChainKey,
    instance_id: &str,
    watermark: i64,
    up_to: i64,
    reason: &str,
    elsewhere: impl Fn(i64) -> bool,
) -> Result<Vec<Gap>, StoreError> {
    if up_to <= watermark {
        return Ok(Vec::new());
    }
    let stored = stored_numbers(db, instance_id, watermark, up_to).await?;
    Ok((watermark + 1..=up_to)
        .filter(|s| !stored.contains(s) && !elsewhere(*s))
        .map(|s| key.gap(instance_id, s, None, reason, None))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_kept_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ChainConfig {
            instance_id_path: dir.path().join("d/instance-id").display().to_string(),
            ..ChainConfig::default()
        };
        let a = instance_id(&cfg).unwrap();
        assert!(a.starts_with("gw-"));
        assert_eq!(instance_id(&cfg).unwrap(), a, "kept across starts");
        let named = ChainConfig {
            instance_id: "east-1".into(),
            ..cfg.clone()
        };
        assert_eq!(instance_id(&named).unwrap(), "east-1");
        let bad = ChainConfig {
            instance_id: "a b".into(),
            ..cfg
        };
        assert!(matches!(
            instance_id(&bad),
            Err(ChainError::BadInstanceId(_))
        ));
    }
}
