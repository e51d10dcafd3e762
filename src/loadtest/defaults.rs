//! Defaults that keep a `loadtest` from measuring nothing: which model to
//! ask for when `--model` is not given, and the verdict on a level whose
//! every request failed.
//!
//! The model used to default to `mock`, which the shipped config does not
//! define: a run answered 404 thousands of times and exited 0. Now a run
//! uses the first `[[models]]` entry of the configuration (for an explicit
//! URL too: the configuration usually describes the gateway under test,
//! and it costs the target no extra request); only a configuration without
//! models makes it ask the target's `GET …/models` (OpenAI's listing).

use std::time::Duration;

use super::{LoadError, Report};
use crate::config::Config;

/// The model chosen, and why, for one line on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    pub model: String,
    pub why: String,
}

/// The model for a run without `--model`: the configuration's first
/// `[[models]]` entry, else the first model the target's list names.
pub async fn default_model(
    url: &str,
    api_key: Option<&str>,
    insecure: bool,
    config: &Config,
) -> Result<ModelChoice, LoadError> {
    let from_config = config.models.first().map(|m| ModelChoice {
        model: m.name.clone(),
        why: "the first [[models]] entry of the configuration".into(),
    });
    // The configuration first: no request the user did not ask for.
    if let Some(c) = from_config {
        return Ok(c);
    }
    let listed = match models_url(url) {
        Some(list) => first_listed(&list, api_key, insecure)
            .await
            .map(|m| ModelChoice {
                model: m,
                why: format!("the first model {list} lists"),
            }),
        None => Err(format!("{url} does not end in /chat/completions")),
    };
    listed.map_err(|e| {
        LoadError::NoModel(format!(
            "the configuration has no [[models]] and the server's list gave none ({e}); pass --model"
        ))
    })
}

/// `…/v1/models` beside `…/v1/chat/completions`.
fn models_url(url: &str) -> Option<String> {
    let base = url
        .trim_end_matches('/')
        .strip_suffix("/chat/completions")?;
    Some(format!("{base}/models"))
}

async fn first_listed(url: &str, api_key: Option<&str>, insecure: bool) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(insecure)
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(url);
    if let Some(k) = api_key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("GET {url} answered {}", resp.status()));
    }
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    doc["data"]
        .as_array()
        .and_then(|d| d.first())
        .and_then(|m| m["id"].as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("GET {url} listed no model"))
}

/// One line per level whose every measured request failed (error rate
/// 100 %): such a run measured the error path, and exits 1.
pub fn all_failed(reports: &[Report]) -> Vec<String> {
    reports
        .iter()
        .filter(|r| r.requests > 0 && r.successes == 0)
        .map(|r| {
            let mut what: Vec<String> = r
                .status_codes
                .iter()
                .map(|(s, n)| format!("{s} ×{n}"))
                .collect();
            what.extend(r.errors.iter().map(|(k, n)| format!("{k} ×{n}")));
            format!(
                "every request of level -c {} failed ({}): the run measured errors, not the target",
                r.concurrency,
                what.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_list_sits_beside_chat_completions() {
        assert_eq!(
            models_url("http://h:1/v1/chat/completions").as_deref(),
            Some("http://h:1/v1/models")
        );
        assert_eq!(models_url("http://h:1/other"), None);
    }
}
