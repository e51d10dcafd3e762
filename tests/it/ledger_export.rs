//! `tokctl ledger export` and `summary` through the real binary, on SQLite
//! and PostgreSQL: exported rows equal the filtered rows field for field
//! (CSV through a standard reader, JSON lines through serde_json),
//! compressed files decompress to the same bytes, the manifest's hash
//! matches, the cursor file gives exactly-once, bad input exits 2 with no
//! file left behind, and summary totals equal sums computed in SQL.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use sha2::Digest;
use tokctl::db::Db;
use tokctl::ledger::chain::Link;
use tokctl::ledger::{self, Entry, TokenSource, Usage};

use crate::ledger::migrated;
use crate::support::{TestDb, Tokctl};

/// 2026-11-23T00:00:00Z.
const T0: i64 = 1_795_392_000_000_000;
const HOUR: i64 = 3_600_000_000;
const AWKWARD_MODEL: &str = "claude \"sonnet\", v2\nsecond line ✓";
// The quote and backslash also reach PostgreSQL as an escaped literal (COPY takes no binds).
const AWKWARD_USER: &str = "bob, \"the builder\" o'brien \\ jr";
const AWKWARD_ERROR: &str = "=HYPERLINK(\"x\"), comma\r\nand ünïcødé 模型";

/// Entry `i` of the test ledger: hourly from T0, three users (one unnamed),
/// two keys, two models, some errors, awkward text in the error rows.
fn entry(i: i64) -> Entry {
    let (user_id, user_name) = match i % 3 {
        0 => (Some(1), Some("alice".to_string())),
        1 => (Some(2), Some(AWKWARD_USER.to_string())),
        _ => (None, None),
    };
    let status_code = if i % 5 == 0 {
        500
    } else if i % 7 == 0 {
        429
    } else {
        200
    };
    let failed = status_code >= 400;
    Entry {
        request_id: format!("req-{i:03}"),
        created_at_us: T0 + i * HOUR + i,
        client_request_id: (i % 4 == 0).then(|| format!("client-{i}")),
        upstream_request_id: (i % 2 == 0).then(|| format!("up-{i}")),
        user_id,
        user_name,
        api_key_id: Some(1 + i % 2),
        endpoint: "/v1/chat/completions".into(),
        model: if i % 2 == 0 { "gpt-4o" } else { AWKWARD_MODEL }.into(),
        provider: "mock".into(),
        upstream_model: (i == 1).then(|| "@upstream-model".to_string()),
        usage: Usage {
            input_tokens: i * 10,
            cached_input_tokens: i,
            cache_write_tokens: i % 3,
            output_tokens: i * 20,
            reasoning_tokens: i % 4,
        },
        token_source: [
            TokenSource::Provider,
            TokenSource::Estimated,
            TokenSource::Partial,
            TokenSource::None,
        ][(i % 4) as usize],
        cost_nano: i * 1_234_567_891,
        latency_us: (i + 1) * 1_000,
        upstream_latency_us: (i % 2 == 1).then_some(i * 900),
        ttft_us: (i % 3 == 1).then_some(i * 100),
        overhead_us: Some(if i == 2 { -5 } else { i }),
        status_code,
        streamed: i % 2 == 0,
        // A stream that began 200 and then broke is an error row too.
        error_kind: if failed {
            Some("+upstream_error".to_string())
        } else {
            (i % 11 == 3).then(|| "upstream_body".to_string())
        },
        error_message: failed.then(|| AWKWARD_ERROR.to_string()),
        upstream_api: [Some("chat"), Some("messages"), None][(i % 3) as usize].map(String::from),
        team_id: (i % 2 == 0).then_some(7),
        cache: if i % 4 == 1 {
            tokctl::ledger::CacheStatus::Hit
        } else {
            tokctl::ledger::CacheStatus::None
        },
        chain: Some(link(i)),
        ..Default::default()
    }
}

