//! The shared test harness of the `it` integration test binary.
//!
//! Everything here starts real things: real PostgreSQL and Redis servers
//! from the system binaries, real SQLite files, the real `tokctl` binary.
//! Nothing is mocked and no port is fixed.
//!
//! # API
//!
//! Databases ([`db`]):
//! - `TestDb::sqlite()` — a fresh SQLite file in its own temp dir.
//! - `TestDb::postgres().await` — a fresh database (`CREATE DATABASE` with a
//!   unique name) on the one PostgreSQL cluster of this test process.
//! - `TestDb::new(backend).await`, `db.sibling().await` (another fresh
//!   database on the same backend, e.g. a separate identity DSN),
//!   `db.dsn`, `db.backend`, `db.execute(sql).await`, `db.scalar(sql).await`.
//! - `dbtest!(name, |db| { ... })` runs one async body twice, as
//!   `name::sqlite` and `name::postgres`, with `db: TestDb`.
//!
//! Servers:
//! - [`pg::cluster()`] — the process-wide PostgreSQL cluster, started lazily
//!   (binaries from `TOKCTL_PG_BIN`, else `/usr/lib/postgresql/15/bin`),
//!   with `port()` and `dsn(dbname)`. Runs as user `postgres` when the tests
//!   run as root. Removed when the test process ends.
//! - [`redis::server()`] — the process-wide Redis (`redis-server` on PATH),
//!   with `port()` and `addr()`.
//! - A missing server binary fails the test with the Debian package to
//!   install (`postgresql`, `redis-server`); it never skips (checked by
//!   `pg::start(dir)` and `redis::start(name)` in tests/it/servers.rs).
//!
//! The binary ([`bin`]):
//! - `Tokctl::new()` — runs `CARGO_BIN_EXE_tokctl` in a fresh temp dir (its
//!   current directory) with every inherited `TOKCTL_*`/`TOKLIGENCE_*`
//!   variable removed; `.env(k, v)`, `.config(toml_text)` (writes
//!   `config.toml` in the dir and passes `--config`), `.run(&[args])` →
//!   [`bin::Output`] `{ code, stdout, stderr }` (with
//!   `.expect_code(n)`), `.spawn(&[args])` + `bin::wait(child, &[args])` for
//!   concurrent runs, `.dir()` for the temp dir.
//! - `write_config(dir, text)` writes a config file and returns its path.
//!
//! `TOKCTL_TEST_LOG=1` prints the output of every binary run and the log
//! files of the servers.

#![allow(
    dead_code,
    reason = "a shared harness: not every test uses every helper"
)]

pub mod bin;
pub mod db;
pub mod pg;
pub mod redis;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use bin::{Tokctl, write_config};
pub use db::{Backend, TestDb};

/// Runs one async test body on SQLite and on PostgreSQL (ripgrep's
/// `rgtest!` idea): `dbtest!(name, |db| { ... })` makes `name::sqlite` and
/// `name::postgres`, each given a fresh `db: TestDb`.
#[macro_export]
macro_rules! dbtest {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $db = $crate::support::TestDb::sqlite();
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let $db = $crate::support::TestDb::postgres().await;
                $body
            }
        }
    };
    // The same on tokio's multi-threaded runtime, as `serve` runs the ledger.
    ($name:ident, multi_thread, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = $crate::support::TestDb::sqlite();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $db = $crate::support::TestDb::postgres().await;
                $body
            }
        }
    };
}

/// Whether `TOKCTL_TEST_LOG` asks for server and binary output.
pub fn test_log() -> bool {
    std::env::var_os("TOKCTL_TEST_LOG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A port that was free a moment ago on 127.0.0.1 (the OS picks it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 to find a free port");
    l.local_addr().expect("address of a bound listener").port()
}

/// Whether this process runs as root (PostgreSQL then runs as `postgres`).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Finds `name` in `dir`, or on PATH when `dir` is `None`.
pub fn find_binary(name: &str, dir: Option<&Path>) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = match dir {
        Some(d) => vec![d.to_path_buf()],
        None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect(),
    };
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Starts a detached `sh` that waits for this test process to end, then runs
/// `cleanup` (a shell snippet). So no server outlives the tests, even when
/// a test panics or the process is killed.
#[expect(
    clippy::zombie_processes,
    reason = "the watcher must outlive this process; it is never waited for"
)]
pub fn on_process_exit(cleanup: &str) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; {cleanup}",
        pid = std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the cleanup watcher (sh)");
}

/// Quotes a string for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
