//! A [`Recommendation`] as the config's own text: a TOML block to paste
//! into config.toml, or `export TOKCTL_…=` lines. Both name exactly the
//! keys `tokctl::config::load` reads, and a test loads them back.

use super::model::Recommendation;
use crate::config::env::env_suffix;

/// The recommended keys as (dotted key path, value), in config order.
pub fn settings(r: &Recommendation) -> Vec<(&'static str, u64)> {
    vec![
        ("ledger.async.batch_size", r.batch_size.value as u64),
        ("ledger.async.flush_ms", r.flush_ms.value),
        ("ledger.async.buffer_size", r.buffer_size.value as u64),
        ("ledger.async.num_workers", r.num_workers.value as u64),
        ("db.max_open_conns", u64::from(r.max_open_conns.value)),
        ("db.max_idle_conns", u64::from(r.max_idle_conns.value)),
    ]
}

/// A block for config.toml, one comment line per key with its reason.
pub fn to_toml(r: &Recommendation) -> String {
    let reasons = [
        &r.batch_size.reason,
        &r.flush_ms.reason,
        &r.buffer_size.reason,
        &r.num_workers.reason,
        &r.max_open_conns.reason,
        &r.max_idle_conns.reason,
    ];
    let mut out = format!(
        "# tokctl tune --qps {} ({} backend)\n",
        r.inputs.qps, r.inputs.backend
    );
    let mut table = "";
    for ((key, value), reason) in settings(r).into_iter().zip(reasons) {
        let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
        if section != table {
            if table.is_empty() {
                out.push('\n');
            } else {
                out.push_str("\n\n");
            }
            out.push_str(&format!("[{section}]"));
            table = section;
        }
        out.push_str(&format!("\n# {reason}\n{leaf} = {value}"));
    }
    out.push('\n');
    out
}

/// `export TOKCTL_…=…` lines, one per key.
pub fn to_env(r: &Recommendation) -> String {
    settings(r)
        .into_iter()
        .map(|(key, value)| format!("export TOKCTL_{}={value}\n", env_suffix(key)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load};
    use crate::db::Backend;
    use crate::tune::{Inputs, recommend};

    fn rec() -> Recommendation {
        recommend(&Inputs {
            qps: 3_000.0,
            burst_seconds: 2.0,
            max_delay_ms: Some(250),
            cores: 4,
            db_max_conns: 100,
            entry_bytes: 400,
            memory_budget_bytes: None,
            instances: 2,
            backend: Backend::Postgres,
            spool: crate::tune::Spool::OFF,
        })
        .expect("a recommendation")
    }

    fn assert_same(c: &crate::config::Config, r: &Recommendation) {
        let a = &c.ledger.async_writer;
        assert_eq!(a.batch_size, r.batch_size.value);
        assert_eq!(a.flush_ms, r.flush_ms.value);
        assert_eq!(a.buffer_size, r.buffer_size.value);
        assert_eq!(a.num_workers, r.num_workers.value);
        assert_eq!(c.db.max_open_conns, r.max_open_conns.value);
        assert_eq!(c.db.max_idle_conns, r.max_idle_conns.value);
    }

    #[test]
    fn toml_block_loads_back_into_the_config() {
        let r = rec();
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, to_toml(&r)).expect("writing the block");
        let loaded = load(&LoadOptions {
            config_path: Some(path),
            env: Some(Vec::new()),
            ..Default::default()
        })
        .expect("the block is a valid config");
        assert_same(&loaded.config, &r);
        assert_ne!(
            loaded.config.ledger.async_writer,
            crate::config::AsyncWriterConfig::default()
        );
    }

    #[test]
    fn env_lines_load_back_into_the_config() {
        let r = rec();
        let vars: Vec<(String, String)> = to_env(&r)
            .lines()
            .map(|l| {
                let kv = l.strip_prefix("export ").expect("an export line");
                let (k, v) = kv.split_once('=').expect("NAME=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(vars.len(), 6);
        let dir = tempfile::tempdir().expect("a temp dir");
        let loaded = load(&LoadOptions {
            env: Some(vars),
            cwd: Some(dir.path().to_path_buf()),
            ..Default::default()
        })
        .expect("the variables are a valid config");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_same(&loaded.config, &r);
    }
}
