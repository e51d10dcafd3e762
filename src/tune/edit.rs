//! Writing a recommendation into a config file without losing its
//! comments or layout (toml_edit), with a backup of the old file.
//!
//! [`changes`] lists each recommended key against the effective value;
//! [`apply`] sets the accepted ones in the file's text; [`write_with_backup`]
//! keeps the old file beside the new one. Asking the operator is the
//! command's business.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, value};

use super::model::Recommendation;
use super::output::settings;
use crate::config::Config;

/// One key: what the configuration says now and what is recommended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: &'static str,
    pub current: u64,
    pub recommended: u64,
}

impl Change {
    /// Whether writing it would change anything.
    pub fn differs(&self) -> bool {
        self.current != self.recommended
    }
}

/// Failures of editing the config file, naming it.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{path}: not valid TOML: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml_edit::TomlError,
    },
    #[error("{path}: `{key}` is not a table, so `{leaf}` cannot be set in it")]
    NotATable {
        path: PathBuf,
        key: String,
        leaf: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn current(c: &Config, key: &str) -> u64 {
    let a = &c.ledger.async_writer;
    match key {
        "ledger.async.batch_size" => a.batch_size as u64,
        "ledger.async.flush_ms" => a.flush_ms,
        "ledger.async.buffer_size" => a.buffer_size as u64,
        "ledger.async.num_workers" => a.num_workers as u64,
        "db.max_open_conns" => u64::from(c.db.max_open_conns),
        "db.max_idle_conns" => u64::from(c.db.max_idle_conns),
        _ => 0,
    }
}

/// Every recommended key against the effective configuration.
pub fn changes(effective: &Config, r: &Recommendation) -> Vec<Change> {
    settings(r)
        .into_iter()
        .map(|(key, recommended)| Change {
            key,
            current: current(effective, key),
            recommended,
        })
        .collect()
}

/// `text` with each (key, value) set; comments, order and formatting of
/// everything else stay as they were, and a replaced value keeps its
/// trailing comment. Missing tables are created.
pub fn apply(path: &Path, text: &str, set: &[(&str, u64)]) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse().map_err(|source| EditError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    for (key, v) in set {
        let parts: Vec<&str> = key.split('.').collect();
        let Some((leaf, tables)) = parts.split_last() else {
            continue;
        };
        let mut t: &mut Table = doc.as_table_mut();
        for (n, name) in tables.iter().enumerate() {
            let entry = t.entry(name).or_insert_with(|| {
                let mut new = Table::new();
                new.set_implicit(n + 1 < tables.len());
                Item::Table(new)
            });
            t = entry.as_table_mut().ok_or_else(|| EditError::NotATable {
                path: path.to_path_buf(),
                key: tables[..=n].join("."),
                leaf: (*leaf).to_string(),
            })?;
        }
        let n = i64::try_from(*v).unwrap_or(i64::MAX);
        // In place, so the key's comment above and the value's comment
        // after it stay.
        if let Some(old) = t.get_mut(leaf).and_then(Item::as_value_mut) {
            let decor = old.decor().clone();
            *old = n.into();
            *old.decor_mut() = decor;
        } else {
            t.insert(leaf, value(n));
        }
    }
    Ok(doc.to_string())
}

/// Writes `text` to `path`, first copying the old file to `path.bak`
/// (returned) when there is one.
pub fn write_with_backup(path: &Path, text: &str) -> Result<Option<PathBuf>, EditError> {
    let io = |action, p: &Path| {
        let path = p.to_path_buf();
        move |source| EditError::Io {
            action,
            path,
            source,
        }
    };
    let backup = if path.exists() {
        let mut name = path.as_os_str().to_owned();
        name.push(".bak");
        let b = PathBuf::from(name);
        std::fs::copy(path, &b).map_err(io("back up", path))?;
        Some(b)
    } else {
        None
    };
    std::fs::write(path, text).map_err(io("write", path))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_survive_and_missing_tables_are_made() {
        let text = "# my gateway\n[ledger]\npath = \"x.db\"\n\n[ledger.async]\n\
                    # how many per flush\nbatch_size = 100 # was tuned by hand\n";
        let out = apply(
            Path::new("c.toml"),
            text,
            &[("ledger.async.batch_size", 500), ("db.max_open_conns", 9)],
        )
        .expect("edits");
        assert!(out.contains("# my gateway"));
        assert!(out.contains("# how many per flush\nbatch_size = 500 # was tuned by hand"));
        assert!(out.contains("[db]\nmax_open_conns = 9"), "{out}");
        assert!(out.contains("path = \"x.db\""));
        let bad = apply(Path::new("c.toml"), "db = 3\n", &[("db.max_open_conns", 1)]);
        assert!(matches!(bad, Err(EditError::NotATable { .. })));
    }

    #[test]
    fn the_old_file_is_kept_as_a_backup() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "old = 1\n").expect("write");
        let b = write_with_backup(&p, "new = 2\n")
            .expect("written")
            .expect("a backup");
        assert_eq!(std::fs::read_to_string(b).expect("read"), "old = 1\n");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new = 2\n");
    }
}
