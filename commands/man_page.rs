//! One man page: clap_mangen's sections, then what the help's closing
//! text holds (DETAILS, EXAMPLES) and what every page owes its reader
//! (EXIT STATUS, ENVIRONMENT), as roff.

use std::io::Write;

/// One page: clap_mangen's sections, the help's closing text split into
/// DETAILS and EXAMPLES, then EXIT STATUS and ENVIRONMENT.
pub fn page(cmd: &clap::Command, invocation: &str, w: &mut Vec<u8>) -> std::io::Result<()> {
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
    #[test]
    fn man_pages_have_the_sections_people_look_for() {
        let dir = tempfile::tempdir().expect("a temp dir");
        crate::docs::write_all(dir.path()).expect("writing docs");
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
