//! Hidden `tokctl generate-docs`: completions (bash, zsh, fish) and man
//! pages (one for tokctl, one per subcommand, laid out by
//! [`crate::man_page`]), all from `Cli::command()`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory that receives completions/ and man/.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> CmdResult {
    write_all(&args.out).map_err(|e| {
        Failure::new(
            exit::FAILURE,
            format!("writing docs into {}: {e}", args.out.display()),
        )
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn write_all(out: &Path) -> std::io::Result<()> {
    let comp = out.join("completions");
    let man = out.join("man");
    std::fs::create_dir_all(&comp)?;
    std::fs::create_dir_all(&man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "tokctl", &comp)?;
    }
    // Built, so that the global flags and the version reach every subcommand's page.
    let mut cmd = Cli::command();
    cmd.build();
    write_man(&cmd, "tokctl", &man)?;
    Ok(())
}

/// tokctl.1, then tokctl-SUB.1 for each visible subcommand, recursively.
fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    let invocation = name.replace('-', " ");
    let cmd = cmd
        .clone()
        .name(name.to_string())
        .display_name(name.to_string())
        .bin_name(invocation.clone());
    let mut buf = Vec::new();
    crate::man_page::page(&cmd, &invocation, &mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every visible subcommand, as its invocation and definition.
    fn all(cmd: &clap::Command, name: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let n = format!("{name} {}", sub.get_name());
            out.push((n.clone(), sub.clone()));
            all(sub, n, out);
        }
    }

    #[test]
    fn every_subcommand_teaches_with_examples_and_described_positionals() {
        let mut subs = Vec::new();
        all(&crate::cli::Cli::command(), "tokctl".into(), &mut subs);
        assert!(subs.len() > 20, "{}", subs.len());
        for (name, cmd) in &subs {
            let after = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let examples = after.split_once("Examples:").map(|(_, e)| e.trim());
            let n = examples.map_or(0, |e| e.lines().filter(|l| l.contains("tokctl")).count());
            assert!(
                (1..=4).contains(&n),
                "`{name} --help` ends with 1 to 4 examples: {after}"
            );
            for p in cmd.get_positionals() {
                assert!(
                    p.get_help().is_some(),
                    "`{name}`: positional {} is not described",
                    p.get_id()
                );
            }
        }
    }
}
