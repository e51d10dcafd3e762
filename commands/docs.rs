//! Hidden `tokctl generate-docs`: completions (bash, zsh, fish) and man
//! pages (one for tokctl, one per subcommand), all from `Cli::command()`.

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

fn write_all(out: &Path) -> std::io::Result<()> {
    let comp = out.join("completions");
    let man = out.join("man");
    std::fs::create_dir_all(&comp)?;
    std::fs::create_dir_all(&man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "tokctl", &comp)?;
    }
    let cmd = Cli::command();
    write_man(&cmd, "tokctl", &man)?;
    Ok(())
}

/// tokctl.1, then tokctl-SUB.1 for each visible subcommand, recursively.
fn write_man(cmd: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    let cmd = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
