//! `tokctl serve`: the gateway daemon.

use std::process::ExitCode;

use tokctl::gateway::server::{self, ServeOptions};

use crate::cli::{GlobalArgs, flag_value};
use crate::{CmdResult, Failure, exit};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Serves POST /v1/chat/completions, /v1/embeddings, /v1/messages and GET /v1/models, \
records every admitted request in the usage ledger, and stops cleanly on SIGINT/SIGTERM (in-flight requests \
finish, every queued entry is written). On first start with an empty identity database it creates the user \
`admin` and prints one API key on stderr.

Examples:
  tokctl serve
  tokctl --config /etc/tokctl/config.toml serve --listen 0.0.0.0:8080
  TOKCTL_LEDGER_PATH=postgres://tokctl@db/tokctl tokctl serve --no-migrate"
)]
pub struct Args {
    /// Address to listen on (overrides server.listen); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Do not apply pending migrations at start (a schema that differs from this binary still stops the start).
    #[arg(long)]
    pub no_migrate: bool,
}

pub async fn run(args: Args, global: &GlobalArgs) -> CmdResult {
    let mut flags = Vec::new();
    if let Some(l) = &args.listen {
        flags.push(flag_value("server.listen", l.as_str(), "--listen"));
    }
    let loaded = global.load(flags)?;
    crate::config_cmd::preflight(&loaded).await?;
    let opts = ServeOptions {
        no_migrate: args.no_migrate,
    };
    let report = server::serve(loaded.config, opts, |key, addr| {
        eprintln!("created user `admin` with this API key (shown once; keep it):");
        eprintln!("  {key}");
        eprintln!("try: curl -s http://{addr}/v1/chat/completions -H 'Authorization: Bearer {key}' \\");
        eprintln!("       -H 'Content-Type: application/json' -d '{{\"model\":\"gpt-4o-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}]}}'");
    })
    .await
    .map_err(|e| Failure::new(exit::FAILURE, crate::chain(&e)))?;
    if report.ledger.dropped > 0 {
        eprintln!(
            "warning: {} usage entries were dropped (ledger.async.on_full = \"drop\")",
            report.ledger.dropped
        );
    }
    Ok(ExitCode::SUCCESS)
}
