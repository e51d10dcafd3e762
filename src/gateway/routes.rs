//! The routing table: public model name → its deployments (provider,
//! upstream name, prices, shared state), strategy and fallbacks.

use std::collections::HashMap;
use std::sync::Arc;

use super::routing::{DeploymentState, Policy, Shared};
use crate::config::{Config, Strategy};
use crate::pricing::Prices;
use crate::providers::{Provider, Providers};

/// `max_tokens` sent to an Anthropic upstream for a Chat client that set no
/// limit, unless the model says `max_tokens_default` (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// One place a model is served: this worker's provider, the process's state.
#[derive(Clone)]
pub struct Deployment {
    pub name: String,
    pub upstream_model: String,
    pub provider: Arc<dyn Provider>,
    /// The deployment's own prices, else the model's: the cost recorded
    /// is the serving deployment's.
    pub prices: Prices,
}

/// Where one public model goes.
pub struct Route {
    pub model: String,
    /// Parallel to `states`.
    pub deployments: Vec<Deployment>,
    pub states: Vec<Arc<DeploymentState>>,
    pub strategy: Strategy,
    pub fallbacks: Vec<String>,
    pub context_window_fallbacks: Vec<String>,
    /// `max_tokens` for an Anthropic upstream when a Chat client set none.
    pub max_tokens_default: u32,
    /// The highest price of each kind among the deployments of this model
    /// and of its fallbacks: what a budget reserves at, since admission
    /// cannot know which of them will serve.
    pub ceiling: Prices,
}

impl Route {
    /// The first deployment (for answers that need no routing, such as a
    /// token count).
    pub fn primary(&self) -> &Deployment {
        &self.deployments[0]
    }
}

/// Per model, the highest prices among its own deployments and those of
/// the models it may fall back to (one level: a fallback's own fallbacks
/// are never tried).
fn ceilings(c: &Config) -> HashMap<&str, Prices> {
    let max = |a: Prices, b: Prices| Prices {
        input: a.input.max(b.input),
        cached_input: a.cached_input.max(b.cached_input),
        cache_write: a.cache_write.max(b.cache_write),
        output: a.output.max(b.output),
    };
    let own: HashMap<&str, Prices> = c
        .models
        .iter()
        .map(|m| {
            let p = m
                .deployments()
                .iter()
                .map(|d| Prices::from_model(&d.prices))
                .fold(Prices::default(), max);
            (m.name.as_str(), p)
        })
        .collect();
    c.models
        .iter()
        .map(|m| {
            let p = m
                .fallbacks
                .iter()
                .chain(&m.context_window_fallbacks)
                .filter_map(|f| own.get(f.as_str()))
                .fold(
                    own.get(m.name.as_str()).copied().unwrap_or_default(),
                    |a, b| max(a, *b),
                );
            (m.name.as_str(), p)
        })
        .collect()
}

/// All routes, by public name, plus the names in config order for listings.
pub struct Routes {
    by_name: HashMap<String, Arc<Route>>,
    pub names: Vec<String>,
    /// `[routing]`'s cooldown and latency settings.
    pub policy: Policy,
}

impl Routes {
    /// This worker's routes over its own `providers`, sharing `shared`.
    pub fn new(c: &Config, providers: &Providers, shared: &Shared) -> Self {
        let mut by_name = HashMap::new();
        let mut names = Vec::new();
        let ceilings = ceilings(c);
        for m in &c.models {
            let mut deployments = Vec::new();
            for d in m.deployments() {
                let Some(p) = providers.get(&d.provider) else {
                    continue;
                };
                deployments.push(Deployment {
                    name: d.name.clone(),
                    upstream_model: d.upstream_model.clone(),
                    provider: p.clone(),
                    prices: Prices::from_model(&d.prices),
                });
            }
            let states = shared.model(&m.name).to_vec();
            if deployments.is_empty() || deployments.len() != states.len() {
                continue;
            }
            names.push(m.name.clone());
            by_name.insert(
                m.name.clone(),
                Arc::new(Route {
                    model: m.name.clone(),
                    deployments,
                    states,
                    strategy: m.strategy.unwrap_or(c.routing.strategy),
                    fallbacks: m.fallbacks.clone(),
                    context_window_fallbacks: m.context_window_fallbacks.clone(),
                    max_tokens_default: m.max_tokens_default.unwrap_or(DEFAULT_MAX_TOKENS),
                    ceiling: ceilings.get(m.name.as_str()).copied().unwrap_or_default(),
                }),
            );
        }
        Self {
            by_name,
            names,
            policy: shared.policy,
        }
    }

    pub fn get(&self, model: &str) -> Option<&Arc<Route>> {
        self.by_name.get(model)
    }

    /// `GET /v1/models` in OpenAI's list shape.
    pub fn list_json(&self) -> serde_json::Value {
        let data: Vec<serde_json::Value> = self
            .names
            .iter()
            .filter_map(|n| self.by_name.get(n))
            .map(|r| {
                serde_json::json!({
                    "id": r.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": r.primary().provider.name(),
                })
            })
            .collect();
        serde_json::json!({ "object": "list", "data": data })
    }

    /// `GET /v1/models` in Anthropic's list shape (one page: the gateway's
    /// list is short).
    pub fn list_anthropic_json(&self) -> serde_json::Value {
        let data: Vec<serde_json::Value> = self
            .names
            .iter()
            .map(|n| {
                serde_json::json!({
                    "type": "model",
                    "id": n,
                    "display_name": n,
                    "created_at": "1970-01-01T00:00:00Z",
                })
            })
            .collect();
        serde_json::json!({
            "data": data,
            "has_more": false,
            "first_id": self.names.first(),
            "last_id": self.names.last(),
        })
    }
}
