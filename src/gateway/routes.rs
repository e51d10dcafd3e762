//! The routing table: public model name → provider, upstream name, prices.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::pricing::Prices;
use crate::providers::{Provider, Providers};

/// `max_tokens` sent to an Anthropic upstream for a Chat client that set no
/// limit, unless the model says `max_tokens_default` (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Where one public model goes.
#[derive(Clone)]
pub struct Route {
    pub model: String,
    pub upstream_model: String,
    pub provider: Arc<dyn Provider>,
    pub prices: Prices,
    /// `max_tokens` for an Anthropic upstream when a Chat client set none.
    pub max_tokens_default: u32,
}

/// All routes, by public name, plus the names in config order for listings.
pub struct Routes {
    by_name: HashMap<String, Route>,
    pub names: Vec<String>,
}

impl Routes {
    pub fn new(c: &Config, providers: &Providers) -> Self {
        let mut by_name = HashMap::new();
        let mut names = Vec::new();
        for m in &c.models {
            let Some(p) = providers.get(&m.provider) else {
                continue;
            };
            names.push(m.name.clone());
            by_name.insert(
                m.name.clone(),
                Route {
                    model: m.name.clone(),
                    upstream_model: m.upstream_name().to_string(),
                    provider: p.clone(),
                    prices: Prices::from_model(m),
                    max_tokens_default: m.max_tokens_default.unwrap_or(DEFAULT_MAX_TOKENS),
                },
            );
        }
        Self { by_name, names }
    }

    pub fn get(&self, model: &str) -> Option<&Route> {
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
                    "owned_by": r.provider.name(),
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
