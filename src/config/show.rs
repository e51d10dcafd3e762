//! Renders the effective configuration as TOML, each value followed by a
//! comment saying where it came from. Secrets arrive masked: the tree is
//! serialized from the typed config, whose secret fields
//! ([`super::Secret`], [`super::SecretUrl`]) serialize masked.

use std::collections::BTreeMap;
use std::fmt::Write;

use toml::Value;

use super::{Loaded, Source};

/// The effective configuration as TOML with `# source` comments.
pub fn render(loaded: &Loaded) -> String {
    let mut out = String::new();
    if let Some(f) = &loaded.file {
        let _ = writeln!(out, "# effective configuration; file: {}", f.display());
    } else {
        let _ = writeln!(out, "# effective configuration; no config file was read");
    }
    if let Value::Table(t) = &loaded.tree {
        render_table(&mut out, "", t, &loaded.sources);
    }
    out
}

fn render_table(
    out: &mut String,
    prefix: &str,
    t: &toml::Table,
    sources: &BTreeMap<String, Source>,
) {
    let path_of = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    for (k, v) in t {
        if v.is_table() || is_table_array(v) {
            continue;
        }
        let path = path_of(k);
        let src = sources
            .get(&path)
            .map(ToString::to_string)
            .unwrap_or_else(|| "default".into());
        let _ = writeln!(out, "{} = {v}  # {src}", key(k));
    }
    for (k, v) in t {
        let path = path_of(k);
        match v {
            Value::Table(child) => {
                let _ = writeln!(out, "\n[{}]", header(&path));
                render_table(out, &path, child, sources);
            }
            Value::Array(items) if is_table_array(v) => {
                let src = sources
                    .get(&path)
                    .cloned()
                    .or_else(|| first_source(sources, &path));
                for item in items {
                    let label = src.as_ref().map(|s| format!("  # {s}")).unwrap_or_default();
                    let _ = writeln!(out, "\n[[{}]]{label}", header(&path));
                    if let Value::Table(child) = item {
                        for (ck, cv) in child {
                            let _ = writeln!(out, "{} = {cv}", key(ck));
                        }
                        if path == "models" {
                            unset_prices(out, child);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The prices a `[[models]]` entry leaves out, with the value in effect
/// and why: cached-input and cache-write prices fall back to the input
/// price; input and output prices to 0 (which `config check` warns about).
fn unset_prices(out: &mut String, model: &toml::Table) {
    let price = |k: &str| model.get(k).and_then(Value::as_float);
    let free = model.get("free").and_then(Value::as_bool).unwrap_or(false);
    let input = price("input_per_mtok");
    for k in [
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "output_per_mtok",
    ] {
        if model.contains_key(k) {
            continue;
        }
        let (value, why) = match (free, k, input) {
            (true, ..) => (0.0, "not set: free = true"),
            (false, "cached_input_per_mtok" | "cache_write_per_mtok", Some(p)) => {
                (p, "not set: the input price")
            }
            _ => (0.0, "not set: billed at 0 (see `tokctl config check`)"),
        };
        let _ = writeln!(out, "{k} = {}  # {why}", Value::Float(value));
    }
}

fn first_source(sources: &BTreeMap<String, Source>, path: &str) -> Option<Source> {
    sources
        .iter()
        .find(|(p, _)| p.starts_with(&format!("{path}.")) || p.as_str() == path)
        .map(|(_, s)| s.clone())
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_table))
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn header(path: &str) -> String {
    path.split('.').map(key).collect::<Vec<_>>().join(".")
}

/// The effective configuration as JSON, secrets masked (as in [`render`]):
/// `{"file", "config", "sources"}`, where `sources` maps each dotted key to
/// where its value came from.
pub fn to_json(loaded: &Loaded) -> serde_json::Value {
    // The tree holds secrets masked already (they serialize masked).
    let config = serde_json::to_value(&loaded.tree).unwrap_or_default();
    let sources: serde_json::Map<String, serde_json::Value> = loaded
        .sources
        .iter()
        .map(|(k, s)| (k.clone(), serde_json::Value::String(s.to_string())))
        .collect();
    serde_json::json!({
        "file": loaded.file.as_ref().map(|f| f.display().to_string()),
        "config": config,
        "sources": sources,
    })
}
