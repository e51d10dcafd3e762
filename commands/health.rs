//! `tokctl health`: ask a running gateway (or, with `--direct`, the
//! configured databases and providers) how healthy it is, or with `--live`
//! only whether it still serves (a container's `HEALTHCHECK`). Nagios exit
//! codes; every failure of this command, usage and config included, is 3.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use tokctl::telemetry::check::{self, EXIT_UNKNOWN};
use tokctl::telemetry::health::Report as HealthReport;

use crate::cli::GlobalArgs;
use crate::output::{FormatArgs, Report};
use crate::render::{count, latency_ms};
use crate::{CmdResult, Failure};

/// Shown in `tokctl health --help` (and the man page).
pub const AFTER_HELP: &str = "\
Exit codes (Nagios): 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable or unknown. \
Usage and configuration errors of this command also exit 3, so a monitor never reads them as CRITICAL. \
With --live: 0 when /livez answers 200 (a degraded gateway is live), 2 for another answer, 3 unreachable.

Examples:
  tokctl health --url http://10.0.0.5:8080 --timeout 2s
  tokctl health --direct --format json
  tokctl health --watch 5s";

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// The gateway's base URL (default: http://<server.listen>, a wildcard host becomes 127.0.0.1).
    #[arg(long, value_name = "URL", conflicts_with = "direct")]
    pub url: Option<String>,
    #[command(flatten)]
    pub format: FormatArgs<Report>,
    /// Check again at this interval until interrupted (e.g. 5s; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = crate::args::positive_seconds)]
    pub watch: Option<Duration>,
    /// Check the configured databases and providers from here, without a server.
    #[arg(long)]
    pub direct: bool,
    /// Only ask whether the gateway serves (GET /livez), for liveness checks such as a container's HEALTHCHECK.
    #[arg(long, conflicts_with_all = ["direct", "watch", "json", "format"])]
    pub live: bool,
    /// Give up on the server after this long, exit 3 (e.g. 2s, 500ms; a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::args::positive_seconds)]
    pub timeout: Duration,
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    let unknown = |f: Failure| Failure::new(EXIT_UNKNOWN, f.message);
    let config = global.load(Vec::new()).map_err(unknown)?.config;
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| check::default_url(&config));
    if args.live {
        let l = check::live(&url, args.timeout)
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
    let json = args.format.get() == Report::Json;
    loop {
        let report = if args.direct {
            tokctl::gateway::health::direct(&config).await
        } else {
            check::fetch(&url, args.timeout)
                .await
                .map_err(|e| Failure::new(EXIT_UNKNOWN, crate::chain(&e)))?
        };
        let Some(every) = args.watch else {
            print(&report, json)?;
            return Ok(ExitCode::from(check::exit_code(report.status)));
        };
        if std::io::stdout().is_terminal() && !json {
            print!("\x1b[2J\x1b[H");
        }
        print(&report, json)?;
        tokio::time::sleep(every).await;
    }
}

/// Writes the report; a closed stdout is a broken-pipe failure, which
/// `main` treats as success.
fn print(r: &HealthReport, json: bool) -> Result<(), Failure> {
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
        .map_err(|e| Failure::stdout(&e, EXIT_UNKNOWN))
}

fn table(r: &HealthReport) -> String {
    let mut s = format!("{}\n", crate::tables::health(r));
    for p in &r.pools.databases {
        s.push_str(&format!(
            "pool {}: {} open, {} in use, {} idle\n",
            p.name, p.open, p.in_use, p.idle
        ));
    }
    for p in &r.pools.providers {
        let mean = p.mean_latency_ms.map_or("-".to_string(), latency_ms);
        s.push_str(&format!(
            "provider {}: {} requests, {:.1}% errors, mean upstream latency {mean}\n",
            p.name,
            count(p.requests),
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
