//! `tokctl loadtest [URL]`: the flags, turned into a [`Plan`] by
//! `tokctl::loadtest::prepare`; the run and its report are in
//! `loadtest_run`, `loadtest compare` in `loadtest_compare`.

use std::path::PathBuf;
use std::time::Duration;

use tokctl::loadtest::{self, Aim, BodySource, Criteria, Plan, Stop};

use crate::cli::GlobalArgs;
use crate::output::{FormatArgs, Report};
use crate::{CmdResult, Failure};

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
    pub action: Option<crate::loadtest_compare::Action>,
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

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    if let Some(action) = args.action {
        return crate::loadtest_compare::run(action);
    }
    let config = global.load(Vec::new())?.config;
    let aim = Aim {
        url: args.url.as_deref(),
        body: match (&args.body_file, &args.model) {
            (Some(p), _) => BodySource::File(p.clone()),
            (None, model) => BodySource::Chat {
                model: model.clone(),
                prompt: args.prompt.clone(),
            },
        },
        headers: &args.headers,
        api_key: args.api_key.as_deref(),
        insecure: args.insecure,
        stream: args.stream,
    };
    let (target, chosen) = loadtest::prepare(&aim, &config).await.map_err(load)?;
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
    let how = crate::loadtest_run::How {
        chosen,
        hdr_out: args.hdr_out,
        fail_on: args.fail_on,
        json: args.format.get() == Report::Json,
    };
    crate::loadtest_run::run(&plan, how).await
}

pub fn load(e: loadtest::LoadError) -> Failure {
    Failure::of(&e, e.is_usage())
}
