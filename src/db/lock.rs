//! The migration lock: one `tokctl migrate` at a time per database.
//!
//! sqlx takes no lock on SQLite and, on PostgreSQL, only around its own
//! `run`, after tokctl has already read the status and decided what is
//! pending. So tokctl takes its own lock around the whole step: an exclusive
//! lock on the file `<db>.migrate-lock` for SQLite, a session advisory lock
//! on a connection of its own for PostgreSQL. Both are released on drop.

use std::fs::File;
use std::path::Path;

use sqlx::postgres::{PgConnection, PgPool};

use super::{Db, DbError, Dsn};

/// The advisory lock key of tokctl's migrations (the bytes of "tokctlmg").
const PG_KEY: i64 = i64::from_be_bytes(*b"tokctlmg");

/// A held migration lock; dropping it releases the lock.
#[derive(Debug)]
#[expect(dead_code, reason = "the fields are held for their drop, never read")]
pub enum MigrationLock {
    Sqlite(File),
    /// A connection taken out of the pool: closing it ends the session and
    /// with it the advisory lock, whatever path the caller leaves by.
    Postgres(PgConnection),
}

/// Takes the migration lock of `db`, calling `on_wait` once if another
/// process holds it, then waiting for it.
pub async fn migration_lock(
    db: &Db,
    dsn: &Dsn,
    on_wait: &(dyn Fn() + Sync),
) -> Result<MigrationLock, DbError> {
    match (dsn, db) {
        (_, Db::Postgres(pool)) => lock_postgres(pool, &dsn.describe(), on_wait)
            .await
            .map(MigrationLock::Postgres),
        (Dsn::Sqlite { path }, _) => lock_sqlite(path, on_wait).await.map(MigrationLock::Sqlite),
        (Dsn::Postgres { .. }, Db::Sqlite(_)) => Err(DbError::Migrate(
            "a PostgreSQL DSN with a SQLite pool; this is a bug".into(),
        )),
    }
}

/// Errors are [`DbError::Query`], not `Migrate`: a server that stops
/// answering while the lock is taken (a restart, a pool that times out)
/// may pass by itself, and a gateway started during an outage retries
/// these, where a `Migrate` error (a schema it cannot run on) is final.
async fn lock_postgres(
    pool: &PgPool,
    target: &str,
    on_wait: &(dyn Fn() + Sync),
) -> Result<PgConnection, DbError> {
    let fail = |what: &str, e: sqlx::Error| DbError::Query {
        context: format!("{what} the migration lock"),
        target: target.to_string(),
        source: e,
    };
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| fail("connecting to take", e))?
        .detach();
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(PG_KEY)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| fail("taking", e))?;
    if !got {
        on_wait();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_KEY)
            .execute(&mut conn)
            .await
            .map_err(|e| fail("waiting for", e))?;
    }
    Ok(conn)
}

/// An exclusive lock on `<db>.migrate-lock`, released when dropped.
async fn lock_sqlite(path: &Path, on_wait: &(dyn Fn() + Sync)) -> Result<File, DbError> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".migrate-lock");
    let lock_path = path.with_file_name(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            DbError::Migrate(format!(
                "cannot open the migration lock {}: {e}",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            on_wait();
            tokio::task::spawn_blocking(move || file.lock().map(|()| file))
                .await
                .map_err(|e| DbError::Migrate(format!("waiting for the migration lock: {e}")))?
                .map_err(|e| {
                    DbError::Migrate(format!(
                        "taking the migration lock {}: {e}",
                        lock_path.display()
                    ))
                })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(DbError::Migrate(format!(
            "taking the migration lock {}: {e}",
            lock_path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that does not answer (a closed port on this machine) is a
    /// retryable error, not a schema refusal: the outage-start path gave
    /// up writing the ledger when the lock's connection timed out during a
    /// PostgreSQL restart (stress run of 2026-12-07).
    #[tokio::test]
    async fn an_unreachable_server_is_not_a_migration_refusal() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let url = format!("postgres://tokctl@127.0.0.1:{port}/tokctl");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(200))
            .connect_lazy(&url)
            .unwrap();
        let dsn = Dsn::parse(&url).unwrap();
        let err = migration_lock(&Db::Postgres(pool), &dsn, &|| {})
            .await
            .err()
            .unwrap();
        assert!(matches!(err, DbError::Query { .. }), "{err:?}");
        assert!(err.to_string().contains("migration lock"), "{err}");
    }
}
