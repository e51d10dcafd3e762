//! Versioned schema migrations, embedded in the binary, per backend.
//!
//! sqlx applies them; this module adds what an operator needs around it:
//! a status that compares the database with the binary (applied, pending,
//! changed checksum, unknown to this binary), a lock around the whole step
//! ([`super::lock`]), and a backup of a SQLite file that already holds data
//! before anything is changed.

use std::path::{Path, PathBuf};

use sqlx::Row;
use sqlx::migrate::Migrator;

use super::{Backend, Db, DbError, Dsn, cause};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The migrations this binary carries for a backend.
pub fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The state of one migration version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Installed,
    Pending,
    /// Applied, but the database's checksum differs from the binary's.
    Different,
    /// Applied in the database, unknown to this binary (a newer tokctl ran).
    Unknown,
    /// Applied but marked as failed by sqlx.
    Failed,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Installed => "installed",
            State::Pending => "pending",
            State::Different => "different checksum",
            State::Unknown => "unknown to this binary",
            State::Failed => "failed",
        }
    }
}

/// One line of `migrate status`.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied_at: Option<String>,
    pub state: State,
}

/// Compares the database with the binary's migrations.
pub async fn status(db: &Db) -> Result<Vec<MigrationStatus>, DbError> {
    let applied = applied(db).await?;
    let m = migrator(db.backend());
    let mut out = Vec::new();
    for mig in m.iter().filter(|m| m.migration_type.is_up_migration()) {
        let found = applied.iter().find(|a| a.0 == mig.version);
        let (state, at) = match found {
            None => (State::Pending, None),
            Some((_, _, checksum, success, at)) => {
                let state = if !success {
                    State::Failed
                } else if checksum.as_slice() != &*mig.checksum {
                    State::Different
                } else {
                    State::Installed
                };
                (state, Some(at.clone()))
            }
        };
        out.push(MigrationStatus {
            version: mig.version,
            description: mig.description.to_string(),
            applied_at: at,
            state,
        });
    }
    for (version, description, _, _, at) in &applied {
        if !m.iter().any(|x| x.version == *version) {
            out.push(MigrationStatus {
                version: *version,
                description: description.clone(),
                applied_at: Some(at.clone()),
                state: State::Unknown,
            });
        }
    }
    out.sort_by_key(|s| s.version);
    Ok(out)
}

type AppliedRow = (i64, String, Vec<u8>, bool, String);

async fn applied(db: &Db) -> Result<Vec<AppliedRow>, DbError> {
    let q = |context: &str, e: sqlx::Error| DbError::Query {
        context: context.to_string(),
        target: target(db),
        source: e,
    };
    let exists: bool = match db {
        Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(p)
        .await
        .map(|n| n > 0),
        Db::Postgres(p) => {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(p)
                .await
        }
    }
    .map_err(|e| q("reading migration state", e))?;
    if !exists {
        return Ok(Vec::new());
    }
    let sql = "SELECT version, description, checksum, success, CAST(installed_on AS TEXT) AS at \
               FROM _sqlx_migrations ORDER BY version";
    let rows: Vec<AppliedRow> = match db {
        Db::Sqlite(p) => sqlx::query(sql).fetch_all(p).await.map(|rows| {
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect()
        }),
        Db::Postgres(p) => sqlx::query(sql).fetch_all(p).await.map(|rows| {
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect()
        }),
    }
    .map_err(|e| q("reading applied migrations", e))?;
    Ok(rows)
}

fn target(db: &Db) -> String {
    format!("{} database", db.backend())
}

/// A status list that must not be migrated over: names the versions.
pub fn check_drift(statuses: &[MigrationStatus]) -> Result<(), DbError> {
    let bad: Vec<String> = statuses
        .iter()
        .filter(|s| matches!(s.state, State::Different | State::Unknown | State::Failed))
        .map(|s| format!("{} ({}: {})", s.version, s.description, s.state.as_str()))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(DbError::Migrate(format!(
            "the database's migrations do not match this binary: {}; \
             use the tokctl version that applied them, or restore the schema",
            bad.join(", ")
        )))
    }
}

/// What `apply` did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub versions: Vec<i64>,
    pub backup: Option<PathBuf>,
}

/// Applies pending migrations. Takes the migration lock first (calling
/// `on_wait` once if another process holds it) and, when a SQLite file
/// already holds data and something is pending, keeps a `VACUUM INTO` copy
/// beside it.
pub async fn apply(db: &Db, dsn: &Dsn, on_wait: &(dyn Fn() + Sync)) -> Result<Applied, DbError> {
    // Held until this function returns, so that status, backup and apply
    // are one step and a second migrate waits, then finds nothing pending.
    let _lock = super::lock::migration_lock(db, dsn, on_wait).await?;
    let before = status(db).await?;
    check_drift(&before)?;
    let pending: Vec<i64> = before
        .iter()
        .filter(|s| s.state == State::Pending)
        .map(|s| s.version)
        .collect();
    if pending.is_empty() {
        return Ok(Applied::default());
    }
    let mut backup = None;
    if let (Dsn::Sqlite { path }, Db::Sqlite(pool)) = (dsn, db)
        && holds_data(pool).await?
    {
        let dest = backup_path(path);
        let dest_text = dest.to_string_lossy().replace('\'', "''");
        sqlx::query(&format!("VACUUM INTO '{dest_text}'"))
            .execute(pool)
            .await
            .map_err(|e| {
                DbError::Migrate(format!(
                    "backing up {} before migrating: {}",
                    path.display(),
                    cause(&e)
                ))
            })?;
        backup = Some(dest);
    }
    let m = migrator(db.backend());
    let result = match db {
        Db::Sqlite(p) => m.run(p).await,
        Db::Postgres(p) => m.run(p).await,
    };
    result
        .map_err(|e| DbError::Migrate(format!("applying migrations to {}: {e}", dsn.describe())))?;
    Ok(Applied {
        versions: pending,
        backup,
    })
}

async fn holds_data(pool: &sqlx::SqlitePool) -> Result<bool, DbError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| DbError::Migrate(format!("inspecting the SQLite file: {}", cause(&e))))?;
    Ok(n > 0)
}

fn backup_path(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".bak-{stamp}"));
    let dest = path.with_file_name(name);
    if dest.exists() {
        let mut n = 1;
        loop {
            let alt = PathBuf::from(format!("{}.{n}", dest.display()));
            if !alt.exists() {
                return alt;
            }
            n += 1;
        }
    }
    dest
}
