//! Relative paths in the configuration, and where they point.
//!
//! A relative path written in a config file, and a built-in default path
//! when a config file is read, resolves against that file's directory (as
//! nginx resolves its includes): `tokctl --config /srv/tokctl/config.toml`
//! finds `/srv/tokctl/data/tokctl.db` from any current directory. Paths
//! from the environment or flags, and every path when no file is read,
//! stay relative to the current directory, where the person typing them
//! is. This module also holds the two refusals that protect an operator
//! from a path that moved: `serve` will not start on a fresh file while
//! the old current-directory one still holds data, and read-only commands
//! will not create an empty database and report it as the ledger.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Loaded, Source};

/// Every key that holds a file or directory path, with whether it is a
/// database DSN (then only a SQLite path is a path). A new path key
/// belongs here, so that it resolves like the others.
pub const PATH_KEYS: &[(&str, bool)] = &[
    ("ledger.path", true),
    ("identity.path", true),
    ("ledger.dead_letter_path", false),
    ("ledger.chain.instance_id_path", false),
    ("ledger.chain.head_file", false),
    ("ledger.spool.dir", false),
    ("identity.snapshot_path", false),
];

/// A path key whose value was rewritten against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocated {
    pub key: &'static str,
    /// The value as written (or the default): where it pointed before,
    /// relative to the current directory.
    pub written: String,
    /// The value in effect.
    pub resolved: String,
}

fn slot<'a>(c: &'a mut Config, key: &str) -> Option<&'a mut String> {
    Some(match key {
        "ledger.path" => c.ledger.path.expose_mut(),
        "identity.path" => c.identity.path.expose_mut(),
        "ledger.dead_letter_path" => &mut c.ledger.dead_letter_path,
        "ledger.chain.instance_id_path" => &mut c.ledger.chain.instance_id_path,
        "ledger.chain.head_file" => &mut c.ledger.chain.head_file,
        "ledger.spool.dir" => &mut c.ledger.spool.dir,
        "identity.snapshot_path" => &mut c.identity.snapshot_path,
        _ => return None,
    })
}

/// The value of a path key.
pub fn value<'a>(c: &'a Config, key: &str) -> Option<&'a str> {
    Some(match key {
        "ledger.path" => c.ledger.path.expose(),
        "identity.path" => c.identity.path.expose(),
        "ledger.dead_letter_path" => &c.ledger.dead_letter_path,
        "ledger.chain.instance_id_path" => &c.ledger.chain.instance_id_path,
        "ledger.chain.head_file" => &c.ledger.chain.head_file,
        "ledger.spool.dir" => &c.ledger.spool.dir,
        "identity.snapshot_path" => &c.identity.snapshot_path,
        _ => return None,
    })
}

/// Rewrites the relative paths that came from `file` (or from the defaults
/// while a file is read) against the file's directory. Returns what moved.
pub(super) fn resolve(
    c: &mut Config,
    sources: &BTreeMap<String, Source>,
    file: Option<&Path>,
) -> Vec<Relocated> {
    let Some(dir) = file.and_then(Path::parent) else {
        return Vec::new();
    };
    if dir.as_os_str().is_empty() {
        // `config.toml` in the current directory: nothing moves.
        return Vec::new();
    }
    let mut moved = Vec::new();
    for &(key, is_dsn) in PATH_KEYS {
        let from_file = matches!(
            sources.get(key),
            None | Some(Source::Default) | Some(Source::File(_))
        );
        let Some(v) = slot(c, key).filter(|_| from_file) else {
            continue;
        };
        let new = if is_dsn {
            rebase_dsn(v, dir)
        } else {
            rebase(v, dir)
        };
        if let Some(new) = new {
            moved.push(Relocated {
                key,
                written: std::mem::replace(v, new.clone()),
                resolved: new,
            });
        }
    }
    moved
}

/// `dir/path` when `path` is relative and not empty.
fn rebase(path: &str, dir: &Path) -> Option<String> {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() {
        return None;
    }
    Some(dir.join(p).to_string_lossy().into_owned())
}

/// A SQLite DSN (a path, `sqlite:PATH` or `sqlite://PATH`, with any
/// `?query` kept) rebased; PostgreSQL URLs and absolute paths unchanged.
fn rebase_dsn(dsn: &str, dir: &Path) -> Option<String> {
    let t = dsn.trim();
    if t.starts_with("postgres://")
        || t.starts_with("postgresql://")
        || t.contains("://") && !t.starts_with("sqlite://")
    {
        return None;
    }
    let (prefix, rest) = if let Some(r) = t.strip_prefix("sqlite://") {
        ("sqlite://", r)
    } else if let Some(r) = t.strip_prefix("sqlite:") {
        ("sqlite:", r)
    } else {
        ("", t)
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) if !prefix.is_empty() => (p, format!("?{q}")),
        _ => (rest, String::new()),
    };
    if path == ":memory:" {
        return None;
    }
    rebase(path, dir).map(|p| format!("{prefix}{p}{query}"))
}

