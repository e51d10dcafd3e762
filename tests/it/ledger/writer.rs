//! The ledger writer on real databases: every recorded entry becomes exactly
//! one row after shutdown; `block` never drops and makes `admit` wait;
//! `drop` counts what it drops; a refused entry is dead-lettered while the
//! rest of its batch is written; batches flush by time; inline mode writes
//! before returning; a locked table is retried, not dead-lettered. A table
//! lock held from another connection plays the slow database.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite, Transaction};
use tokctl::config::{AsyncWriterConfig, ChainConfig, LedgerConfig, OnFull, SpoolConfig};
use tokctl::db::{Db, Dsn, PoolSettings};
use tokctl::ledger::{self, LedgerWriter, dead_letter};

use super::{entries, entry, migrated};
use crate::support::TestDb;

fn config(dir: &Path, batch_size: usize, buffer_size: usize, on_full: OnFull) -> LedgerConfig {
    LedgerConfig {
        dead_letter_path: dir.join("dl/dead-letter.jsonl").to_string_lossy().into(),
        async_writer: AsyncWriterConfig {
            enabled: true,
            batch_size,
            flush_ms: 50,
            buffer_size,
            num_workers: 2,
            on_full,
            full_wait_ms: 60_000,
        },
        // These tests are about the in-memory buffer: the spool is off
        // (tests/it/ledger/chain.rs covers it); the chain's files stay in `dir`.
        chain: ChainConfig {
            instance_id_path: dir.join("instance-id").to_string_lossy().into(),
            head_file: dir.join("chain-head.json").to_string_lossy().into(),
            ..ChainConfig::default()
        },
        spool: SpoolConfig {
            enabled: false,
            dir: dir.join("spool").to_string_lossy().into(),
            ..SpoolConfig::default()
        },
        ..LedgerConfig::default()
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("creating a temp dir")
}

/// A write lock on `usage_entries` held from another pool until released.
enum Lock {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

async fn lock_table(db: &TestDb) -> Lock {
    match db.connect().await {
        Db::Sqlite(p) => {
            let mut c = p.acquire().await.expect("a SQLite connection");
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *c)
                .await
                .expect("BEGIN IMMEDIATE");
            Lock::Sqlite(c)
        }
        Db::Postgres(p) => {
            let mut tx = p.begin().await.expect("a PostgreSQL transaction");
            sqlx::query("LOCK TABLE usage_entries IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .expect("LOCK TABLE");
            Lock::Postgres(tx)
        }
    }
}

impl Lock {
    async fn release(self) {
        match self {
            Lock::Sqlite(mut c) => {
                sqlx::query("COMMIT")
                    .execute(&mut *c)
                    .await
                    .expect("COMMIT");
            }
            Lock::Postgres(tx) => tx.commit().await.expect("COMMIT"),
        }
    }
}

/// A pool on the same database whose writes give up after 50 ms on a lock
/// (SQLite `busy_timeout`, PostgreSQL `lock_timeout`).
async fn impatient(db: &TestDb) -> Db {
    let dsn = match db.backend {
        crate::support::Backend::Sqlite => db.dsn.clone(),
        crate::support::Backend::Postgres => format!("{}?options=-c%20lock_timeout%3D50", db.dsn),
    };
    let mut settings = PoolSettings::ledger(&tokctl::config::Config::default());
    settings.busy_timeout = Duration::from_millis(50);
    let dsn = Dsn::parse(&dsn).expect("a test DSN parses");
    Db::connect(&dsn, &settings, "test")
        .await
        .expect("connecting")
}

dbtest!(a_locked_table_is_a_transient_error, |db| {
    migrated(&db).await;
    let conn = impatient(&db).await;
    let lock = lock_table(&db).await;
    let err = ledger::insert_batch(&conn, &[entry("locked")])
        .await
        .unwrap_err();
    lock.release().await;
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string().contains("inserting a batch of 1 entries"),
        "{err}"
    );
    assert_eq!(
        ledger::insert_batch(&conn, &[entry("locked")])
            .await
            .unwrap(),
        1
    );
});

dbtest!(transient_failures_are_retried_not_dead_lettered, |db| {
    migrated(&db).await;
    let conn = impatient(&db).await;
    let dir = tempdir();
    let writer = LedgerWriter::start(conn.clone(), &config(dir.path(), 10, 100, OnFull::Block))
        .await
        .expect("start the writer");
    let lock = lock_table(&db).await;
    for e in entries("retry", 10) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    // Longer than one attempt (50 ms), shorter than all of them with backoff.
    tokio::time::sleep(Duration::from_millis(150)).await;
    lock.release().await;
    let stats = writer.shutdown().await;
    assert_eq!((stats.written, stats.dead_lettered), (10, 0), "{stats:?}");
    assert_eq!(ledger::count(&conn).await.unwrap(), 10);
});

dbtest!(concurrent_records_become_exactly_one_row_each, |db| {
    let conn = migrated(&db).await;
    let dir = tempdir();
    let writer = LedgerWriter::start(conn.clone(), &config(dir.path(), 64, 256, OnFull::Block))
        .await
        .expect("start the writer");
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let writer = writer.clone();
            tokio::spawn(async move {
                for e in entries(&format!("t{t}"), 250) {
                    let admission = writer.admit().await.expect("admitted");
                    let _ = writer.record(admission, e);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let stats = writer.shutdown().await;
    assert_eq!(ledger::count(&conn).await.unwrap(), 2_000);
    assert_eq!(
        (stats.written, stats.dropped, stats.dead_lettered),
        (2_000, 0, 0)
    );
    assert_eq!(stats.queue_depth, 0);
    assert!(stats.batches >= 2_000 / 64, "{stats:?}");
    assert!(stats.flush_duration_sum >= stats.last_flush);
});

dbtest!(block_with_a_tiny_buffer_waits_and_never_drops, |db| {
    let conn = migrated(&db).await;
    let dir = tempdir();
    let mut cfg = config(dir.path(), 1, 1, OnFull::Block);
    cfg.async_writer.num_workers = 1;
    let writer = LedgerWriter::start(conn.clone(), &cfg)
        .await
        .expect("start the writer");
    let lock = lock_table(&db).await;
    // One entry in the blocked worker's hands, one in the buffer: the next
    // admission must wait for room.
    for e in entries("early", 2) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    let waited = tokio::time::timeout(Duration::from_millis(300), writer.admit()).await;
    assert!(waited.is_err(), "admit returned while the buffer was full");
    lock.release().await;
    for e in entries("late", 200) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    let stats = writer.shutdown().await;
    assert_eq!(stats.dropped, 0);
    assert_eq!(ledger::count(&conn).await.unwrap(), 202);
});

// On the multi-threaded runtime, as in `serve`: there a SQLite commit
// waiting on the locked file does not hold up the spool's appender.
dbtest!(
    spool_on_buffer_size_bounds_only_entries_not_yet_spooled,
    multi_thread,
    |db| {
        let conn = migrated(&db).await;
        let dir = tempdir();
        let mut cfg = config(dir.path(), 2, 4, OnFull::Block);
        cfg.spool.enabled = true;
        cfg.async_writer.full_wait_ms = 300;
        let writer = LedgerWriter::start(conn.clone(), &cfg)
            .await
            .expect("start the writer");
        // Four admissions hold the four places; a fifth waits for one, at
        // most full_wait_ms, and is then refused (counted).
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(writer.admit().await.expect("admitted"));
        }
        let waited = tokio::time::timeout(Duration::from_secs(5), writer.admit())
            .await
            .expect("admission waits a bounded time");
        let refused = waited.expect_err("a fifth admission got a place");
        assert_eq!(refused.waited_ms, 300, "{refused}");
        assert_eq!(writer.stats().refused, 1);
        // Recorded and spooled, an entry gives its place back.
        let mut early = entries("early", 4).into_iter();
        let first = held.pop().expect("an admission");
        writer
            .record(first, early.next().expect("an entry"))
            .wait()
            .await;
        let fifth = tokio::time::timeout(Duration::from_secs(5), writer.admit())
            .await
            .expect("a place came back once the entry was spooled")
            .expect("admitted");
        held.push(fifth);
        for (admission, e) in held.into_iter().zip(early) {
            writer.record(admission, e).wait().await;
        }
        // A stalled database does not hold places: the entries wait on disk.
        let lock = lock_table(&db).await;
        let recorded = tokio::time::timeout(Duration::from_secs(10), async {
            for e in entries("stalled", 40) {
                let admission = writer.admit().await.expect("admitted");
                writer.record(admission, e).wait().await;
            }
        })
        .await;
        lock.release().await;
        assert!(recorded.is_ok(), "admission waited on the database");
        let stats = writer.shutdown().await;
        assert_eq!(stats.dropped, 0, "{stats:?}");
        assert_eq!(ledger::count(&conn).await.unwrap(), 44);
    }
);

dbtest!(drop_with_a_tiny_buffer_counts_every_dropped_entry, |db| {
    let conn = migrated(&db).await;
    let dir = tempdir();
    let mut cfg = config(dir.path(), 2, 4, OnFull::Drop);
    cfg.async_writer.num_workers = 1;
    let writer = LedgerWriter::start(conn.clone(), &cfg)
        .await
        .expect("start the writer");
    let lock = lock_table(&db).await;
    for e in entries("d", 100) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    lock.release().await;
    let stats = writer.shutdown().await;
    let rows = ledger::count(&conn).await.unwrap();
    assert!(stats.dropped > 0, "nothing dropped: {stats:?}");
    assert_eq!(rows + stats.dropped, 100, "{stats:?}");
    assert_eq!(stats.written, rows);
});

dbtest!(
    a_refused_entry_is_dead_lettered_and_its_batch_written,
    |db| {
        let conn = migrated(&db).await;
        match db.backend {
            crate::support::Backend::Sqlite => {
                db.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON usage_entries WHEN NEW.model = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned entry'); END",
            )
            .await;
            }
            crate::support::Backend::Postgres => {
                db.execute(
                    "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.model = 'poison' THEN RAISE EXCEPTION 'poisoned entry'; END IF; \
                 RETURN NEW; END $$",
                )
                .await;
                db.execute(
                    "CREATE TRIGGER poison BEFORE INSERT ON usage_entries \
                 FOR EACH ROW EXECUTE FUNCTION poison()",
                )
                .await;
            }
        }
        let dir = tempdir();
        let cfg = config(dir.path(), 20, 100, OnFull::Block);
        let writer = LedgerWriter::start(conn.clone(), &cfg)
            .await
            .expect("start the writer");
        let mut batch = entries("p", 20);
        batch[7].model = "poison".into();
        for e in batch.clone() {
            let admission = writer.admit().await.expect("admitted");
            let _ = writer.record(admission, e);
        }
        let stats = writer.shutdown().await;
        assert_eq!((stats.written, stats.dead_lettered), (19, 1), "{stats:?}");
        assert_eq!(ledger::count(&conn).await.unwrap(), 19);
        assert_eq!(ledger::get(&conn, "p-000007").await.unwrap(), None);
        let dead = dead_letter::read(Path::new(&cfg.dead_letter_path))
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        let mut got = dead[0].entry.clone();
        let link = got
            .chain
            .take()
            .expect("a dead letter keeps its chain link");
        assert_eq!(got, batch[7]);
        // Its number became a gap row, so the watermark passed it.
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM ledger_gaps WHERE reason = 'dead_lettered' AND seq = {}",
                link.seq
            ))
            .await,
            1
        );
        assert_eq!(stats.watermark, 20, "{stats:?}");
        assert!(
            dead[0].error.contains("poisoned entry"),
            "{}",
            dead[0].error
        );
    }
);

