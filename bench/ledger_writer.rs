//! Ledger writer throughput: `record()` as fast as one producer can feed it,
//! against a bare `insert_batch` of the same rows, on SQLite (a temp file)
//! and PostgreSQL (`TOKCTL_BENCH_PG`, skipped when unset).
//!
//! Prints numbers, asserts nothing. Knobs (environment): `TOKCTL_BENCH_N`
//! (entries, default 200000), `TOKCTL_BENCH_BATCH` (default 5000),
//! `TOKCTL_BENCH_BUFFER` (default 4 batches), `TOKCTL_BENCH_WORKERS`
//! (default 1 on SQLite, 2 on PostgreSQL), `TOKCTL_BENCH_SQLITE_CACHE_KIB`
//! (unset: SQLite's default page cache; set: one pooled connection with
//! `PRAGMA cache_size` of that many KiB, to measure what the db layer
//! could gain), `TOKCTL_BENCH_PRELINK=1` (the chained bare row links its
//! entries before the clock starts: what the chain costs the store alone).
//! Run with `bench/ledger.sh`.

use std::time::{Duration, Instant};

use tokctl::config::{AsyncWriterConfig, ChainConfig, LedgerConfig, OnFull, SpoolConfig};
use tokctl::db::{Db, Dsn, PoolSettings, migrate};
use tokctl::ledger::chain::sequencer::Sequencer;
use tokctl::ledger::chain::{ChainKey, GENESIS};
use tokctl::ledger::{self, Entry, LedgerWriter, TokenSource, Usage};

// The allocator `tokctl` itself runs with (commands/main.rs), so the
// entries are made and freed here as they are in the gateway.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn entries(n: usize, tag: &str) -> Vec<Entry> {
    (0..n)
        .map(|i| Entry {
            request_id: format!("{tag}-{i:010}"),
            created_at_us: 1_700_000_000_000_000 + i as i64,
            client_request_id: (i % 3 == 0).then(|| format!("client-{i}")),
            upstream_request_id: Some(format!("chatcmpl-{i}")),
            user_id: Some((i % 50) as i64),
            user_name: Some(format!("user-{}", i % 50)),
            api_key_id: Some((i % 200) as i64),
            endpoint: "/v1/chat/completions".into(),
            model: ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4"][i % 3].into(),
            provider: "openai".into(),
            upstream_model: None,
            usage: Usage {
                input_tokens: 120,
                cached_input_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 240,
                reasoning_tokens: 0,
            },
            token_source: TokenSource::Provider,
            cost_nano: 162_000,
            latency_us: 350_000,
            upstream_latency_us: Some(349_000),
            ttft_us: None,
            overhead_us: Some(1_000),
            status_code: 200,
            streamed: i % 2 == 0,
            error_kind: None,
            error_message: None,
            chain: None,
            ..Default::default()
        })
        .collect()
}

fn settings() -> PoolSettings {
    PoolSettings {
        max_open: 8,
        max_idle: 2,
        max_lifetime: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(600),
        connect_timeout: Duration::from_secs(5),
        busy_timeout: Duration::from_secs(5),
    }
}

async fn fresh(dsn: &Dsn) -> Result<Db, Box<dyn std::error::Error>> {
    let cache_kib = knob("TOKCTL_BENCH_SQLITE_CACHE_KIB", 0);
    let mut settings = settings();
    if cache_kib > 0 && matches!(dsn, Dsn::Sqlite { .. }) {
        (settings.max_open, settings.max_idle) = (1, 1);
    }
    let db = Db::connect(dsn, &settings, "ledger").await?;
    if let (Db::Sqlite(p), true) = (&db, cache_kib > 0) {
        let pragma = format!("PRAGMA cache_size = -{cache_kib}");
        sqlx::query(&pragma).execute(p).await?;
    }
    migrate::apply(&db, dsn, &|| {}).await?;
    if let Db::Postgres(p) = &db {
        // The chain's tables too: a watermark left by an earlier run would
        // make the spool's tailer skip this run's entries as committed.
        sqlx::query("TRUNCATE usage_entries, ledger_chains, ledger_gaps, spend_rollups")
            .execute(p)
            .await?;
    }
    // Experiment knobs: what indexes cost. TOKCTL_BENCH_DROP_INDEXES is a
    // comma-separated list of index names; TOKCTL_BENCH_DROP_CHAIN_INDEX=1
    // is short for the chain's (instance_id, seq) index.
    let mut drop: Vec<String> = std::env::var("TOKCTL_BENCH_DROP_INDEXES")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if std::env::var("TOKCTL_BENCH_DROP_CHAIN_INDEX").is_ok_and(|v| v == "1") {
        drop.push("usage_entries_chain".into());
    }
    // TOKCTL_BENCH_DROP_ROLLUPS=1: PostgreSQL without the spend rollups'
    // statement trigger (migration 0008), to measure what it costs a write.
    // SQLite's writer adds the rollups itself: compare with a build from
    // before 0008 instead.
    if std::env::var("TOKCTL_BENCH_DROP_ROLLUPS").is_ok_and(|v| v == "1")
        && let Db::Postgres(p) = &db
    {
        sqlx::query("DROP TRIGGER IF EXISTS spend_rollup ON usage_entries")
            .execute(p)
            .await?;
    }
    for index in drop {
        let sql = format!("DROP INDEX IF EXISTS {index}");
        match &db {
            Db::Sqlite(p) => sqlx::query(&sql).execute(p).await.map(|_| ())?,
            Db::Postgres(p) => sqlx::query(&sql).execute(p).await.map(|_| ())?,
        }
    }
    Ok(db)
}

