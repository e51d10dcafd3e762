//! `tokctl tune`: recommended ledger-writer and pool settings for a target
//! rate, each with its reason; `--measure` calibrates on the real database.
//! Asking questions and writing the config file live in `tune_write`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use tokctl::db::{Backend, Db, Dsn, PoolSettings};
use tokctl::tune::{self, Inputs, Recommendation, measure};

use crate::cli::GlobalArgs;
use crate::output::{FormatArgs, formats};
use crate::{CmdResult, Failure, chain, exit, tune_render, tune_write};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The model and its constraints are described in docs/tuning.md. \
Without --qps and with a terminal on stdin, tune asks its questions and offers to write the answer \
into the config file.

Examples:
  tokctl tune --qps 2000 --max-delay-ms 500ms
  tokctl tune --qps 5000 --backend postgres --instances 3 --format toml >> config.toml
  tokctl tune --qps 1000 --measure --write --yes"
)]
pub struct Args {
    /// Target peak rate, requests (ledger entries) per second per gateway.
    #[arg(long, allow_negative_numbers = true)]
    pub qps: Option<f64>,
    /// How long the peak may outrun the writers; the buffer holds qps × this (e.g. 1s,
    /// 500ms; a bare number is seconds).
    #[arg(long, default_value = "1", value_name = "DURATION", allow_negative_numbers = true, value_parser = crate::args::seconds_f64)]
    pub burst_seconds: f64,
    /// How stale the ledger may be; bounds flush_ms (e.g. 500ms, 2s; a bare number is
    /// milliseconds; default: no bound).
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = parse_max_delay)]
    pub max_delay_ms: Option<u64>,
    /// CPU cores for the writers (default: detected).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub cores: Option<u32>,
    /// The database's connection limit (default: PostgreSQL's max_connections, else 100).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub db_max_conns: Option<u32>,
    /// Memory per buffered entry (default: the measured size of a representative entry).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    pub entry_bytes: Option<u64>,
    /// Bound on the buffer's memory when full, e.g. 256MiB (default: no bound).
    #[arg(long, value_parser = parse_budget)]
    pub memory_budget: Option<u64>,
    /// Gateways sharing one database.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub instances: u32,
    /// Backend to plan for (default: from the configured ledger DSN).
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    #[command(flatten)]
    pub format: FormatArgs<Format>,
    /// Benchmark the real bulk insert on the ledger database first (scratch table, bounded time).
    #[arg(long)]
    pub measure: bool,
    /// Time budget of --measure (e.g. 10s; a bare number is seconds).
    #[arg(long, default_value = "10", value_name = "DURATION", value_parser = crate::args::seconds_f64, requires = "measure")]
    pub measure_seconds: f64,
    /// Write the recommendation into the config file (asks per change unless --yes).
    #[arg(long)]
    pub write: bool,
    /// Accept every change without asking.
    #[arg(long)]
    pub yes: bool,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the recommendation: start `tokctl serve` on 127.0.0.1 with it, send --qps for
    /// --verify-seconds, and check the ledger kept up (exit 1 when not).
    #[arg(long, requires = "qps", conflicts_with_all = ["write", "dry_run", "measure"])]
    pub verify: bool,
    /// How long --verify sends load (e.g. 30s; a bare number is seconds; at most 10m).
    #[arg(long, default_value = "10", value_name = "DURATION", value_parser = crate::args::seconds_f64, requires = "verify")]
    pub verify_seconds: f64,
    /// Replace one [ledger.async] value for --verify, e.g. buffer_size=4 or on_full=drop (repeatable).
    #[arg(long, value_name = "KEY=VALUE", requires = "verify", value_parser = parse_override)]
    pub verify_override: Vec<tune::verify::Override>,
}

fn parse_override(s: &str) -> Result<tune::verify::Override, String> {
    tune::verify::parse_override(s).map_err(|e| e.to_string())
}

/// The backend to plan for, when it is not the configured one.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    Sqlite,
    Postgres,
}

formats!(
    /// How the answer is printed.
    Format { Table, Toml, Env, Json }
);

/// `--max-delay-ms`: a duration, a bare number being milliseconds; 1 ms to 1 hour.
fn parse_max_delay(s: &str) -> Result<u64, String> {
    let ms = crate::args::millis(s)?;
    if !(1..=3_600_000).contains(&ms) {
        return Err(format!("`{s}` is outside 1ms..1h"));
    }
    Ok(ms)
}

fn parse_budget(s: &str) -> Result<u64, String> {
    tune::parse_bytes(s).ok_or_else(|| format!("`{s}` is not a size; expected e.g. 256MiB, 1GB"))
}

