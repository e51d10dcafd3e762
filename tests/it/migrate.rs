//! `tokctl migrate` on SQLite and PostgreSQL through the real binary:
//! applying, status, drift, dry runs, concurrent runs, separate ledger and
//! identity databases, and the failures an operator meets first.

mod failures;
mod rolling;

use std::path::Path;

use crate::support::{Backend, TestDb, Tokctl, bin};

/// The versions this repository carries for a backend, from file names.
pub fn versions(dir: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut v: Vec<String> = std::fs::read_dir(&path)
        .expect("listing migrations")
        .map(|e| {
            e.expect("a migrations entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".sql"))
        .filter_map(|n| n.split('_').next().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// A run whose ledger and identity both point at `db`.
fn tokctl_on(db: &TestDb) -> Tokctl {
    Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &db.dsn)
        .env("TOKCTL_IDENTITY_PATH", &db.dsn)
}

/// Status rows (`│ 1 ┆ initial ┆ ... ┆ installed │`) as (version, state).
fn status_rows(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim_matches(|c| c == '│' || c == ' ')
                .split('┆')
                .map(str::trim)
                .collect();
            let version = cells.first()?.parse::<i64>().ok()?;
            Some((version.to_string(), cells.last()?.to_string()))
        })
        .collect()
}

fn assert_all(stdout: &str, state: &str) {
    let rows = status_rows(stdout);
    let expected: Vec<String> = versions("sqlite")
        .iter()
        .map(|v| v.trim_start_matches('0').to_string())
        .collect();
    let got: Vec<String> = rows.iter().map(|(v, _)| v.clone()).collect();
    assert_eq!(got, expected, "every version is listed:\n{stdout}");
    assert!(
        rows.iter().all(|(_, s)| s == state),
        "every version is {state}:\n{stdout}"
    );
}

#[test]
fn both_backends_carry_the_same_versions() {
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
}

dbtest!(migrate_then_status_shows_every_version_installed, |db| {
    let run = tokctl_on(&db);
    let before = run.run(&["migrate", "status"]);
    if let Some(file) = db.sqlite_path() {
        // Looking at a SQLite file that is not there refuses, creating nothing.
        before.expect_code(2);
        assert!(before.stderr.contains("no ledger at"), "{}", before.stderr);
        assert!(!file.exists());
    } else {
        before.expect_code(0);
        assert_all(&before.stdout, "pending");
    }
    let out = run.run(&["migrate"]);
    out.expect_code(0);
    assert!(out.stderr.contains("applied"), "{}", out.stderr);
    let status = run.run(&["migrate", "status"]);
    status.expect_code(0);
    assert_all(&status.stdout, "installed");
    assert!(
        status.stdout.contains("ledger+identity database"),
        "{}",
        status.stdout
    );
});

dbtest!(second_migrate_applies_nothing, |db| {
    let run = tokctl_on(&db);
    run.run(&["migrate"]).expect_code(0);
    let rows = "SELECT count(*) FROM _sqlx_migrations";
    let applied = db.scalar(rows).await;
    let again = run.run(&["migrate"]);
    again.expect_code(0);
    assert!(
        again.stderr.contains("nothing to apply"),
        "{}",
        again.stderr
    );
    assert_eq!(db.scalar(rows).await, applied);
});

dbtest!(changed_checksum_fails_status_naming_the_version, |db| {
    let run = tokctl_on(&db);
    run.run(&["migrate"]).expect_code(0);
    let update = match db.backend {
        Backend::Sqlite => "UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1",
        Backend::Postgres => {
            "UPDATE _sqlx_migrations SET checksum = decode('00', 'hex') WHERE version = 1"
        }
    };
    assert_eq!(db.execute(update).await, 1);
    let status = run.run(&["migrate", "status"]);
    status.expect_code(1);
    assert!(
        status.stderr.contains("different checksum"),
        "{}",
        status.stderr
    );
    assert!(
        status.stderr.contains("1 (initial"),
        "names the version: {}",
        status.stderr
    );
    let migrate = run.run(&["migrate"]);
    migrate.expect_code(1);
    assert!(migrate.stderr.contains("1 (initial"), "{}", migrate.stderr);
});

dbtest!(version_from_a_newer_binary_fails_status, |db| {
    let run = tokctl_on(&db);
    run.run(&["migrate"]).expect_code(0);
    let insert = match db.backend {
        Backend::Sqlite => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, X'00', 0)"
        }
        Backend::Postgres => {
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, decode('00', 'hex'), 0)"
        }
    };
    assert_eq!(db.execute(insert).await, 1);
    let status = run.run(&["migrate", "status"]);
    status.expect_code(1);
    assert!(
        status
            .stderr
            .contains("9999 (from the future: unknown to this binary)"),
        "{}",
        status.stderr
    );
});

