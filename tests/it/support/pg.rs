//! A throwaway PostgreSQL cluster, one per test process, started lazily from
//! the system binaries; each test gets its own database on it.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI) the
//! data directory is handed to user `postgres` and every binary runs through
//! `runuser -u postgres --`. The cluster listens on 127.0.0.1 on a free port,
//! with fsync off and small buffers, and is stopped (`-m immediate`) and
//! deleted by a watcher once the test process is gone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The running cluster.
#[derive(Debug)]
pub struct Cluster {
    port: u16,
    dir: PathBuf,
    /// The server options it was started with (port included), for [`Cluster::restart`].
    opts: String,
}

impl Cluster {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The DSN of database `db` on this cluster (trust auth, user postgres).
    pub fn dsn(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`), as an outage
    /// would. Only for a test's own cluster from [`private`], never the
    /// shared one from [`cluster`].
    pub fn stop(&self) {
        let pg_ctl = super::find_binary("pg_ctl", Some(&bin_dir()))
            .expect("pg_ctl was found when the cluster started");
        let mut ctl = pg_command(&pg_ctl, super::is_root());
        ctl.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        run(ctl, "pg_ctl stop").expect("stopping a private test cluster");
    }

    /// Starts a cluster stopped by [`Cluster::stop`] again, on the same port.
    pub fn restart(&self) {
        let pg_ctl = super::find_binary("pg_ctl", Some(&bin_dir()))
            .expect("pg_ctl was found when the cluster started");
        let mut ctl = pg_command(&pg_ctl, super::is_root());
        ctl.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-o")
            .arg(&self.opts)
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "30", "start"]);
        run(ctl, "pg_ctl start").expect("restarting a private test cluster");
    }

    /// Creates a database with a name unique in this process and returns its DSN.
    pub async fn fresh_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(&self.dsn("postgres"))
            .await
            .expect("connecting to the test cluster's postgres database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE on the test cluster");
        let _ = conn.close().await;
        self.dsn(&name)
    }
}

/// The process-wide cluster, started on first use. Every test that needs it
/// fails with the same message when it cannot start.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| start(&bin_dir())) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// A cluster of the caller's own, for a test that stops its database;
/// removed when the test process ends, like the shared one.
pub fn private() -> Cluster {
    start(&bin_dir()).unwrap_or_else(|e| panic!("{e}"))
}

fn bin_dir() -> PathBuf {
    std::env::var_os("TOKCTL_PG_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN))
}

/// A command for a PostgreSQL binary, as `postgres` when we are root.
fn pg_command(bin: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Starts a cluster from the binaries in `bin`; public so a test can check
/// the message for missing binaries.
pub fn start(bin: &Path) -> Result<Cluster, String> {
    let (Some(initdb), Some(pg_ctl)) = (
        super::find_binary("initdb", Some(bin)),
        super::find_binary("pg_ctl", Some(bin)),
    ) else {
        return Err(format!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in {}: install the Debian \
             package `postgresql` (bash scripts/install-test-deps.sh), or set TOKCTL_PG_BIN to \
             their directory",
            bin.display()
        ));
    };
    let root = super::is_root();
    // As root, user postgres must reach the dir: $TMPDIR may be private.
    let parent = if root {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("tokctl-pg-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a temp dir for PostgreSQL: {e}"))?
        .keep();
    let dir_text = dir.to_string_lossy().to_string();
    let data = dir.join("data");
    let data_text = data.to_string_lossy().to_string();
    // Registered first, so even a half-started cluster is cleaned up.
    let stop_prefix = if root { "runuser -u postgres -- " } else { "" };
    super::on_process_exit(&format!(
        "{stop_prefix}{} -D {} stop -m immediate >/dev/null 2>&1; rm -rf {}",
        super::sh_quote(&pg_ctl.to_string_lossy()),
        super::sh_quote(&data_text),
        super::sh_quote(&dir_text)
    ));
    if root {
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:"]).arg(&dir);
        run(chown, "chown of the PostgreSQL temp dir to user postgres")?;
    }
    let mut init = pg_command(&initdb, root);
    init.arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ])
        .args(["-E", "UTF8", "--locale=C"]);
    run(init, "initdb")?;
    let log = dir.join("postgres.log");
    let mut last = String::new();
    for _ in 0..3 {
        let port = super::free_port();
        let opts = format!(
            "-p {port} -k {dir_text} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB \
             -c max_connections=300"
        );
        let mut ctl = pg_command(&pg_ctl, root);
        ctl.arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(&opts)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "30", "start"]);
        match run(ctl, "pg_ctl start") {
            Ok(()) => {
                if super::test_log() {
                    eprintln!("PostgreSQL on 127.0.0.1:{port}, log {}", log.display());
                }
                return Ok(Cluster { port, dir, opts });
            }
            Err(e) => {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                last = format!("{e}\n{tail}");
            }
        }
    }
    Err(format!("the test PostgreSQL cluster did not start: {last}"))
}
