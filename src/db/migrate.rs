//! Versioned schema migrations, embedded in the binary, per backend.
//!
//! Versions up to [`SQLX_LAST`] are applied and tracked by sqlx
//! (`_sqlx_migrations`); later ones by this module (`tokctl_migrations`),
//! each marked in its first line `-- tokctl: compatible` (additive: new
//! nullable columns or columns with defaults, new tables, new indexes) or
//! `-- tokctl: breaking`, and the mark is stored with it. Why two tables:
//! binaries before this scheme refuse any version in `_sqlx_migrations`
//! they do not know, and do not read `tokctl_migrations`, so they keep
//! running on a schema that only compatible versions moved on; binaries
//! after it read the stored mark, start beside an unknown compatible
//! version and refuse an unknown breaking one (docs/operations.md, "Rolling
//! upgrades and rollbacks").
//!
//! Around them, what an operator needs: a status that compares the database
//! with the binary (applied, pending, changed checksum, unknown to this
//! binary), a lock around the whole step ([`super::lock`]), and a backup of
//! a SQLite file that already holds data before anything is changed.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use sqlx::Row;
use sqlx::migrate::{Migration, Migrator};

use super::{Backend, Db, DbError, Dsn, cause, on_pool};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// The last version sqlx applies and tracks; later ones are tracked in
/// `tokctl_migrations` with their compatibility.
pub const SQLX_LAST: i64 = 5;

/// The migrations this binary carries for a backend.
pub fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The part of [`migrator`] sqlx applies (up to [`SQLX_LAST`]).
fn sqlx_part(backend: Backend) -> Migrator {
    let migrations: Vec<Migration> = migrator(backend)
        .iter()
        .filter(|m| m.version <= SQLX_LAST)
        .cloned()
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Whether a version can run beside binaries that do not know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    /// Additive: an older binary keeps working on the schema.
    Compatible,
    Breaking,
}

/// A migration's mark, from its first line. Versions tracked by sqlx, and
/// any without a mark, count as breaking.
pub fn compat(m: &Migration) -> Compat {
    let first = m.sql.lines().next().unwrap_or_default().trim();
    if m.version > SQLX_LAST && first == "-- tokctl: compatible" {
        Compat::Compatible
    } else {
        Compat::Breaking
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
    /// Unknown to this binary, but marked compatible: it runs beside it.
    UnknownCompatible,
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
            State::UnknownCompatible => "unknown to this binary, compatible",
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
        let found = applied.iter().find(|a| a.version == mig.version);
        let (state, at) = match found {
            None => (State::Pending, None),
            Some(a) => {
                let state = if !a.success {
                    State::Failed
                } else if a.checksum.as_slice() != &*mig.checksum {
                    State::Different
                } else {
                    State::Installed
                };
                (state, Some(a.at.clone()))
            }
        };
        out.push(MigrationStatus {
            version: mig.version,
            description: mig.description.to_string(),
            applied_at: at,
            state,
        });
    }
    for a in &applied {
        if !m.iter().any(|x| x.version == a.version) {
            out.push(MigrationStatus {
                version: a.version,
                description: a.description.clone(),
                applied_at: Some(a.at.clone()),
                state: if a.compatible {
                    State::UnknownCompatible
                } else {
                    State::Unknown
                },
            });
        }
    }
    out.sort_by_key(|s| s.version);
    Ok(out)
}

/// One applied version, from either tracking table.
struct AppliedRow {
    version: i64,
    description: String,
    checksum: Vec<u8>,
    success: bool,
    at: String,
    /// Marked compatible (only `tokctl_migrations` records marks).
    compatible: bool,
}

/// The tracking table of versions after [`SQLX_LAST`].
const TRACKING_SQL: &str = "CREATE TABLE IF NOT EXISTS tokctl_migrations (\
    version BIGINT PRIMARY KEY, description TEXT NOT NULL, checksum {BLOB} NOT NULL, \
    compatible BOOLEAN NOT NULL, applied_at_us BIGINT NOT NULL)";

async fn table_exists(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    match db {
        Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(name)
        .fetch_one(p)
        .await
        .map(|n| n > 0),
        Db::Postgres(p) => {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
                .bind(name)
                .fetch_one(p)
                .await
        }
    }
}

