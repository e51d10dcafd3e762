//! What makes rolling upgrades safe: the ledger's column table against the
//! migrated table on both backends, and versions a newer binary applied,
//! which this one runs beside when they are marked compatible and refuses
//! when they are breaking.

use sqlx::Row as _;
use tokctl::db::Db;
use tokctl::ledger::columns::{COLUMNS, Fill};

use super::tokctl_on;
use crate::support::{Backend, TestDb};

/// Each column of `usage_entries` but `id`, in table order: name, type,
/// NOT NULL, default (as the database prints it).
async fn table_columns(db: &TestDb) -> Vec<(String, String, bool, Option<String>)> {
    let rows = match db.connect().await {
        Db::Sqlite(p) => sqlx::query("PRAGMA table_info(usage_entries)")
            .fetch_all(&p)
            .await
            .expect("table_info")
            .iter()
            .map(|r| (r.get(1), r.get(2), r.get::<i64, _>(3) != 0, r.get(4)))
            .collect::<Vec<_>>(),
        Db::Postgres(p) => sqlx::query(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull, \
             pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE attrelid = 'usage_entries'::regclass AND attnum > 0 AND NOT attisdropped \
             ORDER BY attnum",
        )
        .fetch_all(&p)
        .await
        .expect("pg_attribute")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect(),
    };
    rows.into_iter().filter(|c| c.0 != "id").collect()
}

dbtest!(the_column_table_is_the_migrated_table, |db| {
    tokctl_on(&db).run(&["migrate"]).expect_code(0);
    let table = table_columns(&db).await;
    let names: Vec<&str> = table.iter().map(|c| c.0.as_str()).collect();
    let declared: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, declared, "the same columns in the same order");
    for (c, (name, ty, not_null, default)) in COLUMNS.iter().zip(&table) {
        let want = match db.backend {
            Backend::Sqlite => c.kind.sqlite_type(),
            Backend::Postgres => c.kind.postgres_type(),
        };
        assert_eq!(ty.as_str(), want, "{name}'s type");
        // The primary key and UNIQUE columns aside, NOT NULL is the kind's.
        assert_eq!(*not_null, !c.kind.nullable(), "{name}'s NOT NULL");
        // A column added after the first ones holds its fill by default,
        // which is what an older binary's rows get.
        match c.fill {
            Fill::Int(n) => assert_eq!(default.as_deref(), Some(n.to_string().as_str()), "{name}"),
            Fill::Text(t) => {
                let d = default.as_deref().unwrap_or_default();
                assert!(d.starts_with(&format!("'{t}'")), "{name}'s default {d}");
            }
            Fill::Null | Fill::Always => {}
        }
    }
});

/// Records version 9999 in `tokctl_migrations`, marked as `compatible` says.
async fn newer_version(db: &TestDb, compatible: bool) {
    let (blob, flag) = match db.backend {
        Backend::Sqlite => ("X'00'", if compatible { "1" } else { "0" }),
        Backend::Postgres => (
            "decode('00', 'hex')",
            if compatible { "TRUE" } else { "FALSE" },
        ),
    };
    let sql = format!(
        "INSERT INTO tokctl_migrations (version, description, checksum, compatible, applied_at_us) \
         VALUES (9999, 'from the future', {blob}, {flag}, 0)"
    );
    assert_eq!(db.execute(&sql).await, 1);
}

dbtest!(
    an_unknown_compatible_version_runs_beside_this_binary,
    |db| {
        let run = tokctl_on(&db);
        run.run(&["migrate"]).expect_code(0);
        assert_eq!(
            db.scalar("SELECT count(*) FROM tokctl_migrations WHERE version = 6")
                .await,
            1,
            "version 6 is tracked by tokctl"
        );
        newer_version(&db, true).await;
        let status = run.run(&["migrate", "status"]);
        status.expect_code(0);
        assert!(
            status.stdout.contains("unknown to this binary, compatible"),
            "{}",
            status.stdout
        );
        run.run(&["migrate"]).expect_code(0);
        run.run(&["ledger", "summary"]).expect_code(0);
    }
);

dbtest!(an_unknown_breaking_version_is_refused, |db| {
    let run = tokctl_on(&db);
    run.run(&["migrate"]).expect_code(0);
    newer_version(&db, false).await;
    let status = run.run(&["migrate", "status"]);
    status.expect_code(1);
    assert!(
        status
            .stderr
            .contains("9999 (from the future: unknown to this binary)"),
        "{}",
        status.stderr
    );
    run.run(&["migrate"]).expect_code(1);
});
