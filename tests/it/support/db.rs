//! A fresh database per test, on SQLite (a temp file) or PostgreSQL (a new
//! database on the process-wide cluster), and a little SQL access to it for
//! setting up and checking state. Nothing here mocks a database.

use std::path::PathBuf;

use tempfile::TempDir;
pub use tokctl::db::Backend;
use tokctl::db::{Db, Dsn, PoolSettings};

/// One fresh database. For SQLite the temp dir lives as long as this value.
#[derive(Debug)]
pub struct TestDb {
    pub dsn: String,
    pub backend: Backend,
    dir: Option<TempDir>,
}

impl TestDb {
    /// A fresh SQLite file (not yet created) in its own temp dir.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("tokctl-sqlite-")
            .tempdir()
            .expect("creating a temp dir for SQLite");
        let dsn = dir.path().join("ledger.db").to_string_lossy().to_string();
        TestDb {
            dsn,
            backend: Backend::Sqlite,
            dir: Some(dir),
        }
    }

    /// A fresh, empty database on the test PostgreSQL cluster.
    pub async fn postgres() -> TestDb {
        let dsn = super::pg::cluster().fresh_database().await;
        TestDb {
            dsn,
            backend: Backend::Postgres,
            dir: None,
        }
    }

    /// An existing database named by `dsn`, owning no temp dir.
    pub fn existing(dsn: impl Into<String>, backend: Backend) -> TestDb {
        TestDb {
            dsn: dsn.into(),
            backend,
            dir: None,
        }
    }

    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    /// Another fresh database on the same backend (e.g. a separate identity DSN).
    pub async fn sibling(&self) -> TestDb {
        TestDb::new(self.backend).await
    }

    /// The SQLite file, for SQLite databases.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|_| PathBuf::from(&self.dsn))
    }

    /// Opens a small pool on this database through tokctl's own layer.
    pub async fn connect(&self) -> Db {
        let dsn = Dsn::parse(&self.dsn).expect("a test DSN parses");
        let mut settings = PoolSettings::ledger(&tokctl::config::Config::default());
        settings.max_open = 2;
        settings.max_idle = 0;
        Db::connect(&dsn, &settings, "test")
            .await
            .expect("connecting to the test database")
    }

    /// Runs one statement; returns the rows it affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        let db = self.connect().await;
        let n = match &db {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
        }
        .unwrap_or_else(|e| panic!("executing `{sql}`: {e}"));
        db.close().await;
        n
    }

    /// Runs a query that returns one integer (e.g. `SELECT count(*) ...`).
    pub async fn scalar(&self, sql: &str) -> i64 {
        let db = self.connect().await;
        let v = match &db {
            Db::Sqlite(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
            Db::Postgres(p) => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await,
        }
        .unwrap_or_else(|e| panic!("querying `{sql}`: {e}"));
        db.close().await;
        v
    }
}
