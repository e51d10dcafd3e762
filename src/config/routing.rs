//! The routing part of the configuration: `[routing]` (strategy, failover,
//! cooldowns) and a model's `[[models.deployments]]`, with the one-provider
//! form of a model read as one deployment ([`ModelConfig::deployments`]).
//!
//! The checks that tie them together (unknown providers, weights, names,
//! fallback cycles) live in `routing_check`.

use serde::{Deserialize, Deserializer, Serialize};

use super::ModelConfig;

/// How a deployment is chosen among those available for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// At random, in proportion to `weight`.
    Weighted,
    /// The one with the fewest requests in flight from this gateway.
    LeastInflight,
    /// Peak-EWMA latency times requests in flight, the better of two
    /// picked at random (power of two choices).
    Latency,
}

/// `[routing]`: failover inside one client request, and cooldowns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// The default strategy; a model's `strategy` overrides it.
    pub strategy: Strategy,
    /// Attempts on different deployments (fallback models included) per
    /// client request; retries on the same deployment are the provider's
    /// `max_retries`, counted as attempts too.
    pub max_attempts: u32,
    /// Upstream statuses that fail over (4xx other than 429 never do).
    #[serde(deserialize_with = "statuses")]
    pub failover_statuses: Vec<u16>,
    /// Fail over after a timeout or a dropped connection once the request
    /// was sent (the upstream may have processed and billed it).
    pub failover_after_send: bool,
    /// Consecutive failures that cool a deployment down.
    pub cooldown_after: u32,
    /// How long such a cooldown lasts, before one probe request decides.
    pub cooldown_ms: u64,
    /// Longest cooldown an upstream's `Retry-After` (or reset header) sets.
    pub max_cooldown_ms: u64,
    /// Time constant of the `latency` strategy's moving average.
    pub latency_decay_ms: u64,
    /// With `rate_limit.redis_addr` set: how often cooldowns are read from
    /// Redis (they are written at once); 0 keeps them per instance.
    pub cooldown_sync_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            strategy: Strategy::Weighted,
            max_attempts: 3,
            failover_statuses: vec![429, 500, 502, 503, 504],
            failover_after_send: false,
            cooldown_after: 3,
            cooldown_ms: 30_000,
            max_cooldown_ms: 300_000,
            latency_decay_ms: 2_000,
            cooldown_sync_ms: 250,
        }
    }
}

/// Status codes as numbers, or as the strings an environment list gives.
fn statuses<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Code {
        Num(u16),
        Text(String),
    }
    Vec::<Code>::deserialize(d)?
        .into_iter()
        .map(|c| match c {
            Code::Num(n) => Ok(n),
            Code::Text(t) => t
                .trim()
                .parse::<u16>()
                .map_err(|_| serde::de::Error::custom(format!("`{t}` is not an HTTP status code"))),
        })
        .collect()
}

/// One `[[models.deployments]]`: where a model can be served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Unique within the model; empty means the provider's name (which
    /// must then be unique within the model).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub provider: String,
    /// The name sent upstream; empty means the model's `upstream_model`,
    /// else the model's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub upstream_model: String,
    #[serde(default = "one")]
    pub weight: f64,
    /// Tier: a deployment of priority N is used only when every one of a
    /// lower priority is unavailable for the request.
    #[serde(default)]
    pub priority: u32,
    /// Prices of this deployment; each left out is the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_mtok: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// A deployment with its defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: String,
    pub provider: String,
    pub upstream_model: String,
    pub weight: f64,
    pub priority: u32,
    /// The model's prices with this deployment's own laid over them.
    pub prices: ModelConfig,
}

impl ModelConfig {
    /// The deployments of this model, defaults applied: the one-provider
    /// form is one deployment named after its provider.
    pub fn deployments(&self) -> Vec<Deployment> {
        if self.deployments.is_empty() {
            if self.provider.is_empty() {
                return Vec::new();
            }
            return vec![Deployment {
                name: self.provider.clone(),
                provider: self.provider.clone(),
                upstream_model: self.upstream_name().to_string(),
                weight: 1.0,
                priority: 0,
                prices: self.clone(),
            }];
        }
        self.deployments
            .iter()
            .map(|d| {
                let mut prices = self.clone();
                prices.input_per_mtok = d.input_per_mtok.or(self.input_per_mtok);
                prices.cached_input_per_mtok =
                    d.cached_input_per_mtok.or(self.cached_input_per_mtok);
                prices.cache_write_per_mtok = d.cache_write_per_mtok.or(self.cache_write_per_mtok);
                prices.output_per_mtok = d.output_per_mtok.or(self.output_per_mtok);
                let upstream_model = if d.upstream_model.is_empty() {
                    self.upstream_name().to_string()
                } else {
                    d.upstream_model.clone()
                };
                Deployment {
                    name: self.deployment_name(d),
                    provider: d.provider.clone(),
                    upstream_model,
                    weight: d.weight,
                    priority: d.priority,
                    prices,
                }
            })
            .collect()
    }

    /// A deployment's name: its own, else its provider's.
    pub fn deployment_name(&self, d: &DeploymentConfig) -> String {
        if d.name.is_empty() {
            d.provider.clone()
        } else {
            d.name.clone()
        }
    }
}
