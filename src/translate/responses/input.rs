//! `input` (a string, or a list of items) into Chat Completions messages:
//! messages keep their role, content parts are renamed (`input_text` →
//! `text`, `input_image` → `image_url`, `input_file` → `file`),
//! `function_call` items become an assistant turn's `tool_calls` (one turn
//! for consecutive calls, as parallel calls are), and
//! `function_call_output` items become `tool` messages.

use serde_json::{Map, Value, json};

use crate::translate::{Dropped, TranslateError};

/// The Chat messages for a Responses `input`.
pub(super) fn messages(input: &Value, dropped: &mut Dropped) -> Result<Vec<Value>, TranslateError> {
    let items = match input {
        Value::String(s) => return Ok(vec![json!({"role": "user", "content": s})]),
        Value::Array(items) => items,
        _ => {
            return Err(TranslateError::invalid(
                "input",
                "must be a string or a list of input items",
            ));
        }
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let kind = match item.get("type").and_then(Value::as_str) {
            Some(k) => k,
            // An "easy" message: role and content, no type.
            None if item.get("role").is_some() => "message",
            None => {
                return Err(TranslateError::invalid(
                    format!("input[{i}]"),
                    "is neither a message (role, content) nor a typed item",
                ));
            }
        };
        match kind {
            "message" => out.push(message(i, item, dropped)?),
            "function_call" => function_call(i, item, &mut out)?,
            "function_call_output" => out.push(function_output(i, item, dropped)?),
            other => dropped.push(format!("input[].{other}")),
        }
    }
    Ok(out)
}

fn str_field<'a>(i: usize, item: &'a Value, key: &str) -> Result<&'a str, TranslateError> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::invalid(format!("input[{i}].{key}"), "must be a string"))
}

/// One message item: its role kept, its content parts renamed.
fn message(i: usize, item: &Value, dropped: &mut Dropped) -> Result<Value, TranslateError> {
    let role = str_field(i, item, "role")?;
    if !matches!(role, "user" | "system" | "developer" | "assistant") {
        return Err(TranslateError::invalid(
            format!("input[{i}].role"),
            format!("`{role}` is not one of user, system, developer, assistant"),
        ));
    }
    let content = match item.get("content") {
        Some(Value::String(s)) => Value::from(s.as_str()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                if let Some(part) = part(p, dropped) {
                    out.push(part);
                }
            }
            // A lone text part is a plain string: every Chat server takes that.
            match out.as_slice() {
                [one] if one["type"] == "text" => one["text"].clone(),
                _ => Value::Array(out),
            }
        }
        _ => {
            return Err(TranslateError::invalid(
                format!("input[{i}].content"),
                "must be a string or a list of content parts",
            ));
        }
    };
    Ok(json!({"role": role, "content": content}))
}

/// One content part in Chat's form; `None` for a part Chat cannot carry.
fn part(p: &Value, dropped: &mut Dropped) -> Option<Value> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "input_text" | "output_text" => Some(json!({"type": "text", "text": p.get("text")?})),
        "refusal" => Some(json!({"type": "text", "text": p.get("refusal")?})),
        "input_image" => {
            let Some(url) = p.get("image_url").filter(|u| u.is_string()) else {
                dropped.push("input[].content[].input_image.file_id");
                return None;
            };
            let mut image = Map::new();
            image.insert("url".into(), url.clone());
            if let Some(d) = p.get("detail").filter(|d| !d.is_null() && *d != "auto") {
                image.insert("detail".into(), d.clone());
            }
            Some(json!({"type": "image_url", "image_url": image}))
        }
        "input_file" => {
            let mut file = Map::new();
            for k in ["file_data", "file_id", "filename"] {
                if let Some(v) = p.get(k).filter(|v| !v.is_null()) {
                    file.insert(k.into(), v.clone());
                }
            }
            Some(json!({"type": "file", "file": file}))
        }
        other => {
            dropped.push(format!("input[].content[].{other}"));
            None
        }
    }
}

/// A `function_call` item joins the assistant turn before it (its text, or
/// the calls made in parallel with it), or starts one.
fn function_call(i: usize, item: &Value, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let call = json!({
        "id": str_field(i, item, "call_id")?,
        "type": "function",
        "function": {
            "name": str_field(i, item, "name")?,
            "arguments": item.get("arguments").and_then(Value::as_str).unwrap_or("{}"),
        },
    });
    if let Some(last) = out.last_mut().filter(|m| m["role"] == "assistant")
        && let Some(turn) = last.as_object_mut()
    {
        let calls = turn.entry("tool_calls").or_insert_with(|| json!([]));
        if let Some(calls) = calls.as_array_mut() {
            calls.push(call);
            return Ok(());
        }
    }
    out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    Ok(())
}

/// A `function_call_output` item: a `tool` message answering its call.
fn function_output(i: usize, item: &Value, dropped: &mut Dropped) -> Result<Value, TranslateError> {
    let id = str_field(i, item, "call_id")?;
    let content = match item.get("output") {
        Some(Value::String(s)) => Value::from(s.as_str()),
        Some(Value::Array(parts)) => {
            let texts: Vec<Value> = parts
                .iter()
                .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text") => {
                        Some(json!({"type": "text", "text": p.get("text")?}))
                    }
                    other => {
                        dropped.push(format!("input[].output[].{}", other.unwrap_or("")));
                        None
                    }
                })
                .collect();
            Value::Array(texts)
        }
        _ => {
            return Err(TranslateError::invalid(
                format!("input[{i}].output"),
                "must be a string or a list of content parts",
            ));
        }
    };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}
