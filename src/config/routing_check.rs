//! The routing checks `validate` runs: every model has a deployment, every
//! deployment a configured provider, a positive weight and a name unique
//! within its model; fallbacks name configured models and never loop back.
//! Each error names the key (`models.NAME.deployments[I].weight`).

use std::collections::{BTreeMap, BTreeSet};

use super::{Config, ConfigError, Source};

/// Deployments per model the picker's bit set holds.
pub const MAX_DEPLOYMENTS: usize = 64;

pub(super) fn check(c: &Config, sources: &BTreeMap<String, Source>) -> Result<(), ConfigError> {
    let err = |key: String, message: String| ConfigError::Invalid {
        source_name: sources
            .get(&key)
            .or_else(|| sources.get("models"))
            .cloned()
            .unwrap_or(Source::Default),
        key,
        message,
    };
    let r = &c.routing;
    if r.max_attempts == 0 {
        return Err(err(
            "routing.max_attempts".into(),
            "must be at least 1".into(),
        ));
    }
    if r.cooldown_after == 0 {
        return Err(err(
            "routing.cooldown_after".into(),
            "must be at least 1 (failures in a row before a cooldown)".into(),
        ));
    }
    if r.latency_decay_ms == 0 {
        return Err(err(
            "routing.latency_decay_ms".into(),
            "must be at least 1".into(),
        ));
    }
    if r.cooldown_sync_ms != 0 && r.cooldown_sync_ms < 10 {
        return Err(err(
            "routing.cooldown_sync_ms".into(),
            format!(
                "{} ms is too often to poll Redis: use 0 (cooldowns per instance) or at least 10",
                r.cooldown_sync_ms
            ),
        ));
    }
    if let Some(s) = r
        .failover_statuses
        .iter()
        .find(|s| !(**s == 429 || (500..600).contains(*s)))
    {
        return Err(err(
            "routing.failover_statuses".into(),
            format!(
                "{s} cannot fail over: only 429 and 5xx statuses may (other 4xx are the request's own fault)"
            ),
        ));
    }
    let known: Vec<&str> = c.providers.keys().map(String::as_str).collect();
    for m in &c.models {
        let at = format!("models.{}", m.name);
        if !m.provider.is_empty() && !m.deployments.is_empty() {
            return Err(err(
                format!("{at}.provider"),
                format!(
                    "model `{}` sets both provider and [[models.deployments]]; keep one \
                     (a single provider is one deployment)",
                    m.name
                ),
            ));
        }
        if m.deployments().is_empty() {
            return Err(err(
                at.clone(),
                format!(
                    "model `{}` has no deployment: set provider = \"…\" or add [[models.deployments]]",
                    m.name
                ),
            ));
        }
        if m.deployments.len() > MAX_DEPLOYMENTS {
            return Err(err(
                format!("{at}.deployments"),
                format!("at most {MAX_DEPLOYMENTS} deployments per model"),
            ));
        }
        if m.deployments.is_empty() && !c.providers.contains_key(&m.provider) {
            return Err(err(
                format!("{at}.provider"),
                format!(
                    "model `{}` names provider `{}`, which is not configured (known: {})",
                    m.name,
                    m.provider,
                    known.join(", ")
                ),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, d) in m.deployments.iter().enumerate() {
            let key = format!("{at}.deployments[{i}]");
            if !c.providers.contains_key(&d.provider) {
                return Err(err(
                    format!("{key}.provider"),
                    format!(
                        "provider `{}` is not configured (known: {})",
                        d.provider,
                        known.join(", ")
                    ),
                ));
            }
            if !(d.weight > 0.0 && d.weight.is_finite()) {
                return Err(err(
                    format!("{key}.weight"),
                    format!("{} is not a weight: it must be above 0", d.weight),
                ));
            }
            let name = m.deployment_name(d);
            if !names.insert(name.clone()) {
                let why = if d.name.is_empty() {
                    format!(
                        "provider `{name}` serves model `{}` twice; give each deployment its own name",
                        m.name
                    )
                } else {
                    format!(
                        "deployment name `{name}` is used twice in model `{}`",
                        m.name
                    )
                };
                return Err(err(format!("{key}.name"), why));
            }
        }
    }
    fallbacks(c).map_err(|(key, message)| err(key, message))
}

/// Fallback names exist, and no chain of fallbacks comes back to a model
/// it started from (which would ping-pong one request between them).
fn fallbacks(c: &Config) -> Result<(), (String, String)> {
    let by_name: BTreeMap<&str, &super::ModelConfig> =
        c.models.iter().map(|m| (m.name.as_str(), m)).collect();
    let next = |m: &super::ModelConfig| -> Vec<String> {
        m.fallbacks
            .iter()
            .chain(&m.context_window_fallbacks)
            .cloned()
            .collect()
    };
    for m in &c.models {
        for (list, names) in [
            ("fallbacks", &m.fallbacks),
            ("context_window_fallbacks", &m.context_window_fallbacks),
        ] {
            if let Some(unknown) = names.iter().find(|n| !by_name.contains_key(n.as_str())) {
                return Err((
                    format!("models.{}.{list}", m.name),
                    format!("model `{unknown}` is not configured"),
                ));
            }
        }
        // Depth-first from m: reaching m again is a cycle.
        let mut stack: Vec<(String, Vec<String>)> = next(m)
            .into_iter()
            .map(|n| (n, vec![m.name.clone()]))
            .collect();
        while let Some((name, path)) = stack.pop() {
            if name == m.name {
                let mut shown = path.clone();
                shown.push(name);
                return Err((
                    format!("models.{}.fallbacks", m.name),
                    format!("fallbacks loop: {}", shown.join(" -> ")),
                ));
            }
            if path.contains(&name) || path.len() > c.models.len() {
                continue;
            }
            if let Some(f) = by_name.get(name.as_str()) {
                for n in next(f) {
                    let mut p = path.clone();
                    p.push(name.clone());
                    stack.push((n, p));
                }
            }
        }
    }
    Ok(())
}
