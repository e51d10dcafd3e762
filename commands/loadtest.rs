//! `tokctl loadtest [URL]` and `tokctl loadtest compare A.json B.json`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokctl::loadtest::{self, Criteria, Plan, RunFile, Stop, Target};
use tokio_util::sync::CancellationToken;

use crate::cli::GlobalArgs;
use crate::loadtest_render as render;
use crate::output::{FormatArgs, Report};
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Closed loop by default (each connection sends its next request when the last one is answered); \
--rate switches to an open loop that measures latency from each request's intended start, and warns when the \
generator itself sent late (behind schedule p99 over 0.5 ms). Ctrl-C stops early and still reports. The API key may \
come from TOKCTL_API_KEY. Exit codes: 0 ok, 1 a --fail-on bound was crossed (or, with --fail-on, the open loop's \
generator fell behind), every request of a level failed, the first answers were all 4xx refusals (other than 429; the run \
stops early) or the target is unreachable, 2 usage error (checked before any load is sent). JSON fields: docs/loadtest.md.

Examples:
  tokctl loadtest -c 10,50,100 -d 30s
  tokctl loadtest --rate 200 -d 1m --stream --slo 'ttft<500ms,p99<2s' --format json > run.json
  tokctl loadtest -n 10000 --fail-on 'p99>50ms,errors>0.1%'"
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// URL to POST to (default: http://<server.listen>/v1/chat/completions).
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// Connections, one per concurrency slot; a list (10,50,100) runs a sweep.
    #[arg(short, long, value_delimiter = ',', default_value = "10")]
    pub concurrency: Vec<usize>,
    /// Open loop: requests per second on a constant schedule.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// How long to measure each level (e.g. 10s, 1m; a bare number is seconds).
    #[arg(short, long, value_parser = crate::args::positive_seconds, default_value = "10s", conflicts_with = "requests")]
    pub duration: Duration,
    /// Measure exactly this many requests per level instead of a duration.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Load threads, each driving its share of the connections (like wrk's
    /// -t); default: one per core. On a machine shared with the target,
    /// fewer threads leave the target more CPU.
    #[arg(short = 't', long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Traffic before measuring, per level (e.g. 2s; a bare number is seconds).
    #[arg(long, value_parser = crate::args::seconds, default_value = "0s")]
    pub warmup: Duration,
    /// A request unanswered after this long counts as a timeout error (a bare number is seconds).
    #[arg(long, value_parser = crate::args::positive_seconds, default_value = "30s")]
    pub timeout: Duration,
    /// Model for the generated chat body (default: the first [[models]]
    /// entry of the configuration, else the first model the target's
    /// /v1/models lists).
    #[arg(long)]
    pub model: Option<String>,
    /// Prompt for the generated chat body.
    #[arg(long, default_value = "Say hello.")]
    pub prompt: String,
    /// Send this JSON file as the body instead.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["model", "prompt"])]
    pub body_file: Option<PathBuf>,
    /// Bearer token to send.
    #[arg(long, env = "TOKCTL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// https:// targets: accept any certificate (a self-signed test
    /// server); the connection is still encrypted, not authenticated.
    #[arg(long)]
    pub insecure: bool,
    /// Stream answers: report time to first token, inter-token latency and tokens/s.
    #[arg(long)]
    pub stream: bool,
    /// Bounds each request must MEET to count as good (goodput), written as what is
    /// wanted: e.g. --slo "ttft<500ms,p99<2s" means a good request's TTFT is under 500 ms
    /// (p50…max, mean, and with --stream ttft, itl). Reports the share of good requests.
    #[arg(long, value_name = "BOUNDS", value_parser = Criteria::parse_slo)]
    pub slo: Option<Criteria>,
    /// Conditions that FAIL the run (exit 1), written as what is bad: e.g. --fail-on
    /// "p99>50ms,errors>0.1%" fails when the p99 is over 50 ms or over 0.1% of requests fail.
    #[arg(long, value_name = "CONDITIONS", value_parser = Criteria::parse)]
    pub fail_on: Option<Criteria>,
    #[command(flatten)]
    pub format: FormatArgs<Report>,
    /// Write per-second histograms in the HdrHistogram log format.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Show two `--format json` results side by side with ratios (B/A).
    #[command(
        after_help = "Examples:\n  tokctl loadtest -c 50 --json > before.json; tokctl loadtest -c 50 --json > after.json\n  \
        tokctl loadtest compare before.json after.json"
    )]
    Compare {
        /// The first run (`tokctl loadtest --format json` output): the baseline, A.
        #[arg(value_name = "A.json")]
        a: PathBuf,
        /// The second run, B; ratios are B/A.
        #[arg(value_name = "B.json")]
        b: PathBuf,
        #[command(flatten)]
        format: FormatArgs<Report>,
    },
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    if let Some(Action::Compare { a, b, format }) = &args.action {
        let (ra, rb) = (
            RunFile::read(a).map_err(usage)?,
            RunFile::read(b).map_err(usage)?,
        );
        let c = loadtest::compare(&ra, &rb);
        match format.get() {
            Report::Table => out(&render::compare(&c))?,
            Report::Json => crate::output::json(&render::compare_json(&c))?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    let json = args.format.get() == Report::Json;
    let config = global.load(Vec::new())?.config;
    let url = match &args.url {
        Some(u) => u.clone(),
        None => loadtest::default_url(&config.server.listen),
    };
    // Said after the run, so that an error before it stays one line.
    let mut chosen = None;
    let body = match (&args.body_file, &args.model) {
        (Some(p), _) => loadtest::body_file(p, args.stream).map_err(usage)?,
        (None, Some(m)) => loadtest::chat_body(m, &args.prompt, args.stream),
        (None, None) => {
            let key = args.api_key.as_deref();
            let choice = loadtest::default_model(&url, key, args.insecure, &config)
                .await
                .map_err(load)?;
            let body = loadtest::chat_body(&choice.model, &args.prompt, args.stream);
            chosen = Some(choice);
            body
        }
    };
    let target = Target::with_tls(
        &url,
        &args.headers,
        args.api_key.as_deref(),
        body,
        args.insecure,
    )
    .map_err(load)?;
    let plan = Plan {
        target,
        concurrency: args.concurrency.clone(),
        rate: args.rate,
        stop: args
            .requests
            .map_or(Stop::Duration(args.duration), Stop::Requests),
        warmup: args.warmup,
        timeout: args.timeout,
        stream: args.stream,
        slo: args.slo.clone().unwrap_or_default(),
        keep_intervals: args.hdr_out.is_some(),
        threads: args.threads.map(usize::from),
    };
    // Everything that can refuse the run does so before any load is sent.
    plan.validate().map_err(load)?;
    if let Some(c) = &args.fail_on {
        c.require_stream(plan.stream, "--fail-on").map_err(load)?;
    }
    let mut hdr_file = match &args.hdr_out {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot create the histogram log {}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let progress = std::io::stderr().is_terminal().then(render::Progress::new);
    let on_tick = |t: &loadtest::Tick| {
        if let Some(p) = &progress {
            p.tick(t);
        }
    };
    let (reports, intervals, started) =
        loadtest::run(&plan, &cancel, &on_tick).await.map_err(|e| {
            let refused = matches!(e, loadtest::LoadError::Refused(_));
            let mut f = load(e);
            if let (true, Some(c)) = (refused, &chosen) {
                f.message += &format!(" (model `{}`: {})", c.model, c.why);
            }
            f
        })?;
    if let Some(p) = &progress {
        p.finish();
    }
    if json {
        let doc = RunFile::new(&plan, reports.clone());
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))?;
        out(&text)?;
    } else {
        out(&render::report(&reports, plan.rate.is_some(), plan.stream))?;
    }
    // After the report, so a failing disk cannot cost the measurements.
    if let (Some(path), Some(file)) = (&args.hdr_out, hdr_file.as_mut()) {
        let levels: Vec<_> = plan.concurrency.iter().copied().zip(intervals).collect();
        let shown = path.display().to_string();
        loadtest::write_hdr_log(file, &shown, &levels, started).map_err(load)?;
    }
    if let Some(c) = &chosen {
        eprintln!("model: {} ({}; --model to choose)", c.model, c.why);
    }
    if reports.iter().any(|r| r.interrupted) {
        eprintln!("interrupted: partial results above");
    }
    if json {
        // The text report carries these; JSON keeps stdout parseable.
        for lag in reports.iter().filter_map(loadtest::GeneratorLag::of) {
            eprintln!("warning: {lag}");
        }
    }
    let mut crossed = args
        .fail_on
        .as_ref()
        .map_or_else(Vec::new, |c| c.check_run(&reports));
    crossed.extend(loadtest::all_failed(&reports));
    for c in &crossed {
        eprintln!("{c}");
    }
    Ok(if crossed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}

/// Writes to stdout; a closed pipe becomes an error `main` treats as success.
fn out(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    writeln!(std::io::stdout(), "{}", text.trim_end())
        .map_err(|e| Failure::new(exit::FAILURE, e.to_string()))
}

fn usage(e: loadtest::BodyError) -> Failure {
    Failure::new(exit::USAGE, crate::chain(&e))
}

fn load(e: loadtest::LoadError) -> Failure {
    Failure::of(&e, e.is_usage())
}
