//! Loading the configuration in layers, remembering where each value came from.
//!
//! Lowest first: built-in defaults, the file (`--config`, else `TOKCTL_CONFIG`,
//! else `./config.toml` when present), the environment, then flags. Layers are
//! merged as TOML values, and every leaf that a layer sets records its
//! [`Source`], so `tokctl config show` can say why a value is what it is and
//! an error can say where a bad value came from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::Value;

use super::Config;
use super::env::{self, EnvLayer};

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A command-line flag that sets one config key.
#[derive(Debug, Clone)]
pub struct FlagOverride {
    /// Dotted key path, e.g. `server.listen`.
    pub key: String,
    pub value: Value,
    /// The flag as the user typed it, e.g. `--listen`.
    pub flag: String,
}

/// What to load from; the defaults read the real process environment.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--config PATH`; an explicit path must exist.
    pub config_path: Option<PathBuf>,
    pub flags: Vec<FlagOverride>,
    /// The environment to read; `None` reads the process environment.
    pub env: Option<Vec<(String, String)>>,
    /// Directory in which `config.toml` is looked for; `None` is the current one.
    pub cwd: Option<PathBuf>,
}

/// The effective configuration, the source of each leaf, and warnings
/// (e.g. unknown environment variables) for the caller to print.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub sources: BTreeMap<String, Source>,
    pub warnings: Vec<String>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// The merged tree, kept for rendering.
    pub(crate) tree: Value,
    /// Path keys rewritten against the config file's directory.
    pub relocated: Vec<super::paths::Relocated>,
}

/// Everything that can be wrong with a configuration. Each message names the
/// key, the source and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    File {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{key} from {source_name}: {message}")]
    Value {
        key: String,
        source_name: Source,
        message: String,
    },
    #[error("{key} ({source_name}): {message}")]
    Invalid {
        key: String,
        source_name: Source,
        message: String,
    },
    /// A path that moved when relative paths began to follow the config file.
    #[error("{key}: {message}")]
    Moved { key: String, message: String },
    /// A read-only command found no database where the configuration points.
    #[error("{message}")]
    Missing { message: String },
}

/// Loads defaults < file < environment < flags, then validates.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let env_vars: Vec<(String, String)> = match &opts.env {
        Some(v) => v.clone(),
        None => std::env::vars().collect(),
    };
    let defaults = Config::default();
    let mut tree = Value::try_from(&defaults).map_err(|e| ConfigError::Value {
        key: "(defaults)".into(),
        source_name: Source::Default,
        message: e.to_string(),
    })?;
    let mut sources = BTreeMap::new();
    collect_leaves(&tree, "", &mut |path, _| {
        sources.insert(path.to_string(), Source::Default);
    });
    let leaf_types = env::leaf_types(&tree);

    let file = resolve_file(opts, &env_vars)?;
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let file_tree = parse_file(path, &text)?;
        let src = Source::File(path.clone());
        // Lists and maps from a file replace the defaults whole: a file that
        // lists its own models means exactly those models.
        merge(&mut tree, file_tree, "", &src, &mut sources);
    }

    let EnvLayer { values, warnings } = env::read(&env_vars, &leaf_types);
    for (key, value, name) in values {
        set_checked(&mut tree, &key, value, Source::Env(name), &mut sources)?;
    }
    for flag in &opts.flags {
        set_checked(
            &mut tree,
            &flag.key,
            flag.value.clone(),
            Source::Flag(flag.flag.clone()),
            &mut sources,
        )?;
    }

    let mut config: Config =
        tree.clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Value {
                key: "(config)".into(),
                source_name: Source::Default,
                message: e.message().to_string(),
            })?;
    let relocated = super::paths::resolve(&mut config, &sources, file.as_deref());
    super::validate::validate(&config, &sources)?;
    // Rendered from the effective values, so a bare `30` shows as `30m`.
    // Secret fields serialize masked, so this tree is safe to show.
    let tree = Value::try_from(&config).map_err(|e| ConfigError::Value {
        key: "(config)".into(),
        source_name: Source::Default,
        message: e.to_string(),
    })?;
    Ok(Loaded {
        config,
        sources,
        warnings,
        file,
        tree,
        relocated,
    })
}

fn resolve_file(
    opts: &LoadOptions,
    env_vars: &[(String, String)],
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(p) = &opts.config_path {
        return Ok(Some(p.clone()));
    }
    if let Some((_, p)) = env_vars.iter().find(|(k, _)| k == "TOKCTL_CONFIG")
        && !p.is_empty()
    {
        return Ok(Some(PathBuf::from(p)));
    }
    let candidate = match &opts.cwd {
        Some(dir) => dir.join("config.toml"),
        None => PathBuf::from("config.toml"),
    };
    Ok(candidate.is_file().then_some(candidate))
}

