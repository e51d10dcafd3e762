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
    page(&cmd, &invocation, &mut buf)?;
    std::fs::write(dir.join(format!("{name}.1")), buf)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

/// One page: clap_mangen's sections, the help's closing text split into
/// DETAILS and EXAMPLES, then EXIT STATUS and ENVIRONMENT.
fn page(cmd: &clap::Command, invocation: &str, w: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Write;
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let (details, examples) = match after.split_once("Examples:") {
        Some((d, e)) => (d.trim().to_string(), e.trim().to_string()),
        None => (after.trim().to_string(), String::new()),
    };
    if !details.is_empty() {
        writeln!(w, ".SH DETAILS\n{}", roff(&details))?;
    }
    let health = invocation.starts_with("tokctl health");
    writeln!(
        w,
        ".SH \"EXIT STATUS\"\n{}",
        roff(if health { HEALTH_EXIT } else { EXIT })
    )?;
    writeln!(w, ".SH ENVIRONMENT\n{}", roff(ENVIRONMENT))?;
    if invocation.starts_with("tokctl loadtest") {
        writeln!(w, ".PP\n{}", roff(LOADTEST_ENV))?;
    }
    if !examples.is_empty() {
        writeln!(w, ".SH EXAMPLES\n.RS\n.nf")?;
        for line in examples.lines() {
            writeln!(w, "{}", roff(line.trim()))?;
        }
        writeln!(w, ".fi\n.RE")?;
    }
    if cmd.get_version().is_some() || cmd.get_long_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

const EXIT: &str = "0 success; 1 the operation failed or its verdict is bad (a threshold crossed, a \
broken chain, an unreachable database, migrations that differ from the binary); 2 usage or \
configuration error.";

const HEALTH_EXIT: &str = "Nagios convention: 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable or \
unknown. Usage and configuration errors of this command also exit 3.";

const ENVIRONMENT: &str = "TOKCTL_CONFIG: the config file when --config is not given (else \
./config.toml). TOKCTL_<SECTION>_<KEY>: any config key, e.g. TOKCTL_LEDGER_ASYNC_BATCH_SIZE=500; \
the TOKLIGENCE_ prefix is accepted for the same names. See docs/configuration.md.";

const LOADTEST_ENV: &str = "TOKCTL_API_KEY: the API key loadtest sends (its --api-key).";

/// Text as roff: backslashes escaped, no line read as a request.
fn roff(text: &str) -> String {
    text.replace('\\', "\\e")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
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

    #[test]
    fn man_pages_have_the_sections_people_look_for() {
        let dir = tempfile::tempdir().expect("a temp dir");
        super::write_all(dir.path()).expect("writing docs");
        let page = std::fs::read_to_string(dir.path().join("man/tokctl-keys-rotate.1"))
            .expect("the page of keys rotate");
        for section in [
            ".SH SYNOPSIS",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH EXAMPLES",
        ] {
            assert!(page.contains(section), "{section} missing:\n{page}");
        }
        assert!(
            page.contains("tokctl keys rotate"),
            "the synopsis names the invocation:\n{page}"
        );
        let root = std::fs::read_to_string(dir.path().join("man/tokctl.1")).expect("tokctl.1");
        assert!(
            root.contains(".SH EXAMPLES") && root.contains(".SH \"EXIT STATUS\""),
            "{root}"
        );
    }
}