/// Entry `i`'s place in a chain: even entries in `gw-a`, odd in `gw-b`,
/// numbered from 1 in each; the hashes are distinct made-up bytes (the
/// export copies them, it does not check them).
fn link(i: i64) -> Link {
    let byte = |k: i64| (k.rem_euclid(251)) as u8;
    Link {
        instance_id: if i % 2 == 0 { "gw-a" } else { "gw-b" }.to_string(),
        seq: i / 2 + 1,
        prev_hash: [byte(i - 2); 32],
        hash: [byte(i); 32],
        version: 2,
    }
}

/// Sets each chain's committed watermark, creating its `ledger_chains` row.
async fn set_watermark(conn: &Db, instance: &str, seq: i64) {
    const SQL: &str = "INSERT INTO ledger_chains (instance_id, keyed, started_at_us, \
        watermark_seq, updated_at_us) VALUES ($1, false, 0, $2, 0) \
        ON CONFLICT (instance_id) DO UPDATE SET watermark_seq = excluded.watermark_seq";
    match conn {
        Db::Sqlite(p) => sqlx::query(SQL)
            .bind(instance)
            .bind(seq)
            .execute(p)
            .await
            .map(|_| ()),
        Db::Postgres(p) => sqlx::query(SQL)
            .bind(instance)
            .bind(seq)
            .execute(p)
            .await
            .map(|_| ()),
    }
    .expect("setting a watermark");
}

/// Migrates `db`, inserts entries `range` and returns the connection.
async fn seeded(db: &TestDb, range: std::ops::Range<i64>) -> (Db, Vec<Entry>) {
    let conn = migrated(db).await;
    let entries: Vec<Entry> = range.map(entry).collect();
    ledger::insert_batch(&conn, &entries)
        .await
        .expect("inserting the test entries");
    for chain in ["gw-a", "gw-b"] {
        let top = entries
            .iter()
            .filter_map(|e| e.chain.as_ref())
            .filter(|l| l.instance_id == chain)
            .map(|l| l.seq)
            .max()
            .unwrap_or(0);
        set_watermark(&conn, chain, top).await;
    }
    (conn, entries)
}

/// Row id per request id, read straight from the table.
async fn ids(conn: &Db) -> HashMap<String, i64> {
    const SQL: &str = "SELECT request_id, id FROM usage_entries";
    let rows: Vec<(String, i64)> = match conn {
        Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await,
        Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await,
    }
    .expect("reading row ids");
    rows.into_iter().collect()
}

/// The CSV cells an entry must export as, built independently of the
/// exporter (chrono for times, integer arithmetic for the cost).
fn expected_cells(e: &Entry, id: i64) -> Vec<String> {
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let time = chrono::DateTime::from_timestamp_micros(e.created_at_us)
        .expect("a valid time")
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let u = &e.usage;
    vec![
        id.to_string(),
        e.request_id.clone(),
        time,
        e.created_at_us.to_string(),
        text(&e.client_request_id),
        text(&e.upstream_request_id),
        opt(e.user_id),
        text(&e.user_name),
        opt(e.api_key_id),
        e.endpoint.clone(),
        e.model.clone(),
        e.provider.clone(),
        text(&e.upstream_model),
        u.input_tokens.to_string(),
        u.cached_input_tokens.to_string(),
        u.cache_write_tokens.to_string(),
        u.output_tokens.to_string(),
        u.reasoning_tokens.to_string(),
        e.token_source.as_str().to_string(),
        e.cost_nano.to_string(),
        format!(
            "{}.{:09}",
            e.cost_nano / 1_000_000_000,
            e.cost_nano % 1_000_000_000
        ),
        e.latency_us.to_string(),
        opt(e.upstream_latency_us),
        opt(e.ttft_us),
        opt(e.overhead_us),
        e.status_code.to_string(),
        e.streamed.to_string(),
        text(&e.error_kind),
        text(&e.error_message),
        e.chain
            .as_ref()
            .map(|l| l.instance_id.clone())
            .unwrap_or_default(),
        opt(e.chain.as_ref().map(|l| l.seq)),
        e.chain
            .as_ref()
            .map(|l| hex::encode(l.prev_hash))
            .unwrap_or_default(),
        e.chain
            .as_ref()
            .map(|l| hex::encode(l.hash))
            .unwrap_or_default(),
        e.chain
            .as_ref()
            .map(|l| l.version.to_string())
            .unwrap_or_default(),
        e.upstream_api.clone().unwrap_or_default(),
        e.attempts.to_string(),
        e.failed_attempts.clone().unwrap_or_default(),
        e.requested_model.clone().unwrap_or_default(),
        e.team_id.map(|t| t.to_string()).unwrap_or_default(),
        e.cache.as_str().to_string(),
        e.saved_cost_nano.to_string(),
    ]
}