dbtest!(a_batch_that_never_fills_is_flushed_by_time, |db| {
    let conn = migrated(&db).await;
    let dir = tempdir();
    let writer = LedgerWriter::start(
        conn.clone(),
        &config(dir.path(), 1_000, 2_000, OnFull::Block),
    )
    .await
    .expect("start the writer");
    let start = Instant::now();
    for e in entries("slow", 5) {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    while ledger::count(&conn).await.unwrap() < 5 {
        assert!(start.elapsed() < Duration::from_secs(3), "no time flush");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    // The rows are visible at the commit; the writer's stats count the
    // batch just after it. Wait for those too, or a busy machine sees the
    // rows before their batch (a "0 batches" failure by timing alone).
    while writer.stats().written < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "stats never counted the batch"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        took >= Duration::from_millis(40),
        "flushed before flush_ms: {took:?}"
    );
    // Each of the two workers flushes what it took from the channel, so
    // the five entries make one batch or two, never one per entry.
    let batches = writer.stats().batches;
    assert!((1..=2).contains(&batches), "{batches} batches");
    writer.shutdown().await;
});

dbtest!(inline_mode_writes_before_returning, |db| {
    let conn = migrated(&db).await;
    let dir = tempdir();
    let mut cfg = config(dir.path(), 100, 100, OnFull::Block);
    cfg.async_writer.enabled = false;
    let writer = LedgerWriter::start(conn.clone(), &cfg)
        .await
        .expect("start the writer");
    assert!(writer.is_inline());
    let admission = writer.admit().await.expect("admitted");
    writer.persist(admission, entry("inline-1")).await;
    assert_eq!(ledger::count(&conn).await.unwrap(), 1);
    let admission = writer.admit().await.expect("admitted");
    let _ = writer.record(admission, entry("inline-2"));
    let stats = writer.shutdown().await;
    assert_eq!((stats.written, stats.batches), (2, 2));
    assert_eq!(ledger::count(&conn).await.unwrap(), 2);
});

dbtest!(
    entries_recorded_after_shutdown_are_counted_as_dropped,
    |db| {
        let conn = migrated(&db).await;
        let dir = tempdir();
        let writer = LedgerWriter::start(conn.clone(), &config(dir.path(), 10, 10, OnFull::Block))
            .await
            .expect("start the writer");
        writer.shutdown().await;
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, entry("late"));
        assert_eq!(writer.stats().dropped, 1);
        assert_eq!(ledger::count(&conn).await.unwrap(), 0);
    }
);
