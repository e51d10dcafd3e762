//! The Response object both the whole answer and the stream's lifecycle
//! events carry: its head (id, time, model), status, output items, usage
//! and the request's echoed settings, in the API's shape.

use serde_json::{Map, Value, json};

use super::echo::Echo;
use crate::translate::usage::OpenAiUsage;

/// What names one response: its id, its creation time and the model.
#[derive(Debug, Clone, Default)]
pub(super) struct Head {
    pub id: String,
    pub created_at: u64,
    pub model: Value,
}

impl Head {
    /// The head for a chat completion's id, time and model: the id gets
    /// the Responses API's `resp_` prefix (a chat id is unique already).
    pub fn from_chat(id: Option<&str>, created: Option<u64>, model: Option<&Value>) -> Head {
        let id = id.unwrap_or("chat");
        Head {
            id: format!("resp_{}", id.trim_start_matches("chatcmpl-")),
            created_at: created.unwrap_or_else(crate::translate::response::now_secs),
            model: model.cloned().unwrap_or(Value::Null),
        }
    }
}

/// The response's status and, when incomplete, why, from Chat's
/// `finish_reason`: a cut by the token limit or by the content filter is
/// `incomplete`; everything else finished.
pub(super) fn status(finish_reason: Option<&str>) -> (&'static str, Option<&'static str>) {
    match finish_reason {
        Some("length") => ("incomplete", Some("max_output_tokens")),
        Some("content_filter") => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

/// A Response object.
pub(super) fn response(
    head: &Head,
    echo: &Echo,
    status: &str,
    incomplete: Option<&str>,
    output: Vec<Value>,
    usage: Option<Value>,
) -> Value {
    let mut m = Map::new();
    echo.write_into(&mut m);
    m.insert("id".into(), Value::from(head.id.as_str()));
    m.insert("object".into(), Value::from("response"));
    m.insert("created_at".into(), Value::from(head.created_at));
    m.insert("status".into(), Value::from(status));
    m.insert("error".into(), Value::Null);
    m.insert(
        "incomplete_details".into(),
        incomplete.map_or(Value::Null, |r| json!({ "reason": r })),
    );
    m.insert("model".into(), head.model.clone());
    m.insert("output".into(), Value::Array(output));
    m.insert("usage".into(), usage.unwrap_or(Value::Null));
    Value::Object(m)
}

/// The Responses API's usage from Chat's: input counts cached input,
/// output counts reasoning, as Chat's do.
pub(super) fn usage(u: &OpenAiUsage) -> Value {
    let cached = u
        .prompt_tokens_details
        .as_ref()
        .map_or(0, |d| d.cached_tokens);
    let reasoning = u
        .completion_tokens_details
        .as_ref()
        .map_or(0, |d| d.reasoning_tokens);
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

/// A finished `message` item with one `output_text` part (or a `refusal`).
pub(super) fn message_item(id: &str, status: &str, part: Value) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": [part]})
}

/// An `output_text` content part.
pub(super) fn text_part(text: Value) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A `function_call` item.
pub(super) fn call_item(
    id: &str,
    status: &str,
    call_id: &Value,
    name: &Value,
    args: Value,
) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": args, "status": status})
}

/// A `reasoning` item carrying the upstream's reasoning text.
pub(super) fn reasoning_item(id: &str, text: Value) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [],
        "content": [{"type": "reasoning_text", "text": text}]})
}
