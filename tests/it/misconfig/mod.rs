//! Misconfigurations that used to fail silently (issue 30, items 1–6),
//! each shown through the real binary: relative paths that follow the
//! config file, a missing upstream key, per-key limits that are not
//! enforced, `loadtest` defaults, missing prices, and Anthropic base URLs.

mod anthropic_base;
mod key_limits;
mod paths;
mod prices;
mod upstream_key;

use std::path::PathBuf;

use crate::support::write_config;

/// A config file in a directory of its own (not the run's current
/// directory), returned with that directory.
pub(crate) fn config_elsewhere(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("tokctl-conf-")
        .tempdir()
        .expect("a temp dir for the config");
    let path = write_config(dir.path(), text);
    (dir, path)
}
