//! Checks that go beyond types: ranges, references between sections, and
//! addresses that must parse. Each error names the key and where it was set.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::{Config, ConfigError, ProviderKind, Source};

/// Each worker is an OS thread with its own upstream pools: past this, a
/// typo (an extra zero) would start thousands of threads.
const MAX_WORKERS: usize = 1024;

pub(super) fn validate(c: &Config, sources: &BTreeMap<String, Source>) -> Result<(), ConfigError> {
    let err = |key: &str, message: String| ConfigError::Invalid {
        key: key.to_string(),
        source_name: sources.get(key).cloned().unwrap_or(Source::Default),
        message,
    };
    if c.server.listen.parse::<SocketAddr>().is_err() {
        return Err(err(
            "server.listen",
            format!(
                "`{}` is not an address; expected HOST:PORT such as 127.0.0.1:8080",
                c.server.listen
            ),
        ));
    }
    if tracing_subscriber::EnvFilter::try_new(c.log.filter()).is_err() {
        return Err(err(
            "log.level",
            format!(
                "`{}` is not a level or filter; expected trace, debug, info, warn, error or off",
                c.log.level
            ),
        ));
    }
    if !c.metrics.listen.is_empty() && c.metrics.listen.parse::<SocketAddr>().is_err() {
        return Err(err(
            "metrics.listen",
            format!(
                "`{}` is not an address; expected HOST:PORT, or empty",
                c.metrics.listen
            ),
        ));
    }
    let positive: [(&str, u64); 13] = [
        (
            "ledger.async.batch_size",
            c.ledger.async_writer.batch_size as u64,
        ),
        ("ledger.async.flush_ms", c.ledger.async_writer.flush_ms),
        (
            "ledger.async.buffer_size",
            c.ledger.async_writer.buffer_size as u64,
        ),
        (
            "ledger.async.num_workers",
            c.ledger.async_writer.num_workers as u64,
        ),
        ("db.max_open_conns", u64::from(c.db.max_open_conns)),
        (
            "db.identity_max_open_conns",
            u64::from(c.db.identity_max_open_conns),
        ),
        ("server.max_body_bytes", c.server.max_body_bytes as u64),
        ("server.request_timeout_ms", c.server.request_timeout_ms),
        (
            "server.header_read_timeout_ms",
            c.server.header_read_timeout_ms,
        ),
        (
            "server.keepalive_idle_timeout_ms",
            c.server.keepalive_idle_timeout_ms,
        ),
        ("rate_limit.redis_timeout_ms", c.rate_limit.redis_timeout_ms),
        (
            "rate_limit.redis_breaker_failures",
            u64::from(c.rate_limit.redis_breaker_failures),
        ),
        (
            "rate_limit.expected_instances",
            u64::from(c.rate_limit.expected_instances),
        ),
    ];
    for (key, v) in positive {
        if v == 0 {
            return Err(err(key, "must be at least 1".into()));
        }
    }
    if c.server.workers > MAX_WORKERS {
        return Err(err(
            "server.workers",
            format!(
                "{} worker threads is more than the {MAX_WORKERS} allowed; 0 means one per CPU, \
                 which is what a gateway normally wants",
                c.server.workers
            ),
        ));
    }
    if c.db.max_idle_conns > c.db.max_open_conns {
        return Err(err(
            "db.max_idle_conns",
            format!(
                "{} idle connections exceed db.max_open_conns = {}; lower it or raise the pool",
                c.db.max_idle_conns, c.db.max_open_conns
            ),
        ));
    }
    for (key, dsn) in [
        ("ledger.path", &c.ledger.path),
        ("identity.path", &c.identity.path),
    ] {
        if let Err(e) = super::dsn::Dsn::parse(dsn) {
            return Err(err(key, e.to_string()));
        }
    }
    if c.rate_limit.user_rps < 0.0 || c.rate_limit.apikey_rps < 0.0 {
        return Err(err(
            "rate_limit.user_rps",
            "rates cannot be negative".into(),
        ));
    }
    for (name, p) in &c.providers {
        if let Some(message) = super::warnings::bad_key_env(name, &p.api_key_env) {
            return Err(err(&format!("providers.{name}.api_key_env"), message));
        }
        if p.responses && p.kind != ProviderKind::Openai {
            return Err(err(
                &format!("providers.{name}.responses"),
                format!(
                    "only a kind = \"openai\" provider can serve the Responses API itself; \
                     provider `{name}` has kind = \"{}\" (mock speaks it always, anthropic is \
                     translated): remove the key",
                    format!("{:?}", p.kind).to_lowercase()
                ),
            ));
        }
        if p.kind != ProviderKind::Mock {
            let key = format!("providers.{name}.base_url");
            if p.base_url.is_empty() {
                return Err(err(&key, format!("provider `{name}` needs a base_url")));
            }
            if url::Url::parse(&p.base_url).is_err() {
                return Err(err(&key, format!("`{}` is not a URL", p.base_url)));
            }
        }
    }
    super::routing_check::check(c, sources)?;
    super::budgets::check(c, sources)?;
    let mut seen = BTreeSet::new();
    for m in &c.models {
        if !seen.insert(m.name.as_str()) {
            return Err(err("models", format!("model `{}` is listed twice", m.name)));
        }
        for (what, price) in [
            ("input_per_mtok", m.input_per_mtok),
            ("cached_input_per_mtok", m.cached_input_per_mtok),
            ("cache_write_per_mtok", m.cache_write_per_mtok),
            ("output_per_mtok", m.output_per_mtok),
        ] {
            let Some(price) = price else { continue };
            if m.free && price != 0.0 {
                return Err(err(
                    "models",
                    format!(
                        "model `{}`: free = true but {what} = {price}; remove one of them",
                        m.name
                    ),
                ));
            }
            if !(0.0..=1_000_000.0).contains(&price) {
                return Err(err(
                    "models",
                    format!("model `{}`: {what} = {price} is out of range", m.name),
                ));
            }
        }
    }
    Ok(())
}
