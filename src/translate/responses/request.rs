//! A Responses request into a Chat Completions request: the top-level
//! fields one by one; `input` items are [`super::input`]'s. Every field
//! Chat Completions cannot express is named in [`Dropped`]; the fields that
//! need stored state are refused first ([`super::stateful`]).

use serde_json::{Map, Value, json};

use super::echo::Echo;
use super::input::{self, obj};
use super::{ResponsesError, stateful};
use crate::translate::{Dropped, RequestOpts, TranslateError, Translated};

/// Fields passed to Chat Completions under the same name and meaning.
const SAME: &[&str] = &[
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
];

/// Translates a Responses request body into a Chat Completions body for
/// `opts.model`, and returns what the answer must echo. The Chat request
/// asks for the usage chunk when streamed: `response.completed` carries it.
pub fn responses_to_chat(
    body: &[u8],
    opts: &RequestOpts,
) -> Result<(Translated, Echo), ResponsesError> {
    let req: Map<String, Value> = TranslateError::read(body, "Responses", "request")?;
    if let Some(refused) = req.iter().find_map(|(k, v)| stateful(k, v)) {
        return Err(refused);
    }
    let mut echo = Echo::default();
    let mut dropped = Dropped::default();
    let mut chat = Map::new();
    chat.insert("model".into(), Value::from(opts.model));
    let mut system = None;
    let mut messages = None;
    let mut stream = false;
    // The values are moved into the Chat request, not copied.
    for (key, mut value) in req {
        echo.offer(&key, &value);
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "stream_options" => {}
            "input" => messages = Some(input::messages(&mut value, &mut dropped)?),
            "instructions" => {
                if !value.is_string() {
                    return Err(TranslateError::invalid("instructions", "must be a string").into());
                }
                system = Some(obj([("role", Value::from("system")), ("content", value)]));
            }
            "stream" => stream = value.as_bool().unwrap_or(false),
            "max_output_tokens" => {
                chat.insert("max_completion_tokens".into(), value);
            }
            k if SAME.contains(&k) => {
                chat.insert(key, value);
            }
            "tools" => tools(&mut value, &mut chat, &mut dropped)?,
            "tool_choice" => tool_choice(&value, &mut chat, &mut dropped),
            "reasoning" => {
                if let Some(effort) = value.get("effort").filter(|e| !e.is_null()) {
                    chat.insert("reasoning_effort".into(), effort.clone());
                }
                if value.get("summary").is_some_and(|s| !s.is_null()) {
                    dropped.push("reasoning.summary");
                }
            }
            "text" => text(&mut value, &mut chat, &mut dropped),
            "truncation" if value == "disabled" => {}
            "include" if value.as_array().is_some_and(Vec::is_empty) => {}
            _ => dropped.push(key),
        }
    }
    let mut messages = messages.ok_or_else(|| {
        TranslateError::invalid("input", "is required: a string or a list of input items")
    })?;
    if let Some(s) = system {
        messages.insert(0, s);
    }
    if messages.is_empty() {
        return Err(TranslateError::invalid("input", "has no messages to answer").into());
    }
    chat.insert("messages".into(), Value::Array(messages));
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let body = crate::translate::de::to_body(&Value::Object(chat), body.len() + 128);
    let t = Translated {
        body,
        dropped,
        stream,
        include_usage: true,
    };
    Ok((t, echo))
}

/// Function tools become Chat's `{type: function, function: {…}}`; hosted
/// tools (web search, file search, …) have no Chat form and are dropped.
fn tools(
    value: &mut Value,
    chat: &mut Map<String, Value>,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    let list = value
        .as_array_mut()
        .ok_or_else(|| TranslateError::invalid("tools", "must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter_mut().enumerate() {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "function" {
            dropped.push(format!("tools[].type={kind}"));
            continue;
        }
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(format!("tools[{i}].name"), "is required"))?;
        let mut f = Map::new();
        f.insert("name".into(), Value::from(name));
        for k in ["description", "parameters", "strict"] {
            if let Some(v) = t.get_mut(k).filter(|v| !v.is_null()) {
                f.insert(k.into(), v.take());
            }
        }
        out.push(obj([
            ("type", Value::from("function")),
            ("function", Value::Object(f)),
        ]));
    }
    if !out.is_empty() {
        chat.insert("tools".into(), Value::Array(out));
    }
    Ok(())
}

/// `auto`, `none` and `required` are the same; a named function becomes
/// Chat's `{type: function, function: {name}}`; other choices (hosted
/// tools, `allowed_tools`) are dropped.
fn tool_choice(value: &Value, chat: &mut Map<String, Value>, dropped: &mut Dropped) {
    let mapped = match value {
        Value::String(_) => Some(value.clone()),
        Value::Object(o) if o.get("type").is_some_and(|t| t == "function") => o
            .get("name")
            .map(|name| json!({"type": "function", "function": {"name": name}})),
        _ => None,
    };
    match mapped {
        Some(v) => {
            chat.insert("tool_choice".into(), v);
        }
        None => dropped.push("tool_choice"),
    }
}

/// `text.format`: plain text is Chat's default; `json_object` and
/// `json_schema` become `response_format` (dropped further on for a
/// provider without structured output). `text.verbosity` is Chat's
/// `verbosity`.
fn text(value: &mut Value, chat: &mut Map<String, Value>, dropped: &mut Dropped) {
    if let Some(v) = value.get_mut("verbosity").filter(|v| !v.is_null()) {
        chat.insert("verbosity".into(), v.take());
    }
    let Some(format) = value.get_mut("format").filter(|f| !f.is_null()) else {
        return;
    };
    let rf = match format.get("type").and_then(Value::as_str) {
        Some("text") => return,
        Some("json_object") => json!({"type": "json_object"}),
        Some("json_schema") => {
            let mut js = Map::new();
            for k in ["name", "schema", "strict", "description"] {
                if let Some(v) = format.get_mut(k).filter(|v| !v.is_null()) {
                    js.insert(k.into(), v.take());
                }
            }
            obj([
                ("type", Value::from("json_schema")),
                ("json_schema", Value::Object(js)),
            ])
        }
        _ => {
            dropped.push("text.format");
            return;
        }
    };
    chat.insert("response_format".into(), rf);
}
