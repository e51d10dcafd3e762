//! Smoke tests of the harness's own servers: the throwaway PostgreSQL
//! cluster hands out fresh, separate databases and the throwaway Redis
//! answers PING, so a failure here points at the environment, not tokctl.

use crate::support::{TestDb, redis};

#[test]
fn redis_answers_ping_over_tcp() {
    let server = redis::server();
    let reply = redis::command(&server.addr(), "PING").expect("talking to the test Redis");
    assert_eq!(reply, "+PONG");
    let set = redis::command(&server.addr(), "SET tokctl-smoke 1").expect("SET on Redis");
    assert_eq!(set, "+OK");
}

#[tokio::test]
async fn postgres_databases_are_fresh_and_separate() {
    let a = TestDb::postgres().await;
    let b = a.sibling().await;
    assert_ne!(a.dsn, b.dsn);
    a.execute("CREATE TABLE only_in_a (x INTEGER)").await;
    let in_a =
        "SELECT count(*)::BIGINT FROM information_schema.tables WHERE table_name = 'only_in_a'";
    assert_eq!(a.scalar(in_a).await, 1);
    assert_eq!(b.scalar(in_a).await, 0);
}

#[tokio::test]
async fn sqlite_files_are_fresh() {
    let a = TestDb::sqlite();
    let path = a.sqlite_path().expect("a SQLite test db has a path");
    assert!(!path.exists(), "a fresh SQLite file does not exist yet");
    a.execute("CREATE TABLE t (x INTEGER)").await;
    assert!(path.exists());
    assert_eq!(a.scalar("SELECT count(*) FROM t").await, 0);
}

#[test]
fn missing_postgres_binaries_fail_naming_the_package() {
    let dir = tempfile::tempdir().expect("an empty temp dir");
    let err = crate::support::pg::start(dir.path()).expect_err("no initdb in an empty dir");
    assert!(err.contains("Debian package `postgresql`"), "{err}");
    assert!(err.contains("TOKCTL_PG_BIN"), "{err}");
}

#[test]
fn missing_redis_binary_fails_naming_the_package() {
    let err = redis::start("tokctl-no-such-redis-server").expect_err("no such binary");
    assert!(err.contains("Debian package `redis-server`"), "{err}");
}
