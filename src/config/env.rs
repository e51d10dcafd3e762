//! The environment layer: `TOKCTL_<KEY_PATH>` for every scalar key, and the
//! same names under `TOKLIGENCE_` so a Tokligence Gateway deployment's
//! environment works unchanged (`TOKCTL_` wins when both are set).
//!
//! The name of a key is its dotted path upper-cased with `_` for `.`:
//! `ledger.async.batch_size` is `TOKCTL_LEDGER_ASYNC_BATCH_SIZE`. Providers
//! and models are maps and lists, set in the file only.

use std::collections::BTreeMap;

use toml::Value;

/// Prefix of tokctl's own variables.
pub const PREFIX: &str = "TOKCTL_";
/// Prefix accepted for the same names, for Tokligence Gateway deployments.
pub const COMPAT_PREFIX: &str = "TOKLIGENCE_";

/// `TOKCTL_` names that are not config keys. Documented in docs/configuration.md.
pub const RESERVED: &[(&str, &str)] = &[
    (
        "TOKCTL_CONFIG",
        "path of the config file when --config is not given",
    ),
    (
        "TOKCTL_BLESS",
        "tests: rewrite completions/ and man/ instead of failing when stale",
    ),
    (
        "TOKCTL_TEST_LOG",
        "tests: show the logs of the servers a test starts",
    ),
    (
        "TOKCTL_PG_BIN",
        "tests: directory of the PostgreSQL server binaries",
    ),
    (
        "TOKCTL_API_KEY",
        "the API key `tokctl loadtest` sends (its --api-key)",
    ),
    (
        "TOKCTL_PREV_BIN",
        "tests: the previous release's binary, for the rolling-upgrade tests",
    ),
];

/// The kind of value a leaf holds, learnt from the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafType {
    Bool,
    Int,
    Float,
    Str,
    List,
}

/// Every settable scalar key with its type. Providers and models are excluded.
pub fn leaf_types(defaults: &Value) -> BTreeMap<String, LeafType> {
    let mut out = BTreeMap::new();
    super::load::collect_leaves(defaults, "", &mut |path, v| {
        if path.starts_with("providers") || path.starts_with("models") {
            return;
        }
        let t = match v {
            Value::Boolean(_) => LeafType::Bool,
            Value::Integer(_) => LeafType::Int,
            Value::Float(_) => LeafType::Float,
            Value::Array(_) => LeafType::List,
            _ => LeafType::Str,
        };
        out.insert(path.to_string(), t);
    });
    out
}

/// The environment variable name (without prefix) of a key path.
pub fn env_suffix(path: &str) -> String {
    path.replace('.', "_").to_ascii_uppercase()
}

/// What the environment sets, and warnings about names it does not know.
pub struct EnvLayer {
    /// (key path, value, variable name), in key order.
    pub values: Vec<(String, Value, String)>,
    pub warnings: Vec<String>,
}

/// Reads the `TOKCTL_` and `TOKLIGENCE_` variables that name config keys.
pub fn read(vars: &[(String, String)], leaves: &BTreeMap<String, LeafType>) -> EnvLayer {
    let by_suffix: BTreeMap<String, &String> = leaves.keys().map(|p| (env_suffix(p), p)).collect();
    let mut chosen: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut sorted: Vec<&(String, String)> = vars.iter().collect();
    // TOKLIGENCE_ first so that TOKCTL_ overwrites it.
    sorted.sort_by_key(|(k, _)| (!k.starts_with(COMPAT_PREFIX), k.clone()));
    for (name, value) in sorted {
        let (suffix, compat) = if let Some(s) = name.strip_prefix(PREFIX) {
            (s, false)
        } else if let Some(s) = name.strip_prefix(COMPAT_PREFIX) {
            (s, true)
        } else {
            continue;
        };
        if !compat && RESERVED.iter().any(|(r, _)| r == name) {
            continue;
        }
        match by_suffix.get(suffix) {
            Some(path) => {
                chosen.insert((*path).clone(), (name.clone(), value.clone()));
            }
            None if compat => warnings.push(format!(
                "{name} has no meaning in tokctl and is ignored (see docs/configuration.md for the names tokctl reads)"
            )),
            None => {
                let hint = closest(suffix, by_suffix.keys())
                    .map(|s| format!("; did you mean {PREFIX}{s}?"))
                    .unwrap_or_default();
                warnings.push(format!("{name} is not a tokctl setting and is ignored{hint}"));
            }
        }
    }
    let mut values = Vec::new();
    for (path, (name, raw)) in chosen {
        let ty = leaves.get(&path).copied().unwrap_or(LeafType::Str);
        values.push((path, convert(&raw, ty), name));
    }
    EnvLayer { values, warnings }
}

/// Turns the text of a variable into a TOML value of the key's type. A value
/// that does not fit is passed on as a string, so that deserialization
/// reports it against the key with the expected form.
fn convert(raw: &str, ty: LeafType) -> Value {
    let t = raw.trim();
    match ty {
        LeafType::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Boolean(true),
            "false" | "0" | "no" | "off" => Value::Boolean(false),
            _ => Value::String(raw.to_string()),
        },
        LeafType::Int => t
            .parse::<i64>()
            .map(Value::Integer)
            .unwrap_or_else(|_| Value::String(raw.into())),
        LeafType::Float => t
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::String(raw.into())),
        LeafType::Str => Value::String(raw.to_string()),
        LeafType::List => Value::Array(
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
    }
}

fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    candidates
        .map(|c| (strsim::jaro_winkler(c, name), c))
        .filter(|(score, _)| *score > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_key_path() {
        assert_eq!(
            env_suffix("ledger.async.batch_size"),
            "LEDGER_ASYNC_BATCH_SIZE"
        );
        assert_eq!(env_suffix("db.max_open_conns"), "DB_MAX_OPEN_CONNS");
    }
}
