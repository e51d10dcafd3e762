//! The command-line definition. Help, man pages and completions are all
//! generated from `Cli::command()`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Configuration: built-in defaults < config file (--config, else TOKCTL_CONFIG, else ./config.toml) \
< environment (TOKCTL_* or TOKLIGENCE_*) < flags. See `tokctl config show`.

Exit codes: 0 success; 1 the operation failed or its verdict is bad; 2 usage or configuration error. \
`tokctl health` alone follows Nagios: 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable or unknown \
(its usage and configuration errors exit 3).

Examples:
  tokctl serve
  tokctl users create alice && KEY=$(tokctl keys create --user alice)
  tokctl ledger summary --by user,model --since 7d";

/// tokctl: an LLM API gateway with a usage ledger that loses nothing.
#[derive(Debug, Parser)]
#[command(name = "tokctl", version, about, long_about = None, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The help section of the flags every subcommand accepts.
const GLOBAL: &str = "Global options";

/// Flags every subcommand accepts.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Config file to read (default: $TOKCTL_CONFIG, else ./config.toml when present).
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet", help_heading = GLOBAL)]
    pub verbose: u8,
    /// Less log output (-q warnings and errors only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub quiet: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: OpenAI- and Anthropic-compatible endpoints with the usage ledger.
    Serve(crate::serve::Args),
    /// Show or check the effective configuration.
    #[command(
        after_help = "Examples:\n  tokctl config show\n  tokctl --config /etc/tokctl/config.toml config check --strict"
    )]
    Config(crate::config_cmd::Args),
    /// Apply database migrations, or show their status.
    Migrate(crate::migrate::Args),
    /// Create, list, update (team, models), disable, enable and delete users of the gateway.
    #[command(
        after_help = "Examples:\n  tokctl users create alice\n  tokctl users list --format json\n  tokctl users disable alice"
    )]
    Users(crate::users::Args),
    /// Create, list, update (models), revoke and rotate API keys (a new key is printed once, alone on stdout).
    #[command(
        after_help = "Examples:\n  KEY=$(tokctl keys create --user alice --expires 90d)\n  \
        tokctl keys list --user alice\n  tokctl keys rotate tok_AbCd1234 --grace 1h"
    )]
    Keys(crate::keys::Args),
    /// Create, list, show, update and delete teams (groups of users; ledger entries carry the team).
    #[command(
        after_help = "Examples:\n  tokctl teams create ml --models 'gpt-*'\n  \
        tokctl users update alice --team ml\n  tokctl ledger summary --by team --since 30d"
    )]
    Teams(crate::teams::Args),
    /// Recommend ledger-writer and pool settings for a target rate, with the reasons; --measure calibrates.
    Tune(crate::tune::Args),
    /// Ask a running gateway (or, with --direct, the configured databases) how healthy it is; Nagios exit codes.
    Health(crate::health::Args),
    /// Load-test an OpenAI-compatible endpoint (closed or open loop, HDR percentiles).
    Loadtest(Box<crate::loadtest::Args>),
    /// Export ledger entries (CSV, JSON lines), summarise usage, verify the hash chains, inspect the spool.
    #[command(
        after_help = "Examples:\n  tokctl ledger summary --by user,model --since 7d\n  \
        tokctl ledger export --since 30d -o usage.csv.gz --manifest\n  tokctl ledger verify"
    )]
    Ledger(crate::ledger::Args),
    /// Write completions and man pages (for packaging and the repo's own tests).
    #[command(hide = true)]
    GenerateDocs(crate::docs::Args),
}

/// Whether the command line invokes `tokctl health` (the first word that
/// is not an option or the value of `--config`), so that its parse errors
/// exit 3 (Nagios UNKNOWN) rather than clap's 2 (which reads as CRITICAL).
pub fn invokes_health(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut it = args.into_iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            it.next();
        } else if !a.starts_with('-') {
            return a == "health";
        }
    }
    false
}

impl GlobalArgs {
    /// Loads the configuration with `flags` on top, prints its warnings on
    /// stderr and starts logging.
    pub fn load(
        &self,
        mut flags: Vec<tokctl::config::FlagOverride>,
    ) -> Result<tokctl::config::Loaded, crate::Failure> {
        let level = match (self.verbose, self.quiet) {
            (0, 0) => None,
            (1, _) => Some(("debug", "-v")),
            (v, _) if v >= 2 => Some(("trace", "-vv")),
            (_, 1) => Some(("warn", "-q")),
            _ => Some(("error", "-qq")),
        };
        if let Some((level, flag)) = level {
            flags.push(flag_value("log.level", level, flag));
        }
        let loaded = tokctl::config::load(&tokctl::config::LoadOptions {
            config_path: self.config.clone(),
            flags,
            ..Default::default()
        })?;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        tokctl::telemetry::logging::init(&loaded.config.log);
        Ok(loaded)
    }
}

/// A flag that sets a config key to a string value.
pub fn flag_value(
    key: &str,
    value: impl Into<toml::Value>,
    flag: &str,
) -> tokctl::config::FlagOverride {
    tokctl::config::FlagOverride {
        key: key.to_string(),
        value: value.into(),
        flag: flag.to_string(),
    }
}