/// Which test entries a filter case keeps.
type Keep = Box<dyn Fn(&Entry) -> bool>;

fn tokctl(db: &TestDb) -> Tokctl {
    Tokctl::new().config(&format!("[ledger]\npath = \"{}\"\n", db.dsn))
}

/// Parses CSV text with the `csv` crate: the header and the records.
fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header = r
        .headers()
        .expect("a CSV header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.expect("a CSV record")
                .iter()
                .map(String::from)
                .collect()
        })
        .collect();
    (header, rows)
}

fn rfc3339(us: i64) -> String {
    tokctl::ledger::export::format_time(us)
}

/// Files in `dir` other than the config file.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("listing the run dir")
        .map(|e| {
            e.expect("a dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n != "config.toml")
        .collect()
}

dbtest!(exported_rows_equal_the_filtered_rows, |db| {
    let (conn, entries) = seeded(&db, 0..40).await;
    let ids = ids(&conn).await;
    let run = tokctl(&db);
    let cases: Vec<(Vec<String>, Keep)> = vec![
        (vec![], Box::new(|_| true)),
        (
            vec![
                "--since".into(),
                rfc3339(T0 + 5 * HOUR),
                "--until".into(),
                rfc3339(T0 + 30 * HOUR),
                "--user".into(),
                AWKWARD_USER.into(),
            ],
            Box::new(|e| {
                e.created_at_us >= T0 + 5 * HOUR
                    && e.created_at_us < T0 + 30 * HOUR
                    && e.user_name.as_deref() == Some(AWKWARD_USER)
            }),
        ),
        (
            vec![
                "--key".into(),
                "2".into(),
                "--model".into(),
                AWKWARD_MODEL.into(),
            ],
            Box::new(|e| e.api_key_id == Some(2) && e.model == AWKWARD_MODEL),
        ),
        (
            vec!["--status".into(), "500".into()],
            Box::new(|e| e.status_code == 500),
        ),
        (
            vec!["--errors".into()],
            Box::new(|e| e.status_code >= 400 || e.error_kind.is_some()),
        ),
        (
            vec!["--instance".into(), "gw-b".into()],
            Box::new(|e| e.request_id.ends_with(['1', '3', '5', '7', '9'])),
        ),
        (
            vec![
                "--instance".into(),
                "gw-b".into(),
                "--after".into(),
                "14".into(),
            ],
            Box::new(|e| {
                e.chain
                    .as_ref()
                    .is_some_and(|l| l.instance_id == "gw-b" && l.seq > 14)
            }),
        ),
    ];
    for (args, keep) in &cases {
        let mut want: Vec<&Entry> = entries.iter().filter(|e| keep(e)).collect();
        want.sort_by_key(|e| ids[&e.request_id]);
        assert!(
            !want.is_empty(),
            "case {args:?} selects nothing: a useless case"
        );
        let mut csv_args = vec!["ledger", "export"];
        csv_args.extend(args.iter().map(String::as_str));
        let out = run.run(&csv_args);
        out.expect_code(0);
        let (header, rows) = parse_csv(out.stdout.as_bytes());
        assert_eq!(header, tokctl::ledger::export::columns());
        let expected: Vec<Vec<String>> = want
            .iter()
            .map(|e| expected_cells(e, ids[&e.request_id]))
            .collect();
        assert_eq!(rows, expected, "CSV export with {args:?}");

        csv_args.extend(["--format", "jsonl"]);
        let out = run.run(&csv_args);
        out.expect_code(0);
        let lines: Vec<serde_json::Value> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), want.len(), "JSONL export with {args:?}");
        for ((line, raw), e) in lines.iter().zip(out.stdout.lines()).zip(&want) {
            let cells = expected_cells(e, ids[&e.request_id]);
            let obj = line.as_object().expect("each line is an object");
            assert_eq!(obj.len(), cells.len(), "one key per column");
            // Keys come in column order (serde_json's map sorts them, so look at the text).
            let at: Vec<usize> = tokctl::ledger::export::columns()
                .iter()
                .map(|c| {
                    raw.find(&format!("\"{c}\":"))
                        .expect("every column is a key")
                })
                .collect();
            assert!(
                at.windows(2).all(|w| w[0] < w[1]),
                "keys in column order: {raw}"
            );
            for (name, cell) in tokctl::ledger::export::columns().iter().zip(&cells) {
                let value = &obj[*name];
                let as_text = match value {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if *name == "cost" {
                    let want = e.cost_nano as f64 / 1e9;
                    assert!((value.as_f64().expect("cost is a number") - want).abs() < 1e-6);
                } else {
                    assert_eq!(&as_text, cell, "JSON field {name} of {}", e.request_id);
                }
            }
            assert!(obj["user_id"].is_null() == e.user_id.is_none());
            assert!(obj["streamed"].is_boolean() && obj["status_code"].is_i64());
        }
    }
});

dbtest!(full_exports_come_out_in_time_order_ties_by_id, |db| {
    // Inserted (so numbered) in one order, stamped in another: a full export
    // follows the time and breaks ties by row id, ranged or not.
    let conn = migrated(&db).await;
    let hours = [5, 3, 3, 9, 1];
    let entries: Vec<Entry> = (0..)
        .zip(hours)
        .map(|(i, h)| Entry {
            created_at_us: T0 + h * HOUR,
            ..entry(i)
        })
        .collect();
    ledger::insert_batch(&conn, &entries)
        .await
        .expect("inserting the test entries");
    let ids = ids(&conn).await;
    let run = tokctl(&db);
    let exported = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["ledger", "export"];
        all.extend(args);
        let out = run.run(&all);
        out.expect_code(0);
        let (header, rows) = parse_csv(out.stdout.as_bytes());
        assert_eq!(header[1], "request_id");
        rows.into_iter().map(|r| r[1].clone()).collect()
    };
    let in_order = |keep: &dyn Fn(&Entry) -> bool| -> Vec<String> {
        let mut want: Vec<&Entry> = entries.iter().filter(|e| keep(e)).collect();
        want.sort_by_key(|e| (e.created_at_us, ids[&e.request_id]));
        want.iter().map(|e| e.request_id.clone()).collect()
    };
    let all = in_order(&|_| true);
    let inserted: Vec<String> = entries.iter().map(|e| e.request_id.clone()).collect();
    assert_ne!(
        all, inserted,
        "a useless case: time order is insertion order"
    );
    assert_eq!(exported(&[]), all);
    let (since, until) = (rfc3339(T0 + 2 * HOUR), rfc3339(T0 + 6 * HOUR));
    let ranged = in_order(&|e| e.created_at_us >= T0 + 2 * HOUR && e.created_at_us < T0 + 6 * HOUR);
    assert_eq!(ranged.len(), 3);
    assert_eq!(exported(&["--since", &since, "--until", &until]), ranged);
});

