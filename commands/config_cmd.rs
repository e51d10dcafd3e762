//! `tokctl config show|check`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::cli::GlobalArgs;
use crate::output::{self, FormatArgs, formats};
use crate::{CmdResult, Failure, exit};

formats!(
    /// `config show`: TOML with a source comment per value, or JSON.
    ShowFormat { Toml, Json }
);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print the effective configuration as TOML, each value with its source; secrets masked.
    #[command(after_help = "Examples:\n  tokctl config show\n  \
        tokctl --config /srv/tokctl/config.toml config show --format json | jq .sources")]
    Show {
        #[command(flatten)]
        format: FormatArgs<ShowFormat>,
    },
    /// Validate the configuration: exit 0 when valid, 2 with the reason when not.
    ///
    /// Also reports what would fail silently at run time: an upstream key
    /// variable that is not set (exit 2), a model without prices (a warning;
    /// exit 2 with --strict).
    #[command(
        after_help = "Examples:\n  tokctl config check\n  tokctl --config new.toml config check --strict"
    )]
    Check {
        /// Exit 2 on every warning, not only on errors.
        #[arg(long)]
        strict: bool,
    },
}

/// What `serve` checks before it starts: a data path that moved stops it;
/// misconfigurations that would fail silently are printed as warnings.
pub async fn preflight(loaded: &tokctl::config::Loaded) -> Result<(), crate::Failure> {
    for w in tokctl::config::preflight(loaded)? {
        eprintln!("warning: {w}");
    }
    let limited = crate::identity_db::keys_with_limits(loaded).await;
    if let Some(w) = tokctl::config::warnings::unenforced_key_limits(loaded, limited) {
        eprintln!("warning: {w}");
    }
    Ok(())
}

pub fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    let loaded = global.load(Vec::new())?;
    match args.action {
        Action::Show { format } => match format.get() {
            ShowFormat::Toml => output::print(&tokctl::config::show::render(&loaded))?,
            ShowFormat::Json => output::json(&tokctl::config::show::to_json(&loaded))?,
        },
        Action::Check { strict } => {
            let from = loaded
                .file
                .as_ref()
                .map(|f| format!(" ({})", f.display()))
                .unwrap_or_else(|| " (defaults and environment; no file)".into());
            let found = tokctl::config::warnings(&loaded.config);
            for w in &found {
                eprintln!("warning: {w}");
            }
            let failing = found.iter().filter(|w| w.fails_check(strict)).count();
            if failing > 0 {
                return Err(Failure::new(
                    exit::USAGE,
                    format!("configuration{from} has {failing} problem(s), listed above"),
                ));
            }
            eprintln!("configuration is valid{from}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
