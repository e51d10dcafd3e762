//! `tokctl health`: ask a running gateway (or, with `--direct`, the
//! configured databases and providers) how healthy it is, or with `--live`
//! only whether it still serves (a container's `HEALTHCHECK`). Nagios exit
//! codes; every failure of this command, usage and config included, is 3.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use comfy_table::{Cell, Color};
use tokctl::telemetry::check::{self, EXIT_UNKNOWN};
use tokctl::telemetry::health::{Report, Status};

use crate::cli::GlobalArgs;
use crate::{CmdResult, Failure};

/// Shown in `tokctl health --help` (and the man page).
pub const AFTER_HELP: &str = "\
Exit codes (Nagios): 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable or unknown. \
Usage and configuration errors of this command also exit 3, so a monitor never reads them as CRITICAL. \
With --live: 0 when /livez answers 200 (a degraded gateway is live), 2 for another answer, 3 unreachable.";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The gateway's base URL (default: http://<server.listen>, a wildcard host becomes 127.0.0.1).
    #[arg(long, value_name = "URL", conflicts_with = "direct")]
    pub url: Option<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Check again every SECONDS until interrupted.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,
    /// Check the configured databases and providers from here, without a server.
    #[arg(long)]
    pub direct: bool,
    /// Only ask whether the gateway serves (GET /livez), for liveness checks such as a container's HEALTHCHECK.
    #[arg(long, conflicts_with_all = ["direct", "watch", "json"])]
    pub live: bool,
    /// Give up on the server after this many seconds (exit 3).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    let unknown = |f: Failure| Failure::new(EXIT_UNKNOWN, f.message);
    let config = global.load(Vec::new()).map_err(unknown)?.config;
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| check::default_url(&config));
    if args.live {
        let l = check::live(&url, Duration::from_secs(args.timeout))
            .await
            .map_err(|e| Failure::new(EXIT_UNKNOWN, crate::chain(&e)))?;
        let verdict = if l.exit_code() == check::EXIT_HEALTHY {
            "live"
        } else {
            "not live"
        };
        emit(&format!(
            "{verdict}: {} answered {} in {:.1} ms",
            l.url, l.status, l.latency_ms
        ))?;
        return Ok(ExitCode::from(l.exit_code()));
    }
    loop {
        let report = if args.direct {
            tokctl::gateway::health::direct(&config).await
        } else {
            check::fetch(&url, Duration::from_secs(args.timeout))
                .await
                .map_err(|e| Failure::new(EXIT_UNKNOWN, crate::chain(&e)))?
        };
        let Some(every) = args.watch else {
            print(&report, args.json)?;
            return Ok(ExitCode::from(check::exit_code(report.status)));
        };
        if std::io::stdout().is_terminal() && !args.json {
            print!("\x1b[2J\x1b[H");
        }
        print(&report, args.json)?;
        tokio::time::sleep(Duration::from_secs(every)).await;
    }
}

/// Writes the report; a closed stdout becomes a "Broken pipe" failure,
/// which `main` treats as success.
fn print(r: &Report, json: bool) -> Result<(), Failure> {
    let text = if json {
        serde_json::to_string_pretty(r).map_err(|e| Failure::new(EXIT_UNKNOWN, e.to_string()))?
    } else {
        table(r)
    };
    emit(&text)
}

/// Writes one block of output and flushes it.
fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::new(EXIT_UNKNOWN, e.to_string()))
}

fn table(r: &Report) -> String {
    let mut t = crate::render::table(&["component", "type", "status", "latency", "message"]);
    for c in &r.components {
        t.add_row(vec![
            Cell::new(&c.name),
            Cell::new(&c.kind),
            status_cell(c.status),
            Cell::new(
                c.latency_ms
                    .map_or(String::new(), |ms| format!("{ms:.1} ms")),
            ),
            Cell::new(&c.message),
        ]);
    }
    let mut s = format!("{t}\n");
    for p in &r.pools.databases {
        s.push_str(&format!(
            "pool {}: {} open, {} in use, {} idle\n",
            p.name, p.open, p.in_use, p.idle
        ));
    }
    for p in &r.pools.providers {
        let mean = p
            .mean_latency_ms
            .map_or("-".to_string(), |ms| format!("{ms:.1} ms"));
        s.push_str(&format!(
            "provider {}: {} requests, {:.1}% errors, mean upstream latency {mean}\n",
            p.name,
            p.requests,
            p.error_rate * 100.0
        ));
    }
    s.push_str(&format!(
        "overall: {} at {}",
        r.status.as_str(),
        r.timestamp
    ));
    s
}

fn status_cell(s: Status) -> Cell {
    let color = match s {
        Status::Healthy => Color::Green,
        Status::Degraded => Color::Yellow,
        Status::Unhealthy => Color::Red,
    };
    Cell::new(s.as_str()).fg(color)
}