dbtest!(excel_safe_neutralises_formula_cells_only, |db| {
    let (_conn, _) = seeded(&db, 0..3).await;
    let run = tokctl(&db);
    let plain = run.run(&["ledger", "export"]);
    let (_, plain_rows) = parse_csv(plain.expect_code(0).stdout.as_bytes());
    let safe = run.run(&["ledger", "export", "--excel-safe"]);
    let (_, safe_rows) = parse_csv(safe.expect_code(0).stdout.as_bytes());
    let col = |name: &str| {
        tokctl::ledger::export::columns()
            .iter()
            .position(|c| *c == name)
            .expect("a known column")
    };
    // Entry 0 failed (=…, +…), entry 1 has an @ upstream model, entry 2 a negative overhead.
    assert_eq!(plain_rows[0][col("error_message")], AWKWARD_ERROR);
    assert_eq!(
        safe_rows[0][col("error_message")],
        format!("'{AWKWARD_ERROR}")
    );
    assert_eq!(safe_rows[0][col("error_kind")], "'+upstream_error");
    assert_eq!(safe_rows[1][col("upstream_model")], "'@upstream-model");
    assert_eq!(
        safe_rows[2][col("overhead_us")],
        "-5",
        "numbers are left alone"
    );
    assert_eq!(safe_rows[1][col("model")], AWKWARD_MODEL);
});

