//! The `--models` flag that `keys`, `users` and `teams` share, and the
//! warning for globs that match no configured model (likely a typo; it is
//! kept, since the model may be configured later).

use tokctl::config::Loaded;
use tokctl::identity::access::{AllowList, parse_flag};

use crate::Failure;

/// `--models GLOBS` (flattened into each command that takes it).
#[derive(Debug, Clone, clap::Args)]
pub struct ModelsArg {
    /// Allow-list of model globs, comma-separated: `*` any characters, `?` one (e.g.
    /// 'claude-*,gpt-4o'). The key, its user and the user's team must all allow a model;
    /// '' removes this list (any model).
    #[arg(long, value_name = "GLOBS")]
    pub models: Option<String>,
}

impl ModelsArg {
    /// The flag parsed: `None` not given, `Some(None)` cleared, `Some(list)`.
    pub fn parse(&self) -> Result<Option<Option<AllowList>>, Failure> {
        Ok(parse_flag(self.models.as_deref())?)
    }
}

/// Prints a warning on stderr for each glob of `list` that matches none of
/// the configured models.
pub fn warn_unmatched(loaded: &Loaded, list: Option<&Option<AllowList>>) {
    let Some(Some(list)) = list else {
        return;
    };
    let names: Vec<String> = loaded
        .config
        .models
        .iter()
        .map(|m| m.name.clone())
        .collect();
    for glob in list.unmatched(&names) {
        eprintln!(
            "warning: --models `{glob}` matches no configured model (configured: {}); \
             kept as given",
            names.join(", ")
        );
    }
}
