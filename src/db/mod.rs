//! One database handle for SQLite or PostgreSQL, chosen by the DSN.
//!
//! Holds the pools and their settings, the databases' health checks
//! ([`health`]), and the embedded migrations ([`migrate`]). Queries
//! specific to a domain (ledger, identity) live with that domain and reach
//! the pool through [`on_pool!`] when one statement serves both engines,
//! or an explicit `match` on [`Db`] when the engines differ. The DSN type
//! lives in `config::dsn` (config names databases; db opens them).

pub mod health;
mod lock;
pub mod migrate;
pub mod open;
pub(crate) mod sqlite_raw;

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use crate::config::dsn::{Backend, Dsn, DsnError, mask_password};

use crate::config::Config;

/// Runs `$body` once with `$pool` bound to the pool `$db` holds, whichever
/// backend that is: the one dispatch for statements written once for both
/// engines (`$n` placeholders). The body is compiled twice, once per pool
/// type; a generic function cannot replace this, since sqlx's executor,
/// bind and decode bounds differ per database and would have to be spelt
/// out at every call. Arms that really differ stay an explicit `match`.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A pool on one of the two backends. Cloning shares the pool.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Pool limits, from `[db]` in the config.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_open: u32,
    /// Connections kept open while idle (sqlx's `min_connections`).
    pub max_idle: u32,
    pub max_lifetime: Duration,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub busy_timeout: Duration,
}

impl PoolSettings {
    /// The ledger pool (also the shared pool when both DSNs are one database).
    pub fn ledger(c: &Config) -> Self {
        Self {
            max_open: c.db.max_open_conns,
            max_idle: c.db.max_idle_conns,
            max_lifetime: c.db.conn_max_lifetime.0,
            idle_timeout: c.db.conn_max_idle_time.0,
            connect_timeout: Duration::from_millis(c.db.connect_timeout_ms),
            busy_timeout: Duration::from_millis(c.db.busy_timeout_ms),
        }
    }

    /// The identity pool, when the identity database is a separate one.
    pub fn identity(c: &Config) -> Self {
        let mut s = Self::ledger(c);
        s.max_open = c.db.identity_max_open_conns;
        s.max_idle = s.max_idle.min(s.max_open);
        s
    }
}

/// Errors of the database layer; each names the database it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Dsn(#[from] DsnError),
    #[error("cannot open the {role} database ({target}): {cause}")]
    Connect {
        role: String,
        target: String,
        cause: String,
    },
    /// The server could not be reached at all (refused, no route, no
    /// answer): unlike a refused login, something that may pass by itself.
    #[error("cannot open the {role} database ({target}): {cause}")]
    Unreachable {
        role: String,
        target: String,
        cause: String,
    },
    #[error("{context} on the {target}: {source}")]
    Query {
        context: String,
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0}")]
    Migrate(String),
}

/// Short form of a sqlx error for one-line messages.
pub(crate) fn cause(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".into(),
        sqlx::Error::Database(d) => d.message().to_string(),
        other => other.to_string(),
    }
}

impl Db {
    /// Opens a pool. `role` (`ledger`, `identity`) only labels errors.
    pub async fn connect(dsn: &Dsn, settings: &PoolSettings, role: &str) -> Result<Db, DbError> {
        let fail = |cause: String| DbError::Connect {
            role: role.to_string(),
            target: dsn.describe(),
            cause,
        };
        match dsn {
            Dsn::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        fail(format!("cannot create directory {}: {e}", parent.display()))
                    })?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(settings.busy_timeout)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.max_open)
                    .min_connections(settings.max_idle.min(settings.max_open).min(2))
                    .max_lifetime(settings.max_lifetime)
                    .idle_timeout(settings.idle_timeout)
                    .acquire_timeout(settings.connect_timeout.max(settings.busy_timeout))
                    .connect_with(opts)
                    .await
                    .map_err(|e| fail(cause(&e)))?;
                Ok(Db::Sqlite(pool))
            }
            Dsn::Postgres { url } => {
                // A commit the ledger was told about lets the spool forget the
                // entries: it must survive a database crash, so asynchronous
                // commit (a server default some tune for speed) is overridden
                // for our sessions. Costs one WAL flush per batch, not per row.
                let opts = pg_options(url).map_err(|e| fail(cause(&e)))?;
                let pool = pg_pool(settings).connect_with(opts.clone()).await;
                let unreachable = |cause: String| DbError::Unreachable {
                    role: role.to_string(),
                    target: dsn.describe(),
                    cause,
                };
                match pool {
                    Ok(pool) => Ok(Db::Postgres(pool)),
                    // The pool retries until its timeout and then reports only
                    // that; one direct attempt says why (refused, auth, ...).
                    Err(sqlx::Error::PoolTimedOut) => {
                        match pg_probe(&opts, settings.connect_timeout).await {
                            (why, true) => Err(unreachable(why)),
                            (why, false) => Err(fail(why)),
                        }
                    }
                    Err(e @ sqlx::Error::Io(_)) => Err(unreachable(cause(&e))),
                    Err(e) => Err(fail(cause(&e))),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// One round trip (`SELECT 1`); returns how long it took.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let start = Instant::now();
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(start.elapsed())
    }

    /// Pool statistics: (open connections, idle connections).
    pub fn pool_stats(&self) -> (u32, usize) {
        on_pool!(self, p => (p.size(), p.num_idle()))
    }

    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }
}