dbtest!(compressed_exports_and_manifest_match_the_plain_file, |db| {
    let (_conn, entries) = seeded(&db, 0..25).await;
    let run = tokctl(&db);
    let dir = run.dir().to_path_buf();
    for format in ["csv", "jsonl"] {
        let plain = format!("usage.{format}");
        let gz = format!("usage.{format}.gz");
        let zst = format!("usage-{format}.bin");
        for (file, extra) in [(&plain, None), (&gz, None), (&zst, Some("zstd"))] {
            let mut args = vec![
                "ledger",
                "export",
                "--format",
                format,
                "--output",
                file,
                "--manifest",
            ];
            if let Some(c) = extra {
                args.extend(["--compress", c]);
            }
            run.run(&args).expect_code(0);
        }
        let plain_bytes = std::fs::read(dir.join(&plain)).expect("the plain export");
        let mut from_gz = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(dir.join(&gz)).expect("the gzip export"))
            .read_to_end(&mut from_gz)
            .expect("gzip decodes");
        let from_zst =
            zstd::decode_all(std::fs::File::open(dir.join(&zst)).expect("the zstd export"))
                .expect("zstd decodes");
        assert_eq!(from_gz, plain_bytes, "{format}: gzip holds the same bytes");
        assert_eq!(from_zst, plain_bytes, "{format}: zstd holds the same bytes");
        let rows = if format == "csv" {
            parse_csv(&plain_bytes).1.len()
        } else {
            plain_bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        };
        assert_eq!(rows, entries.len());

        for (file, compression) in [(&plain, "none"), (&gz, "gzip"), (&zst, "zstd")] {
            let bytes = std::fs::read(dir.join(file)).expect("the export");
            let text = std::fs::read_to_string(dir.join(format!("{file}.manifest.json")))
                .expect("the manifest");
            let m: serde_json::Value = serde_json::from_str(&text).expect("the manifest is JSON");
            assert_eq!(m["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
            assert_eq!(m["bytes"], bytes.len());
            assert_eq!(m["rows"], entries.len());
            assert_eq!(m["format"], format);
            assert_eq!(m["compression"], compression);
            assert_eq!(m["file"], file.as_str());
            assert_eq!(
                m["columns"],
                serde_json::json!(tokctl::ledger::export::columns().to_vec())
            );
            assert_eq!(m["first_created_at"], rfc3339(T0));
            assert_eq!(m["last_created_at"], rfc3339(T0 + 24 * HOUR + 24));
            // The chain heads the file ends at: the last row of each chain.
            let chains = m["chains"].as_array().expect("chains");
            let head = |id: &str| {
                chains
                    .iter()
                    .find(|c| c["instance_id"] == id)
                    .cloned()
                    .unwrap_or_default()
            };
            assert_eq!(chains.len(), 2);
            assert_eq!(head("gw-a")["rows"], 13);
            assert_eq!(head("gw-a")["last_seq"], 13);
            assert_eq!(head("gw-a")["last_entry_hash"], hex::encode(link(24).hash));
            assert_eq!(head("gw-b")["first_seq"], 1);
            assert_eq!(head("gw-b")["last_seq"], 12);
            assert_eq!(head("gw-b")["last_entry_hash"], hex::encode(link(23).hash));
        }
    }
    assert!(
        leftovers(&dir).iter().all(|n| !n.ends_with(".partial")),
        "no temporary file remains: {:?}",
        leftovers(&dir)
    );
});

dbtest!(cursor_file_exports_each_entry_exactly_once, |db| {
    let (conn, _) = seeded(&db, 0..10).await;
    let run = tokctl(&db);
    let export = |out: &str| {
        run.run(&[
            "ledger",
            "export",
            "--cursor",
            "cursor.json",
            "--format",
            "jsonl",
            "--output",
            out,
        ])
        .expect_code(0);
        let text = std::fs::read_to_string(run.dir().join(out)).expect("the export");
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
                v["request_id"].as_str().expect("a request id").to_string()
            })
            .collect::<Vec<_>>()
    };
    let first = export("1.jsonl");
    assert_eq!(first.len(), 10);
    let cursor_before = std::fs::read_to_string(run.dir().join("cursor.json")).expect("cursor");
    let cursor: serde_json::Value = serde_json::from_str(&cursor_before).expect("JSON");
    assert_eq!(cursor["chains"], serde_json::json!({"gw-a": 5, "gw-b": 5}));

    // A failed run (unwritable output) leaves the cursor where it was.
    run.run(&[
        "ledger",
        "export",
        "--cursor",
        "cursor.json",
        "--output",
        "missing-dir/x.csv",
    ])
    .expect_code(2);
    let cursor_after = std::fs::read_to_string(run.dir().join("cursor.json")).expect("cursor");
    assert_eq!(cursor_before, cursor_after);

    // With a time range the cursor would move past rows outside it for
    // ever: refused before anything is read or written.
    for range in [["--since", "2026-11-23T00:00:00Z"], ["--until", "1h"]] {
        let out = run.run(&[
            "ledger",
            "export",
            "--cursor",
            "cursor.json",
            "--output",
            "t.csv",
            range[0],
            range[1],
        ]);
        out.expect_code(2);
        assert!(
            out.stderr.contains("--cursor") && out.stderr.contains("--since or --until"),
            "{range:?}: {}",
            out.stderr
        );
        assert!(!run.dir().join("t.csv").exists(), "{range:?} wrote a file");
    }
    // A cursor whose directory is missing would read as "from the start"
    // and fail to be written after the export: refused up front.
    let out = run.run(&[
        "ledger",
        "export",
        "--cursor",
        "no-dir/cursor.json",
        "--output",
        "n.csv",
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("no-dir"), "{}", out.stderr);
    let left = leftovers(run.dir());
    assert!(
        !left
            .iter()
            .any(|n| n.starts_with("n.csv") || n.ends_with(".partial")),
        "no output file: {left:?}"
    );
    let cursor_after = std::fs::read_to_string(run.dir().join("cursor.json")).expect("cursor");
    assert_eq!(cursor_before, cursor_after);

    // Workers commit out of order: seq 8 of each chain lands before seq 7,
    // so the watermark stays at 6 and the export must stop there.
    let insert = |range: &[i64]| {
        let batch: Vec<Entry> = range.iter().copied().map(entry).collect();
        let conn = conn.clone();
        async move {
            ledger::insert_batch(&conn, &batch)
                .await
                .expect("inserting more")
        }
    };
    insert(&[10, 11, 14, 15]).await;
    set_watermark(&conn, "gw-a", 6).await;
    set_watermark(&conn, "gw-b", 6).await;
    let second = export("2.jsonl");
    assert_eq!(second, ["req-010", "req-011"], "up to the watermark only");

    // The late batch arrives; the next run takes it and what was above it.
    insert(&[12, 13]).await;
    set_watermark(&conn, "gw-a", 8).await;
    set_watermark(&conn, "gw-b", 8).await;
    let third = export("3.jsonl");
    assert_eq!(
        third,
        ["req-012", "req-014", "req-013", "req-015"],
        "chain by chain, in sequence order, nothing skipped"
    );
    assert!(
        export("4.jsonl").is_empty(),
        "nothing new: nothing exported"
    );
    let all: std::collections::HashSet<_> = first.iter().chain(&second).chain(&third).collect();
    assert_eq!(all.len(), 16, "each entry exactly once");

    // --after counts in one chain: with two, it needs --instance.
    let out = run.run(&["ledger", "export", "--after", "3"]);
    out.expect_code(2);
    assert!(out.stderr.contains("--instance"), "{}", out.stderr);
    let out = run.run(&["ledger", "export", "--instance", "gw-z", "--after", "3"]);
    out.expect_code(2);
    assert!(out.stderr.contains("gw-a, gw-b"), "{}", out.stderr);
});