/// Parses a config file strictly, turning toml's multi-line report into one
/// line: file, line number, the full key path, and what was expected in
/// words (or a suggestion for a misspelt key). `*_ms` values written with a
/// unit (`"1s"`) are taken as whole milliseconds.
fn parse_file(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let normalized = super::report::normalize_ms_text(text);
    let text = normalized.as_str();
    if let Err(e) = toml::from_str::<Config>(text) {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
            .unwrap_or(1);
        let mut message = e.message().trim().to_string();
        if let Some(field) = unknown_field(&message) {
            let full = super::report::key_at(text, line, Some(&field));
            let what = if full.contains('.') { "key" } else { "section" };
            let hint = closest_expected(&message, &field)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            message = format!("unknown {what} `{full}`{hint}; {message}");
        } else {
            let key = super::report::key_at(text, line, None);
            if !key.is_empty() {
                message = format!("{key}: {}", super::report::in_words(&key, &message));
            }
        }
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            line,
            message,
        });
    }
    text.parse::<Value>().map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        line: 1,
        message: e.message().to_string(),
    })
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn closest_expected(message: &str, field: &str) -> Option<String> {
    let (_, expected) = message.split_once("expected")?;
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|cand| (strsim::jaro_winkler(cand, field), cand))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// Calls `f(path, value)` for every leaf (non-table value) of a tree.
pub(crate) fn collect_leaves(v: &Value, prefix: &str, f: &mut dyn FnMut(&str, &Value)) {
    match v {
        Value::Table(t) => {
            for (k, child) in t {
                let path = join(prefix, k);
                collect_leaves(child, &path, f);
            }
        }
        other => f(prefix, other),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else
/// (lists included) replaces. The `providers` table replaces whole too, so a
/// file that names its providers gets exactly those.
fn merge(
    base: &mut Value,
    over: Value,
    prefix: &str,
    src: &Source,
    sources: &mut BTreeMap<String, Source>,
) {
    match (base, over) {
        (Value::Table(b), Value::Table(o)) if prefix != "providers" => {
            for (k, v) in o {
                let path = join(prefix, &k);
                match b.get_mut(&k) {
                    Some(existing)
                        if existing.is_table() && v.is_table() && path != "providers" =>
                    {
                        merge(existing, v, &path, src, sources);
                    }
                    _ => {
                        sources.retain(|p, _| !(p == &path || p.starts_with(&format!("{path}."))));
                        collect_leaves(&v, &path, &mut |p, _| {
                            sources.insert(p.to_string(), src.clone());
                        });
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => {
            sources.retain(|p, _| !(p == prefix || p.starts_with(&format!("{prefix}."))));
            collect_leaves(&o, prefix, &mut |p, _| {
                sources.insert(p.to_string(), src.clone());
            });
            *b = o;
        }
    }
}

/// Sets one dotted key and checks at once that the whole tree still
/// deserializes, so a bad value is reported against its own key and source.
fn set_checked(
    tree: &mut Value,
    key: &str,
    value: Value,
    src: Source,
    sources: &mut BTreeMap<String, Source>,
) -> Result<(), ConfigError> {
    let mut node = &mut *tree;
    let parts: Vec<&str> = key.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        let Value::Table(t) = node else {
            return Err(ConfigError::Value {
                key: key.into(),
                source_name: src,
                message: "not a table".into(),
            });
        };
        node = t
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Default::default()));
    }
    let Value::Table(t) = node else {
        return Err(ConfigError::Value {
            key: key.into(),
            source_name: src,
            message: "not a table".into(),
        });
    };
    let last = parts[parts.len() - 1].to_string();
    // A `*_ms` key given a duration with a unit (`1s`) takes it in milliseconds.
    let value = match &value {
        Value::String(text) if last.ends_with("_ms") => super::duration::string_to_ms(text)
            .map(Value::Integer)
            .unwrap_or(value),
        _ => value,
    };
    let previous = t.insert(last.clone(), value);
    if let Err(e) = tree.clone().try_into::<Config>() {
        let message = super::report::in_words(key, e.message());
        // Restore so the caller could go on; the error ends the load anyway.
        if let (Some(prev), Some(Value::Table(t))) = (previous, lookup_parent(tree, &parts)) {
            t.insert(last, prev);
        }
        return Err(ConfigError::Value {
            key: key.into(),
            source_name: src,
            message,
        });
    }
    sources.insert(key.to_string(), src);
    Ok(())
}

fn lookup_parent<'a>(tree: &'a mut Value, parts: &[&str]) -> Option<&'a mut Value> {
    let mut node = tree;
    for part in &parts[..parts.len() - 1] {
        node = node.as_table_mut()?.get_mut(*part)?;
    }
    Some(node)
}
