//! What a configuration that loads can still get wrong without failing:
//! the checks `serve` runs at start and `config check` reports.
//!
//! A finding here is something that would otherwise fail silently at the
//! first request (an upstream key that is not set, a model billed at
//! zero), so `serve` prints each one and `config check` exits 2 on the
//! ones marked [`Severity::Error`] (and, with `--strict`, on all).

use super::{Config, ConfigError, Loaded, ProviderKind};

/// What `serve` checks before it starts: refuses a data path that moved
/// (see [`super::paths::refuse_moved`]) and returns the warnings to print.
pub fn preflight(loaded: &Loaded) -> Result<Vec<String>, ConfigError> {
    super::paths::refuse_moved(loaded)?;
    Ok(warnings(&loaded.config)
        .into_iter()
        .map(|w| w.to_string())
        .collect())
}

/// How serious a finding is for `config check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `config check` exits 2.
    Error,
    /// `config check` exits 2 only with `--strict`.
    Strict,
}

/// One finding, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub key: String,
    pub severity: Severity,
    pub message: String,
}

impl Warning {
    /// Whether `config check` (with `--strict` or not) exits 2 on it.
    pub fn fails_check(&self, strict: bool) -> bool {
        strict || self.severity == Severity::Error
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every finding on `c`, reading the process environment.
pub fn warnings(c: &Config) -> Vec<Warning> {
    warnings_with(c, &|name| std::env::var(name).ok())
}

/// Every finding on `c`, with `env` as the environment (tests).
pub fn warnings_with(c: &Config, env: &dyn Fn(&str) -> Option<String>) -> Vec<Warning> {
    let mut out = Vec::new();
    for (name, p) in &c.providers {
        if p.kind == ProviderKind::Mock || p.api_key_env.is_empty() {
            continue;
        }
        let value = env(&p.api_key_env);
        let state = match value.as_deref().map(str::trim) {
            None => "is not set",
            Some("") => "is empty",
            Some(_) => continue,
        };
        out.push(Warning {
            key: format!("providers.{name}.api_key_env"),
            severity: Severity::Error,
            message: format!(
                "${var} {state}: requests to provider `{name}` would reach {url} with no API key \
                 and be refused there; export {var} before starting, or set api_key_env = \"\" \
                 for an upstream that needs no key",
                var = p.api_key_env,
                url = p.base_url,
            ),
        });
    }
    for m in c.models.iter().filter(|m| !m.free) {
        let missing: Vec<&str> = [
            ("input_per_mtok", m.input_per_mtok),
            ("output_per_mtok", m.output_per_mtok),
        ]
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(k, _)| *k)
        .collect();
        if missing.is_empty() {
            continue;
        }
        out.push(Warning {
            key: "models".into(),
            severity: Severity::Strict,
            message: format!(
                "model `{}` has no {}: those tokens are billed at 0 {}. Set the price, or                  free = true for a model that costs nothing (a model without prices will be an                  error in a later release)",
                m.name,
                missing.join(" or "),
                c.ledger.currency,
            ),
        });
    }
    out
}

/// The warning for API keys that carry their own limits (`keys create
/// --rps/--burst/--tpm`) while `rate_limit.enabled = false`: the gateway
/// builds no limiter then, so the limits do nothing. `keys` is how many
/// usable keys carry one; `None` when nothing is to be said.
///
/// Decided: warn, not enforce. `enabled = false` stays one switch that
/// turns every limit off (what an operator reaches for in an incident);
/// enforcing per-key limits behind it would make it a half-switch.
pub fn unenforced_key_limits(loaded: &Loaded, keys: usize) -> Option<String> {
    if loaded.config.rate_limit.enabled || keys == 0 {
        return None;
    }
    let from = loaded
        .sources
        .get("rate_limit.enabled")
        .map(|s| s.to_string())
        .unwrap_or_else(|| "default".into());
    let what = if keys == 1 {
        "1 API key carries its own limits".to_string()
    } else {
        format!("{keys} API keys carry their own limits")
    };
    Some(format!(
        "rate_limit.enabled: {what} (rps, burst or tokens per minute) that are NOT enforced while \
         rate_limit.enabled = false ({from}); set it to true (TOKCTL_RATE_LIMIT_ENABLED=true) to \
         enforce them"
    ))
}

/// Why `api_key_env` is not the name of an environment variable, if it is
/// not: most often the key itself was pasted there. The message never
/// repeats the value (it may be a secret).
pub(super) fn bad_key_env(provider: &str, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let looks_like_key = ["sk-", "sk_", "sk-ant-", "sess-", "Bearer "]
        .iter()
        .any(|p| value.starts_with(p));
    let valid_name = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if looks_like_key || !valid_name {
        let shown: String = value.chars().take(3).collect();
        let what = if looks_like_key {
            format!("`{shown}…` looks like an API key itself")
        } else {
            format!("`{shown}…` is not an environment variable name")
        };
        return Some(format!(
            "{what}; api_key_env takes the NAME of the variable holding the key. Keep the key \
             out of the file: `export {example}=<the key>` and set api_key_env = \"{example}\"",
            example = example_var(provider),
        ));
    }
    None
}

fn example_var(provider: &str) -> String {
    let upper: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{upper}_API_KEY")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_left_out_cached_price_is_the_input_price_and_free_is_zero() {
        let mut m = crate::config::ModelConfig {
            name: "m".into(),
            provider: "mock".into(),
            upstream_model: String::new(),
            input_per_mtok: Some(3.0),
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
            output_per_mtok: Some(15.0),
            ..Default::default()
        };
        assert_eq!(m.cached_input_price(), 3.0);
        assert_eq!(m.cache_write_price(), 3.0);
        let p = crate::pricing::Prices::from_model(&m);
        assert_eq!(p.cached_input, 3_000_000_000);
        m.free = true;
        assert_eq!(crate::pricing::Prices::from_model(&m), Default::default());
    }

    #[test]
    fn a_pasted_key_is_refused_without_being_repeated() {
        let m = bad_key_env("openai", "sk-proj-abcdefghijkl").expect("refused");
        assert!(m.contains("looks like an API key"), "{m}");
        assert!(!m.contains("abcdef"), "{m}");
        assert!(m.contains("OPENAI_API_KEY"), "{m}");
        assert!(bad_key_env("a", "sk-ant-api03-xyz").is_some());
        assert!(bad_key_env("a", "my key").is_some());
        assert_eq!(bad_key_env("a", "OPENAI_API_KEY"), None);
        assert_eq!(bad_key_env("a", ""), None);
    }
}
