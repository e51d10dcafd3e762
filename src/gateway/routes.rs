//! The routing table: public model name → provider, upstream name, prices.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, ProviderKind};
use crate::pricing::Prices;
use crate::providers::{Endpoint, Provider, Providers};

/// Where one public model goes.
#[derive(Clone)]
pub struct Route {
    pub model: String,
    pub upstream_model: String,
    pub provider: Arc<dyn Provider>,
    pub prices: Prices,
}

impl Route {
    /// Whether this route's provider speaks the endpoint's API. The mock
    /// speaks both; OpenAI-compatible upstreams don't serve Anthropic's
    /// Messages API and vice versa.
    pub fn serves(&self, endpoint: Endpoint) -> bool {
        match (self.provider.kind(), endpoint) {
            (ProviderKind::Mock, _) => true,
            (ProviderKind::Anthropic, Endpoint::Messages) => true,
            (ProviderKind::Anthropic, _) => false,
            (ProviderKind::Openai, Endpoint::Messages) => false,
            (ProviderKind::Openai, _) => true,
        }
    }
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
}