/// Why a PostgreSQL server cannot be reached, from one direct connection
/// attempt bounded by `timeout`.
/// One direct connection attempt: why the pool could not connect, and
/// whether the server was unreachable (as opposed to refusing us).
async fn pg_probe(opts: &PgConnectOptions, timeout: Duration) -> (String, bool) {
    use sqlx::Connection;
    match tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(opts)).await {
        Ok(Err(e)) => {
            let io = matches!(e, sqlx::Error::Io(_));
            (cause(&e), io)
        }
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            ("timed out waiting for a connection".into(), false)
        }
        Err(_) => (format!("no answer within {timeout:?}"), true),
    }
}

/// A PostgreSQL DSN's options, with the session settings the ledger needs.
fn pg_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    // A commit the ledger was told about lets the spool forget the
    // entries: it must survive a database crash, so asynchronous commit (a
    // server default some tune for speed) is overridden for our sessions.
    // Costs one WAL flush per batch, not per row.
    Ok(PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]))
}

fn pg_pool(settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.max_open)
        .min_connections(0)
        .max_lifetime(settings.max_lifetime)
        .idle_timeout(settings.idle_timeout)
        .acquire_timeout(settings.connect_timeout)
}

/// The ledger and identity databases, sharing one pool when their DSNs
/// name the same database.
#[derive(Debug, Clone)]
pub struct Databases {
    pub ledger: Db,
    pub identity: Db,
    pub ledger_dsn: Dsn,
    pub identity_dsn: Dsn,
    pub shared: bool,
}

impl Databases {
    pub async fn open(c: &Config) -> Result<Databases, DbError> {
        Ok(Self::open_with(c, false).await?.0)
    }

    /// Like [`Databases::open`], but a PostgreSQL server that cannot be
    /// reached gets a pool that connects when it first can, instead of an
    /// error; each such database is returned with its role (as
    /// [`Databases::distinct`] names it) and why. For a gateway that serves
    /// through an outage (spool on).
    pub async fn open_or_wait(
        c: &Config,
    ) -> Result<(Databases, Vec<(&'static str, String)>), DbError> {
        Self::open_with(c, true).await
    }

    async fn open_with(
        c: &Config,
        wait: bool,
    ) -> Result<(Databases, Vec<(&'static str, String)>), DbError> {
        let ledger_dsn = Dsn::parse(&c.ledger.path)?;
        let identity_dsn = Dsn::parse(&c.identity.path)?;
        let shared = ledger_dsn == identity_dsn;
        let mut down = wait.then(Vec::new);
        let ledger_role = if shared { "ledger+identity" } else { "ledger" };
        let settings = PoolSettings::ledger(c);
        let ledger =
            Self::connect_or_wait(&ledger_dsn, &settings, "ledger", ledger_role, &mut down).await?;
        let identity = if shared {
            ledger.clone()
        } else {
            let settings = PoolSettings::identity(c);
            Self::connect_or_wait(&identity_dsn, &settings, "identity", "identity", &mut down)
                .await?
        };
        let dbs = Databases {
            ledger,
            identity,
            ledger_dsn,
            identity_dsn,
            shared,
        };
        Ok((dbs, down.unwrap_or_default()))
    }

    /// Connects; with `down` given, an unreachable PostgreSQL gets a lazy
    /// pool and is noted there under `role` instead of failing.
    async fn connect_or_wait(
        dsn: &Dsn,
        settings: &PoolSettings,
        label: &str,
        role: &'static str,
        down: &mut Option<Vec<(&'static str, String)>>,
    ) -> Result<Db, DbError> {
        match (Db::connect(dsn, settings, label).await, dsn, down) {
            (Err(DbError::Unreachable { cause, .. }), Dsn::Postgres { url }, Some(down)) => {
                let opts = pg_options(url).map_err(|e| DbError::Connect {
                    role: label.to_string(),
                    target: dsn.describe(),
                    cause: e.to_string(),
                })?;
                down.push((role, cause));
                Ok(Db::Postgres(pg_pool(settings).connect_lazy_with(opts)))
            }
            (other, _, _) => other,
        }
    }

    /// Each distinct database once, with its role name and DSN.
    pub fn distinct(&self) -> Vec<(&'static str, &Db, &Dsn)> {
        if self.shared {
            vec![("ledger+identity", &self.ledger, &self.ledger_dsn)]
        } else {
            vec![
                ("ledger", &self.ledger, &self.ledger_dsn),
                ("identity", &self.identity, &self.identity_dsn),
            ]
        }
    }
}

/// Microseconds since the Unix epoch: the one time format of every table.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch as RFC 3339 UTC (seconds), for
/// people (e.g. when a migration was applied).
pub fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `on_pool!` runs its one body on whichever pool the handle holds, and
    /// a statement written once runs on it.
    #[tokio::test]
    async fn on_pool_runs_the_body_on_the_pool_the_handle_holds() {
        let dir = std::env::temp_dir().join(format!("tokctl-on-pool-{}", std::process::id()));
        let path = dir.join("x.db");
        let dsn = Dsn::Sqlite { path: path.clone() };
        let settings = PoolSettings::ledger(&Config::default());
        let sqlite = Db::connect(&dsn, &settings, "test").await.unwrap();
        let pg = Db::Postgres(
            pg_pool(&settings)
                .connect_lazy("postgres://u:p@127.0.0.1:1/db")
                .unwrap(),
        );
        let pool_type = |db: &Db| on_pool!(db, p => std::any::type_name_of_val(p));
        assert!(
            pool_type(&sqlite).contains("Sqlite"),
            "{}",
            pool_type(&sqlite)
        );
        assert!(pool_type(&pg).contains("Postgres"), "{}", pool_type(&pg));
        let n: i64 = on_pool!(&sqlite, p => sqlx::query_scalar("SELECT $1 + 1").bind(41_i64).fetch_one(p).await)
            .unwrap();
        assert_eq!(n, 42);
        sqlite.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
