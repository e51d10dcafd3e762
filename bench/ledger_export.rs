//! Helper of `bench/export.sh`: fills a ledger with N realistic entries and
//! runs the bare streaming scan that `tokctl ledger export` is compared
//! with. The export itself is the real binary, run by the script under
//! `/usr/bin/time -v`, so both sides are separate processes measured alike.
//!
//! ```text
//! ledger_export populate DSN N HEAD   # migrate, then record N entries through the
//!                                     # ledger writer: one hash chain, instance `bench`,
//!                                     # HMAC key `bench-key`, head file HEAD
//! ledger_export scan DSN         # decode every row, write nothing; prints rows and rows/s
//! ```
//!
//! Prints numbers, asserts nothing.

use std::time::Instant;

use tokctl::config::{AsyncWriterConfig, ChainConfig, LedgerConfig, OnFull, SpoolConfig};
use tokctl::db::{Db, Dsn, PoolSettings, migrate};
use tokctl::ledger::scan::{Filter, tally};
use tokctl::ledger::{Entry, LedgerWriter, TokenSource, Usage};

const BATCH: usize = 5_000;

fn entry(i: usize) -> Entry {
    let failed = i.is_multiple_of(50);
    Entry {
        request_id: format!("0193a5c2-{i:012}-7c4e-9a1b-5d2f8e3a"),
        created_at_us: 1_795_392_000_000_000 + (i as i64) * 1_000,
        client_request_id: (i.is_multiple_of(3)).then(|| format!("client-{i}")),
        upstream_request_id: Some(format!("chatcmpl-{i:016x}")),
        user_id: Some((i % 50) as i64),
        user_name: Some(format!("user-{}", i % 50)),
        api_key_id: Some((i % 200) as i64),
        endpoint: "/v1/chat/completions".into(),
        model: ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4"][i % 3].into(),
        provider: "openai".into(),
        upstream_model: Some("gpt-4o-mini-2024-07-18".into()),
        usage: Usage {
            input_tokens: 120 + (i % 1000) as i64,
            cached_input_tokens: (i % 7) as i64 * 64,
            cache_write_tokens: 0,
            output_tokens: 240 + (i % 500) as i64,
            reasoning_tokens: (i % 5) as i64 * 16,
        },
        token_source: TokenSource::Provider,
        cost_nano: 162_000 + (i % 10_000) as i64,
        latency_us: 350_000 + (i % 100_000) as i64,
        upstream_latency_us: Some(349_000),
        ttft_us: (i.is_multiple_of(2)).then_some(80_000),
        overhead_us: Some(1_000),
        status_code: if failed { 502 } else { 200 },
        streamed: i.is_multiple_of(2),
        error_kind: failed.then(|| "upstream_error".to_string()),
        error_message: failed.then(|| "upstream said: \"bad gateway\", retry later".to_string()),
        chain: None,
        ..Default::default()
    }
}

async fn connect(dsn: &str) -> Db {
    let dsn = Dsn::parse(dsn).unwrap_or_else(|e| panic!("bad DSN: {e}"));
    let settings = PoolSettings::ledger(&tokctl::config::Config::default());
    let db = Db::connect(&dsn, &settings, "bench")
        .await
        .unwrap_or_else(|e| panic!("connecting: {e}"));
    migrate::apply(&db, &dsn, &|| {})
        .await
        .unwrap_or_else(|e| panic!("migrating: {e}"));
    db
}

// The allocator `tokctl` itself runs with (commands/main.rs), so the scan
// it is compared with allocates as the export does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["populate", dsn, n, head] => {
            let n: usize = n.parse().unwrap_or_else(|e| panic!("N: {e}"));
            let db = connect(dsn).await;
            let postgres = dsn.starts_with("postgres");
            // Through the real writer, so the rows carry a real hash chain
            // for `tokctl ledger verify` to walk.
            let cfg = LedgerConfig {
                async_writer: AsyncWriterConfig {
                    enabled: true,
                    batch_size: BATCH,
                    flush_ms: 100,
                    buffer_size: 4 * BATCH,
                    num_workers: if postgres { 2 } else { 1 },
                    on_full: OnFull::Block,
                    full_wait_ms: 2000,
                },
                chain: ChainConfig {
                    instance_id: "bench".into(),
                    hmac_key: "bench-key".into(),
                    head_file: head.to_string(),
                    ..ChainConfig::default()
                },
                spool: SpoolConfig {
                    enabled: false,
                    ..SpoolConfig::default()
                },
                ..LedgerConfig::default()
            };
            let writer = LedgerWriter::start(db.clone(), &cfg)
                .await
                .unwrap_or_else(|e| panic!("starting the writer: {e}"));
            let start = Instant::now();
            for i in 0..n {
                let admission = writer.admit().await.expect("admitted");
                let _ = writer.record(admission, entry(i));
            }
            let stats = writer.shutdown().await;
            eprintln!(
                "populated {} entries in {:.1?} (watermark {})",
                stats.written,
                start.elapsed(),
                stats.watermark
            );
            db.close().await;
        }
        ["scan", dsn] => {
            let db = connect(dsn).await;
            let start = Instant::now();
            let (rows, check) = tally(&db, &Filter::default())
                .await
                .unwrap_or_else(|e| panic!("scanning: {e}"));
            let secs = start.elapsed().as_secs_f64();
            println!(
                "scan rows={rows} secs={secs:.3} rows_per_s={:.0} check={check}",
                rows as f64 / secs
            );
            db.close().await;
        }
        _ => {
            eprintln!("usage: ledger_export populate DSN N HEAD_FILE | scan DSN");
            std::process::exit(2);
        }
    }
}