#[test]
fn bad_input_exits_2_with_one_line_and_no_file() {
    let db = TestDb::sqlite();
    let run = tokctl(&db);
    let cases: [&[&str]; 7] = [
        &["ledger", "export", "--format", "xml", "--output", "out.csv"],
        &[
            "ledger",
            "export",
            "--since",
            "yesterday",
            "--output",
            "out.csv",
        ],
        &[
            "ledger", "export", "--since", "1h", "--until", "2h", "--output", "out.csv",
        ],
        &["ledger", "export", "--output", "no-such-dir/out.csv"],
        &["ledger", "export", "--output", "."],
        &["ledger", "export", "--manifest"],
        &["ledger", "summary", "--until", "2026-13-01"],
    ];
    for args in cases {
        let out = run.run(args);
        out.expect_code(2);
        assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("error"), "{args:?}: {}", out.stderr);
        assert!(
            leftovers(run.dir()).is_empty(),
            "{args:?} left {:?}",
            leftovers(run.dir())
        );
    }
    let out = run.run(&["ledger", "export", "--since", "1h", "--until", "2h"]);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.contains("--since") && out.stderr.contains("after --until"));
}

#[test]
fn a_failed_export_leaves_no_file() {
    // The ledger has no table: the export fails after the output was opened.
    let db = TestDb::sqlite();
    // An empty file, not a missing one (that is refused before any output).
    std::fs::write(db.sqlite_path().expect("a SQLite file"), b"").expect("empty ledger file");
    let run = tokctl(&db);
    let out = run.run(&["ledger", "export", "--output", "out.csv", "--manifest"]);
    out.expect_code(1);
    assert!(
        leftovers(run.dir()).is_empty(),
        "left {:?}",
        leftovers(run.dir())
    );
}

