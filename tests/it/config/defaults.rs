//! The committed documents of the configuration stay true: the top-level
//! `config.toml` parses to exactly `Config::default()` and shows every key
//! with a comment line above it, and docs/configuration.md lists every
//! environment variable and reserved name.

use std::collections::BTreeMap;

use tokctl::config::Config;

fn committed() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    std::fs::read_to_string(&path).expect("reading the repository's config.toml")
}

#[test]
fn config_toml_equals_the_defaults() {
    let parsed: Config = toml::from_str(&committed()).expect("config.toml parses as a Config");
    assert_eq!(
        parsed,
        Config::default(),
        "config.toml and Config::default() differ"
    );
}

/// Dotted path -> whether the line above the key (or `[[array]]` header) is
/// a comment.
fn documented_keys(text: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    let mut previous = "";
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix("[[").and_then(|r| r.strip_suffix("]]")) {
            section = h.trim().to_string();
            out.entry(section.clone())
                .or_insert(previous.starts_with('#'));
        } else if let Some(h) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = h.trim().to_string();
        } else if let Some((k, _)) = t.split_once('=').filter(|_| !t.starts_with('#')) {
            let path = format!("{section}.{}", k.trim());
            out.entry(path).or_insert(previous.starts_with('#'));
        }
        previous = t;
    }
    out
}

fn leaves(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &path, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_default_key_is_in_config_toml_with_a_comment() {
    let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
    let mut keys = Vec::new();
    leaves(&defaults, "", &mut keys);
    assert!(keys.len() > 40, "the walk found the keys: {keys:?}");
    let documented = documented_keys(&committed());
    let mut problems = Vec::new();
    for key in &keys {
        match documented.get(key) {
            None => problems.push(format!("{key} is missing")),
            Some(false) => problems.push(format!("{key} has no comment line above it")),
            Some(true) => {}
        }
    }
    assert!(problems.is_empty(), "config.toml: {}", problems.join("; "));
}

#[test]
fn docs_configuration_lists_every_env_var_and_reserved_name() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let doc = std::fs::read_to_string(&path).expect("reading docs/configuration.md");
    let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
    let leaves = tokctl::config::env::leaf_types(&defaults);
    assert!(!leaves.is_empty());
    let missing: Vec<String> = leaves
        .keys()
        .map(|k| {
            format!(
                "`{}{}`",
                tokctl::config::env::PREFIX,
                tokctl::config::env::env_suffix(k)
            )
        })
        .chain(
            tokctl::config::env::RESERVED
                .iter()
                .map(|(n, _)| format!("`{n}`")),
        )
        .filter(|name| !doc.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}
