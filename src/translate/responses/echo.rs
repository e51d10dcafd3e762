//! The request's settings a Response object repeats (`instructions`,
//! `tools`, `temperature`, …), taken from the request when it is read and
//! written into every Response object the translator makes for it, plain
//! or streamed, as the API does.

use serde_json::{Map, Value, json};

/// The echoed fields, by name, with the API's defaults for those the
/// request left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Echo(Map<String, Value>);

/// Request fields echoed as they were sent.
const ECHOED: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "reasoning",
    "service_tier",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
    "safety_identifier",
    "prompt_cache_key",
];

impl Default for Echo {
    /// What a Response says about settings nobody sent.
    fn default() -> Self {
        let mut m = Map::new();
        m.insert("background".into(), Value::Bool(false));
        m.insert("instructions".into(), Value::Null);
        m.insert("max_output_tokens".into(), Value::Null);
        m.insert("metadata".into(), json!({}));
        m.insert("parallel_tool_calls".into(), Value::Bool(true));
        m.insert("previous_response_id".into(), Value::Null);
        m.insert("reasoning".into(), json!({"effort": null, "summary": null}));
        m.insert("store".into(), Value::Bool(false));
        m.insert("temperature".into(), Value::Null);
        m.insert("text".into(), json!({"format": {"type": "text"}}));
        m.insert("tool_choice".into(), Value::from("auto"));
        m.insert("tools".into(), json!([]));
        m.insert("top_p".into(), Value::Null);
        m.insert("truncation".into(), Value::from("disabled"));
        Echo(m)
    }
}

impl Echo {
    /// Keeps `value` if `key` is a field the answer repeats (`null`
    /// keeps the default).
    pub(super) fn offer(&mut self, key: &str, value: &Value) {
        if value.is_null() || !ECHOED.contains(&key) {
            return;
        }
        self.0.insert(key.to_string(), value.clone());
    }

    /// Writes the echoed fields into a Response object.
    pub(super) fn write_into(&self, response: &mut Map<String, Value>) {
        for (k, v) in &self.0 {
            response.insert(k.clone(), v.clone());
        }
    }
}