/// The SQLite file a DSN names, if it names one.
fn sqlite_file(dsn: &str) -> Option<PathBuf> {
    match super::dsn::Dsn::parse(dsn).ok()? {
        super::dsn::Dsn::Sqlite { path } => Some(path),
        super::dsn::Dsn::Postgres { .. } => None,
    }
}

fn on_disk(key: &str, value: &str) -> Option<PathBuf> {
    let is_dsn = PATH_KEYS.iter().any(|(k, d)| *k == key && *d);
    if is_dsn {
        sqlite_file(value)
    } else {
        Some(PathBuf::from(value))
    }
}

/// Where a path key's value came from, in words, for an error message.
pub fn origin(loaded: &Loaded, key: &str) -> String {
    let moved = loaded.relocated.iter().any(|r| r.key == key);
    match (loaded.sources.get(key), &loaded.file) {
        (Some(Source::File(f)), _) if moved => {
            format!("from config {}, relative to its directory", f.display())
        }
        (Some(Source::File(f)), _) => format!("from config {}", f.display()),
        (Some(Source::Env(n)), _) => format!("from env {n}"),
        (Some(Source::Flag(n)), _) => format!("from flag {n}"),
        (_, Some(f)) if moved => format!(
            "the default, relative to the directory of config {}",
            f.display()
        ),
        (_, Some(f)) => format!("the default, with config {}", f.display()),
        (_, None) => "the default; no config file, so relative to the current directory".into(),
    }
}

/// Refuses a fresh path while the file or directory the same setting
/// named before paths followed the config file (the one relative to the
/// current directory) exists: `serve` would start an empty ledger beside
/// the real one, `migrate` or `users create` would create one, and a
/// read-only command would report on nothing.
pub fn refuse_moved(loaded: &Loaded) -> Result<(), ConfigError> {
    for r in &loaded.relocated {
        let (Some(old), Some(new)) = (on_disk(r.key, &r.written), on_disk(r.key, &r.resolved))
        else {
            continue;
        };
        if old.exists() && !new.exists() && !same_file(&old, &new) {
            let file = loaded
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default();
            return Err(ConfigError::Moved {
                key: r.key.to_string(),
                message: format!(
                    "{old} exists in the current directory but {new} does not: relative paths in \
                     {file} now resolve against its directory, not the current one. Move the data \
                     (`mkdir -p {dir} && mv {old} {new}`, with its -wal/-shm files for a database, \
                     while no gateway runs) or set {key} to the absolute path {abs}",
                    old = old.display(),
                    new = new.display(),
                    dir = new.parent().unwrap_or(Path::new(".")).display(),
                    key = r.key,
                    abs = std::path::absolute(&old)
                        .unwrap_or_else(|_| old.clone())
                        .display(),
                ),
            });
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// For read-only commands: fails when the database `key` names is a
/// SQLite file that does not exist, instead of creating an empty one and
/// reporting it as the ledger. `what` names it in the message (`ledger`,
/// `identity database`).
pub fn require_database(loaded: &Loaded, key: &str, what: &str) -> Result<(), ConfigError> {
    // Data left at the old place says more than "no ledger here".
    refuse_moved(loaded)?;
    let Some(path) = value(&loaded.config, key).and_then(sqlite_file) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    Err(ConfigError::Missing {
        message: format!(
            "no {what} at {} ({}, key {key}); nothing was created. Check the path, or create it \
             with `tokctl migrate` (or `tokctl serve`)",
            path.display(),
            origin(loaded, key),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_dsns_keep_their_form() {
        let d = Path::new("/srv/t");
        assert_eq!(
            rebase_dsn("data/x.db", d).as_deref(),
            Some("/srv/t/data/x.db")
        );
        assert_eq!(
            rebase_dsn("sqlite:data/x.db?mode=rwc", d).as_deref(),
            Some("sqlite:/srv/t/data/x.db?mode=rwc")
        );
        assert_eq!(
            rebase_dsn("sqlite://x.db", d).as_deref(),
            Some("sqlite:///srv/t/x.db")
        );
        assert_eq!(rebase_dsn("/abs/x.db", d), None);
        assert_eq!(rebase_dsn("postgres://u@h/db", d), None);
        assert_eq!(rebase_dsn("sqlite::memory:", d), None);
    }
}