async fn run(name: &str, dsns: [Dsn; 2], workers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let n = knob("TOKCTL_BENCH_N", 200_000);
    let batch = knob("TOKCTL_BENCH_BATCH", 5_000);
    let buffer = knob("TOKCTL_BENCH_BUFFER", 4 * batch);

    // Bare bulk insert: the same rows, batch by batch, straight to the store.
    let [bare_dsn, writer_dsn] = dsns;
    let db = fresh(&bare_dsn).await?;
    let rows = entries(n, "bare");
    let start = Instant::now();
    for chunk in rows.chunks(batch) {
        ledger::insert_batch(&db, chunk).await?;
    }
    let bare = start.elapsed();
    let stored = ledger::count(&db).await?;
    db.close().await;

    // The same bare insert of chained rows: each entry linked (sequence
    // number, HMAC, previous hash) inside the timed loop, so the difference
    // to the row above is what the chain costs the store and the hashing.
    let chained_dsn = match &bare_dsn {
        Dsn::Sqlite { path } => Dsn::Sqlite {
            path: path.with_extension("chained.db"),
        },
        other => other.clone(),
    };
    let db = fresh(&chained_dsn).await?;
    let rows = entries(n, "chained");
    let seq = Sequencer::new("bench".into(), ChainKey::new("bench-key"), 0, GENESIS);
    // TOKCTL_BENCH_PRELINK=1 links every entry before the clock starts, so
    // that the row measures only what the chain costs the store.
    let prelink = std::env::var("TOKCTL_BENCH_PRELINK").is_ok_and(|v| v == "1");
    let mut rows: Box<dyn Iterator<Item = Entry>> = if prelink {
        let linked: Vec<Entry> = rows
            .into_iter()
            .map(|e| seq.assign_then(e, |e| e))
            .collect();
        Box::new(linked.into_iter())
    } else {
        Box::new(rows.into_iter().map(|e| seq.assign_then(e, |e| e)))
    };
    let start = Instant::now();
    let mut linked = Vec::with_capacity(batch);
    loop {
        linked.clear();
        linked.extend(rows.by_ref().take(batch));
        if linked.is_empty() {
            break;
        }
        ledger::insert_batch(&db, &linked).await?;
    }
    let chained = start.elapsed();
    db.close().await;

    // The writer: one producer calling admit + record, then shutdown (drain).
    let db = fresh(&writer_dsn).await?;
    let scratch = tempfile::tempdir()?;
    let cfg = LedgerConfig {
        async_writer: AsyncWriterConfig {
            enabled: true,
            batch_size: batch,
            flush_ms: 100,
            buffer_size: buffer,
            num_workers: workers,
            on_full: OnFull::Block,
            full_wait_ms: 60_000,
        },
        // The chain is always on; the spool only with BENCH_SPOOL=1 (its
        // fsync mode from BENCH_FSYNC: never, interval or always).
        chain: ChainConfig {
            instance_id: "bench".into(),
            head_file: scratch.path().join("head.json").to_string_lossy().into(),
            hmac_key: "bench-key".into(),
            ..ChainConfig::default()
        },
        spool: SpoolConfig {
            enabled: std::env::var("BENCH_SPOOL").is_ok_and(|v| v == "1"),
            dir: scratch.path().join("spool").to_string_lossy().into(),
            fsync: match std::env::var("BENCH_FSYNC").as_deref() {
                Ok("never") => tokctl::config::Fsync::Never,
                Ok("always") => tokctl::config::Fsync::Always,
                _ => tokctl::config::Fsync::Interval,
            },
            ..SpoolConfig::default()
        },
        ..LedgerConfig::default()
    };
    let rows = entries(n, "writer");
    let writer = LedgerWriter::start(db.clone(), &cfg).await?;
    let start = Instant::now();
    for e in rows {
        let admission = writer.admit().await.expect("admitted");
        let _ = writer.record(admission, e);
    }
    let stats = writer.shutdown().await;
    let took = start.elapsed();
    let written = ledger::count(&db).await?;
    db.close().await;

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "{name:<10} n={n} batch={batch} buffer={buffer} workers={workers}\n  \
         bare insert_batch: {:>9.0} entries/s ({bare:.2?}, {stored} rows)\n  \
         bare, chained:     {:>9.0} entries/s ({chained:.2?}; chained/bare {:.1}%)\n  \
         writer record():   {:>9.0} entries/s ({took:.2?}, {written} rows, {} batches, \
         dropped {}, dead-lettered {})\n  ratio writer/bare: {:.1}% \
         (writer/bare chained, the same chained rows: {:.1}%)",
        rate(bare),
        rate(chained),
        100.0 * rate(chained) / rate(bare),
        rate(took),
        stats.batches,
        stats.dropped,
        stats.dead_lettered,
        100.0 * rate(took) / rate(bare),
        100.0 * rate(took) / rate(chained),
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo test --all-targets` runs bench targets too; only `cargo bench`
    // (which passes `--bench`) should spend a minute inserting rows.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "ledger_writer: a benchmark; run it with `cargo bench --bench ledger_writer` or bench/ledger.sh"
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let sqlite = |file: &str| Dsn::Sqlite {
        path: dir.path().join(file),
    };
    let workers = knob("TOKCTL_BENCH_WORKERS", 1);
    run("sqlite", [sqlite("bare.db"), sqlite("writer.db")], workers).await?;
    match std::env::var("TOKCTL_BENCH_PG") {
        Ok(url) if !url.is_empty() => {
            let dsn = Dsn::parse(&url)?;
            let workers = knob("TOKCTL_BENCH_WORKERS", 2);
            run("postgres", [dsn.clone(), dsn], workers).await?
        }
        _ => println!("postgres   skipped: set TOKCTL_BENCH_PG to a PostgreSQL DSN"),
    }
    Ok(())
}