dbtest!(summary_totals_equal_sums_computed_in_sql, |db| {
    let (_conn, _) = seeded(&db, 0..100).await;
    let run = tokctl(&db);
    let out = run.run(&[
        "ledger", "summary", "--by", "user", "--by", "model", "--json",
    ]);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&out.expect_code(0).stdout).expect("summary JSON");
    assert_eq!(rows.len(), 6, "3 users × 2 models: {rows:?}");
    let mut requests = 0;
    for r in &rows {
        let user = match r["user"].as_str() {
            Some(u) => format!("user_name = '{}'", u.replace('\'', "''")),
            None => "user_name IS NULL".to_string(),
        };
        let model = r["model"].as_str().expect("a model");
        let cond = format!("{user} AND model = '{}'", model.replace('\'', "''"));
        let sql =
            |expr: &str| format!("SELECT CAST({expr} AS BIGINT) FROM usage_entries WHERE {cond}");
        assert_eq!(r["requests"], db.scalar(&sql("count(*)")).await);
        assert_eq!(
            r["errors"],
            db.scalar(&sql(
                "sum(CASE WHEN status_code >= 400 OR error_kind IS NOT NULL THEN 1 ELSE 0 END)"
            ))
            .await
        );
        assert_eq!(
            r["prompt_tokens"],
            db.scalar(&sql(
                "sum(input_tokens) + sum(cached_input_tokens) + sum(cache_write_tokens)"
            ))
            .await
        );
        assert_eq!(
            r["completion_tokens"],
            db.scalar(&sql("sum(output_tokens)")).await
        );
        assert_eq!(
            r["total_tokens"],
            db.scalar(&sql(
                "sum(input_tokens + cached_input_tokens + cache_write_tokens + output_tokens)"
            ))
            .await
        );
        assert_eq!(r["cost_nano"], db.scalar(&sql("sum(cost_nano)")).await);
        requests += r["requests"].as_i64().expect("a count");
    }
    assert_eq!(requests, 100);

    // The new dimensions: the provider's API and the cache result.
    let out = run.run(&["ledger", "summary", "--by", "upstream_api,cache", "--json"]);
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&out.expect_code(0).stdout).expect("summary JSON");
    assert_eq!(
        rows.len(),
        6,
        "3 APIs (one NULL) × 2 cache results: {rows:?}"
    );
    for r in &rows {
        let api = match r["upstream_api"].as_str() {
            Some(a) => format!("upstream_api = '{a}'"),
            None => "upstream_api IS NULL".to_string(),
        };
        let cache = r["cache"].as_str().expect("a cache result");
        let sql = format!("SELECT count(*) FROM usage_entries WHERE {api} AND cache = '{cache}'");
        assert_eq!(r["requests"], db.scalar(&sql).await, "{r}");
    }

    // Grand totals and latency percentiles: latencies are 1..=100 ms, so
    // percentile_cont gives p50 = 50.5 ms and p99 = 99.01 ms on both backends.
    let out = run.run(&["ledger", "summary", "--json"]);
    let total: Vec<serde_json::Value> =
        serde_json::from_str(&out.expect_code(0).stdout).expect("summary JSON");
    assert_eq!(total.len(), 1);
    assert_eq!(total[0]["requests"], 100);
    assert_eq!(
        total[0]["cost_nano"],
        db.scalar("SELECT CAST(sum(cost_nano) AS BIGINT) FROM usage_entries")
            .await
    );
    assert!((total[0]["p50_latency_ms"].as_f64().expect("p50") - 50.5).abs() < 1e-9);
    assert!((total[0]["p99_latency_ms"].as_f64().expect("p99") - 99.01).abs() < 1e-9);

    // By day over a range, as CSV: 2026-11-24 holds entries 24..48.
    let out = run.run(&[
        "ledger",
        "summary",
        "--by",
        "day,hour",
        "--csv",
        "--since",
        &rfc3339(T0 + 24 * HOUR),
        "--until",
        &rfc3339(T0 + 48 * HOUR),
    ]);
    let (header, rows) = parse_csv(out.expect_code(0).stdout.as_bytes());
    assert_eq!(&header[..3], ["day", "hour", "requests"]);
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r[0] == "2026-11-24" && r[2] == "1"));
    assert_eq!(rows[5][1], "2026-11-24T05:00Z");

    let table = run.run(&["ledger", "summary", "--by", "key"]);
    let text = &table.expect_code(0).stdout;
    // The table is for people: headers in words, cost in the currency.
    assert!(
        text.contains("p99") && text.contains("total tokens") && text.contains(" USD"),
        "{text}"
    );
});

