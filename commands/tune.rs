//! `tokctl tune`: recommended ledger-writer and pool settings for a target
//! rate, each with its reason; `--measure` calibrates on the real database.
//! Asking questions and writing the config file live in `tune_write`.

use std::io::IsTerminal;
use std::process::ExitCode;

use tokctl::db::Backend;
use tokctl::tune::{self, plan};

use crate::cli::GlobalArgs;
use crate::output::{FormatArgs, formats};
use crate::{CmdResult, Failure, exit, tune_render, tune_write};

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
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true, value_parser = crate::args::max_delay_ms)]
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
    #[arg(long, value_parser = crate::args::bytes)]
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
    #[arg(long, value_name = "KEY=VALUE", requires = "verify", value_parser = crate::args::verify_override)]
    pub verify_override: Vec<tune::verify::Override>,
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
    let ask = plan::Ask {
        qps,
        burst_seconds: args.burst_seconds,
        max_delay_ms: args.max_delay_ms,
        cores: args.cores,
        db_max_conns: args.db_max_conns,
        entry_bytes: args.entry_bytes,
        memory_budget_bytes: args.memory_budget,
        instances: args.instances,
        backend: args.backend.map(|b| match b {
            BackendArg::Sqlite => Backend::Sqlite,
            BackendArg::Postgres => Backend::Postgres,
        }),
        measure_seconds: args.measure.then_some(args.measure_seconds),
    };
    let watch = crate::tune_measure::Stderr::default();
    let planned = plan::plan(&ask, &loaded.config, &watch)
        .await
        .map_err(|e| Failure::of(&e, e.is_usage()))?;
    watch.finish();
    let (table, measured) = (planned.table, planned.measured);
    if args.verify {
        let json = args.format.get() == Format::Json;
        let (ledger, over) = (&loaded.config.ledger.path, &args.verify_override);
        return crate::tune_verify::run(&table, ledger, args.verify_seconds, over, json).await;
    }
    let chosen = measured.as_ref().map_or(&table, |(r, _)| r);
    let (r, m) = (
        measured.as_ref().map(|p| &p.0),
        measured.as_ref().map(|p| &p.1),
    );
    tune_render::print(args.format.get(), &table, r, m)?;
    if args.write || args.dry_run || interactive {
        tune_write::write(&loaded, global, chosen, &args)?;
    }
    Ok(ExitCode::SUCCESS)
}
