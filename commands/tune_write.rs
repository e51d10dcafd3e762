//! `tokctl tune`'s conversation: the questions asked when no `--qps` is
//! given in a terminal, and writing accepted changes into the config file
//! (yes / skip / quit per change — quit keeps what was already accepted —
//! a backup kept, `--dry-run`, `--yes`).

use std::io::IsTerminal;
use std::path::PathBuf;

use dialoguer::{Input, Select};
use tokctl::config::Loaded;
use tokctl::tune::Recommendation;
use tokctl::tune::edit::{self, Change};

use crate::cli::GlobalArgs;
use crate::tune::Args;
use crate::{Failure, chain, exit};

/// Asks for the rate and the bounds the flags did not give.
pub fn ask(args: &mut Args) -> Result<(), dialoguer::Error> {
    let qps: f64 = Input::new()
        .with_prompt("Target peak requests per second (per gateway)")
        .default(100.0)
        .interact_text()?;
    args.qps = Some(qps);
    args.burst_seconds = Input::new()
        .with_prompt("Seconds a burst may outrun the writers")
        .default(args.burst_seconds)
        .interact_text()?;
    let delay: u64 = Input::new()
        .with_prompt("Longest acceptable ledger delay in ms (0: no bound)")
        .default(args.max_delay_ms.unwrap_or(0))
        .interact_text()?;
    args.max_delay_ms = (delay > 0).then_some(delay);
    let instances: u32 = Input::new()
        .with_prompt("Gateways sharing the database")
        .default(args.instances)
        .interact_text()?;
    args.instances = instances;
    Ok(())
}

fn fail(e: impl std::error::Error) -> Failure {
    Failure::new(exit::FAILURE, chain(&e))
}

/// Shows current against recommended per key and writes the accepted ones.
pub fn write(
    loaded: &Loaded,
    global: &GlobalArgs,
    r: &Recommendation,
    args: &Args,
) -> Result<(), Failure> {
    let path = loaded
        .file
        .clone()
        .or_else(|| global.config.clone())
        .unwrap_or_else(|| PathBuf::from("config.toml"));
    let changes: Vec<Change> = edit::changes(&loaded.config, r)
        .into_iter()
        .filter(Change::differs)
        .collect();
    if changes.is_empty() {
        eprintln!("{}: already as recommended", path.display());
        return Ok(());
    }
    let ask = !args.yes && !args.dry_run;
    if ask && !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            exit::USAGE,
            "--write needs --yes (or --dry-run) when stdin is not a terminal",
        ));
    }
    let mut accepted = Vec::new();
    for c in &changes {
        let line = format!("{}: {} -> {}", c.key, c.current, c.recommended);
        if !ask {
            eprintln!("{line}");
            accepted.push((c.key, c.recommended));
            continue;
        }
        let pick = Select::new()
            .with_prompt(line)
            .items(&["yes", "skip", "quit"])
            .default(0)
            .interact()
            .map_err(fail)?;
        match pick {
            0 => accepted.push((c.key, c.recommended)),
            1 => {}
            // Like `git add -p`: what was accepted so far is still written.
            _ => break,
        }
    }
    if args.dry_run {
        eprintln!(
            "dry run: {} change(s) not written to {}",
            accepted.len(),
            path.display()
        );
        return Ok(());
    }
    if accepted.is_empty() {
        return Ok(());
    }
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::new(
                exit::FAILURE,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let new =
        edit::apply(&path, &old, &accepted).map_err(|e| Failure::new(exit::USAGE, chain(&e)))?;
    let backup = edit::write_with_backup(&path, &new).map_err(fail)?;
    match backup {
        Some(b) => eprintln!(
            "wrote {} change(s) to {} (old file kept as {})",
            accepted.len(),
            path.display(),
            b.display()
        ),
        None => eprintln!("wrote {} change(s) to {}", accepted.len(), path.display()),
    }
    Ok(())
}
