//! The `tokctl` binary: the clap root, dispatch, and the process contract
//! (one error line on stderr, documented exit codes, broken pipe is success).

mod access_flags;
mod args;
mod budget_flags;
mod cli;
mod config_cmd;
mod docs;
mod failure;
mod health;
mod identity_db;
mod keys;
mod keys_create;
mod keys_update;
mod ledger;
mod ledger_chain;
mod ledger_export;
mod ledger_spool;
mod ledger_summary;
mod listings;
mod loadtest;
mod loadtest_compare;
mod loadtest_render;
mod loadtest_run;
mod man_page;
mod migrate;
mod numbers;
mod output;
mod render;
mod serve;
mod tables;
mod tables_ledger;
mod teams;
mod teams_render;
mod tune;
mod tune_measure;
mod tune_render;
mod tune_verify;
mod tune_write;
mod users;

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the gateway allocates and frees many
/// small buffers per request, and glibc's allocator was ~13% of the CPU
/// profile under load (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use cli::{Cli, Command};

pub use failure::{Failure, chain, exit};

pub type CmdResult = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_error(&e),
    };
    let outcome = run(cli);
    match outcome {
        Ok(code) => code,
        Err(f) => {
            if f.broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// Prints clap's message; help and version are success, a usage error is
/// 2, or 3 for `tokctl health` (Nagios UNKNOWN).
fn parse_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if !e.use_stderr() {
        return ExitCode::SUCCESS;
    }
    if cli::invokes_health(std::env::args_os()) {
        ExitCode::from(tokctl::telemetry::check::EXIT_UNKNOWN)
    } else {
        ExitCode::from(exit::USAGE)
    }
}

fn run(cli: Cli) -> CmdResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                exit::FAILURE,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    match cli.command {
        Command::Serve(args) => rt.block_on(serve::run(args, &cli.global)),
        Command::Config(args) => config_cmd::run(args, &cli.global),
        Command::Migrate(args) => rt.block_on(migrate::run(args, &cli.global)),
        Command::Users(args) => rt.block_on(users::run(args, &cli.global)),
        Command::Keys(args) => rt.block_on(keys::run(args, &cli.global)),
        Command::Teams(args) => rt.block_on(teams::run(args, &cli.global)),
        Command::Tune(args) => rt.block_on(tune::run(args, &cli.global)),
        Command::Health(args) => rt.block_on(health::run(args, &cli.global)),
        Command::Loadtest(args) => rt.block_on(loadtest::run(*args, &cli.global)),
        Command::Ledger(args) => rt.block_on(ledger::run(args, &cli.global)),
        Command::GenerateDocs(args) => docs::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn health_invocations_are_recognised() {
        let is = |args: &[&str]| super::cli::invokes_health(args.iter().map(|a| a.into()));
        assert!(is(&["tokctl", "health", "--bogus"]));
        assert!(is(&["tokctl", "--config", "health", "health"]));
        assert!(is(&["tokctl", "-v", "health"]));
        assert!(!is(&["tokctl", "--config", "health", "serve"]));
        assert!(!is(&["tokctl", "serve", "health"]));
        assert!(!is(&["tokctl"]));
    }
}
