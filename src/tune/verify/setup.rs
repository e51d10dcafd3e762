//! Setting up a `tune --verify` run: the `--verify-override` and
//! `--verify-seconds` flags, and the child gateway's config file.

use super::VerifyError;
use crate::tune::model::Recommendation;

/// Bounds of `--verify-seconds`.
pub const MAX_SECONDS: f64 = 600.0;

/// A `--verify-override KEY=VALUE` applied to the `[ledger.async]` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Override {
    Number(&'static str, u64),
    OnFullDrop(bool),
}

/// Parses one `--verify-override` (`buffer_size=4`, `on_full=drop`).
pub fn parse_override(s: &str) -> Result<Override, VerifyError> {
    let bad = || VerifyError::BadOverride(s.to_string());
    let (key, value) = s.split_once('=').ok_or_else(bad)?;
    let key = key.trim();
    let value = value.trim();
    if key == "on_full" {
        return match value {
            "drop" => Ok(Override::OnFullDrop(true)),
            "block" => Ok(Override::OnFullDrop(false)),
            _ => Err(bad()),
        };
    }
    let key = ["batch_size", "flush_ms", "buffer_size", "num_workers"]
        .into_iter()
        .find(|k| *k == key)
        .ok_or_else(bad)?;
    let n: u64 = value.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    Ok(Override::Number(key, n))
}

/// Checks `--verify-seconds`.
pub fn check_seconds(s: f64) -> Result<f64, VerifyError> {
    if s.is_finite() && s > 0.0 && s <= MAX_SECONDS {
        Ok(s)
    } else {
        Err(VerifyError::BadSeconds(s))
    }
}

/// The `[ledger.async]` values the run uses: the recommendation with the
/// overrides on top (key, value), and whether a full buffer drops.
pub fn async_values(
    r: &Recommendation,
    overrides: &[Override],
) -> (Vec<(&'static str, u64)>, bool) {
    let mut values = vec![
        ("batch_size", r.batch_size.value as u64),
        ("flush_ms", r.flush_ms.value),
        ("buffer_size", r.buffer_size.value as u64),
        ("num_workers", r.num_workers.value as u64),
    ];
    let mut drop = false;
    for o in overrides {
        match o {
            Override::Number(k, n) => {
                if let Some(slot) = values.iter_mut().find(|(key, _)| key == k) {
                    slot.1 = *n;
                }
            }
            Override::OnFullDrop(d) => drop = *d,
        }
    }
    (values, drop)
}

/// The gateway's config for a verify run: loopback on port 0, auth on (the
/// bootstrap admin key is printed at first start), the built-in mock
/// provider (the default config's), `ledger_dsn` for both databases, and
/// the recommended writer and pool settings.
pub fn config_toml(
    r: &Recommendation,
    overrides: &[Override],
    ledger_dsn: &str,
    identity_dsn: &str,
    dead_letter: &str,
) -> String {
    let (values, drop) = async_values(r, overrides);
    let q = |s: &str| toml_quote(s);
    let mut out = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nshutdown_timeout_ms = 10000\n\n\
         [metrics]\nenabled = true\nlisten = \"\"\nport = 0\n\n\
         [auth]\nenabled = true\nbootstrap_admin = true\n\n\
         [db]\nmax_open_conns = {}\nmax_idle_conns = {}\n\n\
         [identity]\npath = {}\n\n\
         [ledger]\npath = {}\ndead_letter_path = {}\n\n\
         [ledger.async]\nenabled = true\non_full = \"{}\"\n",
        r.max_open_conns.value,
        r.max_idle_conns.value,
        q(identity_dsn),
        q(ledger_dsn),
        q(dead_letter),
        if drop { "drop" } else { "block" },
    );
    for (k, v) in values {
        out.push_str(&format!("{k} = {v}\n"));
    }
    // The run judges the in-memory buffer the recommendation sizes; with
    // the spool on, the spool's size would be the bound instead.
    out.push_str("\n[ledger.spool]\nenabled = false\n");
    out
}

fn toml_quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_and_apply() {
        assert_eq!(
            parse_override("buffer_size=4"),
            Ok(Override::Number("buffer_size", 4))
        );
        assert_eq!(
            parse_override("on_full=drop"),
            Ok(Override::OnFullDrop(true))
        );
        assert!(parse_override("buffer_size=0").is_err());
        assert!(parse_override("nope=1").is_err());
        assert!(parse_override("buffer_size").is_err());
    }
}