async fn applied(db: &Db) -> Result<Vec<AppliedRow>, DbError> {
    let q = |context: &str, e: sqlx::Error| DbError::Query {
        context: context.to_string(),
        target: target(db),
        source: e,
    };
    // Both tracking tables read in one shape: version, description,
    // checksum, success, compatible, when (as text).
    const TABLES: [(&str, &str); 2] = [
        (
            "_sqlx_migrations",
            "SELECT version, description, checksum, success, FALSE, \
             CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
        ),
        (
            "tokctl_migrations",
            "SELECT version, description, checksum, TRUE, compatible, \
             CAST(applied_at_us AS TEXT) FROM tokctl_migrations ORDER BY version",
        ),
    ];
    let mut out = Vec::new();
    for (table, sql) in TABLES {
        if !table_exists(db, table)
            .await
            .map_err(|e| q("reading migration state", e))?
        {
            continue;
        }
        // tokctl's table keeps microseconds: shown as a time.
        let at = |text: String| match (table, text.parse::<i64>()) {
            ("tokctl_migrations", Ok(us)) => super::format_us(us),
            _ => text,
        };
        let rows = on_pool!(db, p => sqlx::query(sql).fetch_all(p).await.map(|rows| {
            rows.iter()
                .map(|r| AppliedRow {
                    version: r.get(0),
                    description: r.get(1),
                    checksum: r.get(2),
                    success: r.get(3),
                    compatible: r.get(4),
                    at: at(r.get(5)),
                })
                .collect::<Vec<_>>()
        }))
        .map_err(|e| q("reading applied migrations", e))?;
        out.extend(rows);
    }
    Ok(out)
}

fn target(db: &Db) -> String {
    format!("{} database", db.backend())
}

/// A status list that must not be migrated over: names the versions.
pub fn check_drift(statuses: &[MigrationStatus]) -> Result<(), DbError> {
    let bad: Vec<String> = statuses
        .iter()
        // An unknown compatible version is a newer binary's additive step:
        // this one runs beside it.
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
    if pending.iter().any(|v| *v <= SQLX_LAST) {
        let m = sqlx_part(db.backend());
        let result = on_pool!(db, p => m.run(p).await);
        result.map_err(|e| {
            DbError::Migrate(format!("applying migrations to {}: {e}", dsn.describe()))
        })?;
    }
    let later = migrator(db.backend())
        .iter()
        .filter(|m| m.version > SQLX_LAST && pending.contains(&m.version));
    for m in later {
        apply_tracked(db, m).await.map_err(|e| {
            DbError::Migrate(format!(
                "applying migration {} ({}) to {}: {}",
                m.version,
                m.description,
                dsn.describe(),
                cause(&e)
            ))
        })?;
    }
    Ok(Applied {
        versions: pending,
        backup,
    })
}

/// Applies one version after [`SQLX_LAST`] and records it with its mark,
/// in one transaction.
async fn apply_tracked(db: &Db, m: &Migration) -> Result<(), sqlx::Error> {
    let compatible = compat(m) == Compat::Compatible;
    let record = "INSERT INTO tokctl_migrations (version, description, checksum, compatible, \
                  applied_at_us) VALUES ($1, $2, $3, $4, $5)";
    let blob = match db.backend() {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
    };
    on_pool!(db, p => {
        sqlx::query(&TRACKING_SQL.replace("{BLOB}", blob))
            .execute(p)
            .await?;
        let mut tx = p.begin().await?;
        sqlx::raw_sql(&m.sql).execute(&mut *tx).await?;
        sqlx::query(record)
            .bind(m.version)
            .bind(m.description.as_ref())
            .bind(m.checksum.as_ref())
            .bind(compatible)
            .bind(super::now_us())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_after_sqlx_says_whether_it_is_compatible() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for m in migrator(backend).iter().filter(|m| m.version > SQLX_LAST) {
                let first = m.sql.lines().next().unwrap_or_default().trim();
                assert!(
                    first == "-- tokctl: compatible" || first == "-- tokctl: breaking",
                    "migration {} ({backend}) must start with its mark, not {first:?}",
                    m.version
                );
            }
            let versions: Vec<i64> = migrator(backend).iter().map(|m| m.version).collect();
            assert!(
                versions.contains(&SQLX_LAST),
                "sqlx tracks up to {SQLX_LAST}"
            );
            assert_eq!(
                sqlx_part(backend).iter().map(|m| m.version).max(),
                Some(SQLX_LAST)
            );
        }
    }
}