dbtest!(dry_run_changes_nothing, |db| {
    let run = tokctl_on(&db);
    if let Some(file) = db.sqlite_path() {
        // A dry run on a SQLite file that is not there refuses, creating nothing;
        // on an empty one it shows every migration pending.
        run.run(&["migrate", "--dry-run"]).expect_code(2);
        assert!(!file.exists());
        std::fs::write(&file, b"").expect("an empty SQLite file");
    }
    let out = run.run(&["migrate", "--dry-run"]);
    out.expect_code(0);
    let n = versions("sqlite").len();
    assert!(
        out.stderr
            .contains(&format!("{n} migration(s) would be applied")),
        "{}",
        out.stderr
    );
    let tables = match db.backend {
        Backend::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        Backend::Postgres => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        }
    };
    assert_eq!(db.scalar(tables).await, 0, "no table was created");
    assert_all(&run.run(&["migrate", "status"]).stdout, "pending");
});

dbtest!(two_migrates_at_once_both_succeed, |db| {
    let run = tokctl_on(&db);
    let a = run.spawn(&["migrate"]);
    let b = run.spawn(&["migrate"]);
    let (a, b) = (bin::wait(a, &["migrate"]), bin::wait(b, &["migrate"]));
    a.expect_code(0);
    b.expect_code(0);
    let idle = [&a, &b]
        .iter()
        .filter(|o| o.stderr.contains("nothing to apply"))
        .count();
    assert_eq!(
        idle, 1,
        "one run applies, the other finds nothing pending:\n{}\n{}",
        a.stderr, b.stderr
    );
    let status = run.run(&["migrate", "status"]);
    status.expect_code(0);
    assert_all(&status.stdout, "installed");
    let n = versions("sqlite").len() as i64;
    let applied = "SELECT (SELECT count(*) FROM _sqlx_migrations) \
                   + (SELECT count(*) FROM tokctl_migrations)";
    assert_eq!(db.scalar(applied).await, n, "each version applied once");
});

dbtest!(separate_ledger_and_identity_are_both_migrated, |db| {
    let identity = db.sibling().await;
    let run = Tokctl::new()
        .env("TOKCTL_LEDGER_PATH", &db.dsn)
        .env("TOKCTL_IDENTITY_PATH", &identity.dsn);
    let out = run.run(&["migrate"]);
    out.expect_code(0);
    assert!(out.stdout.contains("ledger database"), "{}", out.stdout);
    assert!(out.stdout.contains("identity database"), "{}", out.stdout);
    let n = versions("sqlite").len() as i64;
    let count = "SELECT (SELECT count(*) FROM _sqlx_migrations WHERE success) \
                 + (SELECT count(*) FROM tokctl_migrations)";
    assert_eq!(db.scalar(count).await, n);
    assert_eq!(identity.scalar(count).await, n);
});

#[tokio::test]
async fn migrating_a_sqlite_file_with_data_keeps_a_backup() {
    let db = TestDb::sqlite();
    db.execute("CREATE TABLE keep_me (x INTEGER)").await;
    db.execute("INSERT INTO keep_me VALUES (42)").await;
    let out = tokctl_on(&db).run(&["migrate"]);
    out.expect_code(0);
    let path = db.sqlite_path().expect("a SQLite path");
    let dir = path.parent().expect("the SQLite file's dir");
    let backups: Vec<_> = std::fs::read_dir(dir)
        .expect("listing the SQLite dir")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.to_string_lossy().contains("ledger.db.bak-"))
        .collect();
    assert_eq!(backups.len(), 1, "one backup beside the file: {backups:?}");
    let backup = backups[0].to_string_lossy().to_string();
    assert!(out.stderr.contains(&backup), "says where: {}", out.stderr);
    let copy = TestDb::existing(backup, Backend::Sqlite);
    assert_eq!(copy.scalar("SELECT x FROM keep_me").await, 42);
    assert_eq!(
        copy.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'usage_entries'")
            .await,
        0,
        "the backup is the state before migrating"
    );
}

#[tokio::test]
async fn migrating_a_fresh_sqlite_file_makes_no_backup() {
    let db = TestDb::sqlite();
    let out = tokctl_on(&db).run(&["migrate"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("backed up"), "{}", out.stderr);
}
