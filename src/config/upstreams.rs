//! The upstreams: each provider's connection settings and each public
//! model's routing and prices. Split from `config/mod.rs` so that the
//! top-level file keeps the sections every deployment sets.

use serde::{Deserialize, Serialize};

use super::routing::{DeploymentConfig, Strategy};

/// One upstream. Which fields matter depends on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Base URL including the version path, e.g. `https://api.openai.com/v1`;
    /// for `anthropic`, with or without `/v1` (appended when missing).
    pub base_url: String,
    /// Name of the environment variable holding the upstream API key.
    pub api_key_env: String,
    pub connect_timeout_ms: u64,
    /// Total time for one upstream attempt (for streams: until the first byte).
    pub timeout_ms: u64,
    pub pool_max_idle_per_host: usize,
    /// How long an idle keep-alive connection is kept. Below the upstream's
    /// own idle timeout, so that a connection the upstream is about to
    /// close is seldom handed a request (which is not retried once sent).
    pub pool_idle_timeout_ms: u64,
    /// Retries on connect errors, 429 and 5xx, only before anything reached the client.
    pub max_retries: u32,
    pub retry_base_ms: u64,
    /// mock: time before the answer (or its first chunk).
    pub mock_latency_ms: u64,
    /// mock: prompt tokens reported in usage.
    pub mock_prompt_tokens: u64,
    /// mock: completion tokens generated, one word each.
    pub mock_completion_tokens: u64,
    /// mock: delay between streamed chunks.
    pub mock_chunk_interval_ms: u64,
    /// openai: the upstream serves the Responses API itself, so
    /// `/v1/responses` passes through (otherwise it is translated to Chat
    /// Completions).
    pub responses: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Mock,
}

/// A public model name routed to a provider (or to several deployments),
/// with its prices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    /// The one-provider form: one deployment. Empty with `deployments`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider: String,
    /// The name sent upstream; empty means the same as `name`.
    #[serde(default)]
    pub upstream_model: String,
    /// Prices per million tokens, in `ledger.currency`. Unset input or
    /// output prices bill at 0 and are warned about (unless `free`);
    /// unset cached-input and cache-write prices are the input price, so a
    /// left-out line never bills tokens at 0 silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_mtok: Option<f64>,
    /// The model costs nothing (a local model): no prices, no warning.
    #[serde(default)]
    pub free: bool,
    /// `max_tokens` sent to an Anthropic provider when a Chat Completions
    /// client set no limit (Anthropic requires one); default 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_default: Option<u32>,
    /// Where the model is served (`[[models.deployments]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentConfig>,
    /// Overrides `routing.strategy` for this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Models tried in order when every deployment failed for a request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// Models tried when the upstream says the prompt is too long.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_window_fallbacks: Vec<String>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            kind: ProviderKind::Mock,
            base_url: String::new(),
            api_key_env: String::new(),
            connect_timeout_ms: 5_000,
            timeout_ms: 120_000,
            pool_max_idle_per_host: 256,
            pool_idle_timeout_ms: 30_000,
            max_retries: 2,
            retry_base_ms: 100,
            mock_latency_ms: 0,
            mock_prompt_tokens: 12,
            mock_completion_tokens: 24,
            mock_chunk_interval_ms: 0,
            responses: false,
        }
    }
}

impl ModelConfig {
    /// The model name sent to the upstream.
    pub fn upstream_name(&self) -> &str {
        if self.upstream_model.is_empty() {
            &self.name
        } else {
            &self.upstream_model
        }
    }
}