dbtest!(count_for_the_progress_bar_matches_the_rows_exported, |db| {
    use tokctl::ledger::export::{Compression, Destination, Export, ExportOptions, Filter, Format};
    let (conn, _) = seeded(&db, 0..40).await;
    for (filter, after) in [
        (Filter::default(), None),
        (
            Filter {
                status: Some(200),
                ..Filter::default()
            },
            None,
        ),
        (
            Filter {
                instance: Some("gw-b".into()),
                ..Filter::default()
            },
            Some(7),
        ),
    ] {
        let opts = ExportOptions {
            format: Format::Jsonl,
            compression: Compression::None,
            filter: filter.clone(),
            excel_safe: false,
            manifest: false,
            after,
            cursor: None,
        };
        let job = Export::prepare(opts, Destination::Stream(Box::new(std::io::sink())))
            .expect("options are valid");
        let counted = job.count(&conn).await.expect("counting");
        let report = job.run(&conn, &mut |_| {}).await.expect("exporting");
        assert_eq!(counted, report.rows, "{filter:?} after {after:?}");
        assert!(counted > 0);
    }
});

dbtest!(a_reader_that_stops_early_ends_the_export_quietly, |db| {
    // 3,000 rows are far more than a pipe holds: the export is still
    // writing when its reader goes away (as with `| head`).
    let (_conn, _) = seeded(&db, 0..3000).await;
    let run = tokctl(&db);
    let args = ["ledger", "export", "--format", "csv"];
    let mut child = run.spawn(&args);
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = vec![0u8; 4096];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("the first rows");
    assert!(first.starts_with(b"id,request_id,"), "the CSV header first");
    drop(stdout);
    let out = crate::support::bin::wait(child, &args);
    assert_eq!(
        out.code, 0,
        "a closed pipe is not a failure: {}",
        out.stderr
    );
    assert!(out.stderr.trim().is_empty(), "stderr: {}", out.stderr);
});