fn usage(e: impl std::fmt::Display) -> Failure {
    Failure::new(exit::USAGE, e.to_string())
}

/// Resolves the inputs (flags, else questions, else the configured database
/// and this machine), recommends, optionally measures, prints, and writes.
pub async fn run(mut args: Args, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    let interactive = args.qps.is_none() && std::io::stdin().is_terminal();
    if interactive {
        tune_write::ask(&mut args).map_err(usage)?;
    }
    let Some(qps) = args.qps else {
        return Err(usage(
            "--qps is required (or run tune in a terminal to be asked)",
        ));
    };
    let dsn = Dsn::parse(&loaded.config.ledger.path).map_err(usage)?;
    let backend = match args.backend {
        Some(BackendArg::Sqlite) => Backend::Sqlite,
        Some(BackendArg::Postgres) => Backend::Postgres,
        None => dsn.backend(),
    };
    let mut inputs = Inputs {
        qps,
        burst_seconds: args.burst_seconds,
        max_delay_ms: args.max_delay_ms,
        cores: args.cores.unwrap_or_else(detected_cores),
        db_max_conns: args.db_max_conns.unwrap_or(100),
        entry_bytes: args
            .entry_bytes
            .unwrap_or_else(tune::representative_entry_bytes),
        memory_budget_bytes: args.memory_budget,
        instances: args.instances,
        backend,
        spool: {
            let sp = &loaded.config.ledger.spool;
            tune::Spool {
                enabled: sp.enabled,
                fsync: sp.fsync,
                fsync_ms: sp.fsync_ms,
            }
        },
    };
    // Bad input fails before any database is touched.
    inputs.validate().map_err(usage)?;
    let mut settings = PoolSettings::ledger(&loaded.config);
    settings.max_open = settings.max_open.max(4);
    let connected = match (args.measure, args.db_max_conns, dsn.backend()) {
        (true, _, _) | (false, None, Backend::Postgres) => {
            Some(Db::connect(&dsn, &settings, "ledger").await)
        }
        _ => None,
    };
    // --measure needs the database; reading max_connections only helps.
    let db = match connected {
        Some(Ok(db)) => Some(db),
        Some(Err(e)) if args.measure => return Err(e.into()),
        Some(Err(e)) => {
            eprintln!(
                "warning: {}; assuming 100 connections (pass --db-max-conns)",
                chain(&e)
            );
            None
        }
        None => None,
    };
    if let (Some(db), None) = (&db, args.db_max_conns) {
        match measure::max_connections(db).await {
            Ok(Some(n)) => inputs.db_max_conns = n,
            Ok(None) => {}
            Err(e) => eprintln!("warning: {}; assuming 100 connections", chain(&e)),
        }
    }
    let table = tune::recommend(&inputs).map_err(usage)?;
    let measured = match (&db, args.measure) {
        (Some(db), true) => Some(run_measure(db, &table, args.measure_seconds).await?),
        _ => None,
    };
    if let Some(db) = &db {
        db.close().await;
    }
    if args.verify {
        return crate::tune_verify::run(
            &table,
            &loaded.config.ledger.path,
            args.verify_seconds,
            &args.verify_override,
            args.format.get() == Format::Json,
        )
        .await;
    }
    let machine = tune::memory::machine_memory_bytes();
    let mut table = table;
    table
        .warnings
        .extend(tune::memory::warnings(&table, machine));
    let measured = measured.map(|(mut r, m)| {
        r.warnings.extend(tune::memory::warnings(&r, machine));
        (r, m)
    });
    let (chosen, m) = match &measured {
        Some((r, m)) => (r, Some(m)),
        None => (&table, None),
    };
    tune_render::print(
        args.format.get(),
        &table,
        measured.as_ref().map(|(r, _)| r),
        m,
    )?;
    if args.write || args.dry_run || interactive {
        tune_write::write(&loaded, global, chosen, &args)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn detected_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

async fn run_measure(
    db: &Db,
    table: &Recommendation,
    seconds: f64,
) -> Result<(Recommendation, measure::Measurement), Failure> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 600.0) {
        return Err(usage(format!(
            "--measure-seconds must be in (0, 600], got {seconds}"
        )));
    }
    let opts = measure::MeasureOptions {
        total: Duration::from_secs_f64(seconds),
        ..Default::default()
    };
    let bar = tune_render::progress_bar(opts.total);
    let m = measure::measure(db, &opts, &|p| tune_render::update(&bar, &p))
        .await
        .map_err(|e| Failure::new(exit::FAILURE, chain(&e)))?;
    bar.finish_and_clear();
    let r = measure::apply(table, &m)
        .ok_or_else(|| Failure::new(exit::FAILURE, "no single-worker run to size from"))?;
    Ok((r, m))
}
