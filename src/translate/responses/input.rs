//! `input` (a string, or a list of items) into Chat Completions messages:
//! messages keep their role, content parts are renamed (`input_text` →
//! `text`, `input_image` → `image_url`, `input_file` → `file`),
//! `function_call` items become an assistant turn's `tool_calls` (one turn
//! for consecutive calls, as parallel calls are), and
//! `function_call_output` items become `tool` messages.
//!
//! The request's values are moved into the Chat messages (`Value::take`)
//! rather than copied: a translated request should cost little more than
//! reading it.

use serde_json::{Map, Value, json};

use crate::translate::{Dropped, TranslateError};

/// An object of `fields`, in their order, the values moved in (`json!`
/// would copy them).
pub(super) fn obj<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The Chat messages for a Responses `input` (its values taken).
pub(super) fn messages(
    input: &mut Value,
    dropped: &mut Dropped,
) -> Result<Vec<Value>, TranslateError> {
    let items = match input {
        Value::String(s) => {
            let content = Value::String(std::mem::take(s));
            return Ok(vec![obj([
                ("role", Value::from("user")),
                ("content", content),
            ])]);
        }
        Value::Array(items) => items,
        _ => {
            return Err(TranslateError::invalid(
                "input",
                "must be a string or a list of input items",
            ));
        }
    };
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (i, item) in items.iter_mut().enumerate() {
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
fn message(i: usize, item: &mut Value, dropped: &mut Dropped) -> Result<Value, TranslateError> {
    let role = Value::from(str_field(i, item, "role")?);
    if let Some(r) = role
        .as_str()
        .filter(|r| !matches!(*r, "user" | "system" | "developer" | "assistant"))
    {
        return Err(TranslateError::invalid(
            format!("input[{i}].role"),
            format!("`{r}` is not one of user, system, developer, assistant"),
        ));
    }
    let content = match item.get_mut("content") {
        Some(Value::String(s)) => Value::String(std::mem::take(s)),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                if let Some(part) = part(p, dropped) {
                    out.push(part);
                }
            }
            // A lone text part is a plain string: every Chat server takes that.
            if out.len() == 1 && out[0]["type"] == "text" {
                out[0]["text"].take()
            } else {
                Value::Array(out)
            }
        }
        _ => {
            return Err(TranslateError::invalid(
                format!("input[{i}].content"),
                "must be a string or a list of content parts",
            ));
        }
    };
    Ok(obj([("role", role), ("content", content)]))
}

/// One content part in Chat's form; `None` for a part Chat cannot carry.
fn part(p: &mut Value, dropped: &mut Dropped) -> Option<Value> {
    let text = |p: &mut Value, key: &str| {
        let t = p.get_mut(key)?.take();
        Some(obj([("type", Value::from("text")), ("text", t)]))
    };
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "input_text" | "output_text" => text(p, "text"),
        "refusal" => text(p, "refusal"),
        "input_image" => {
            let Some(url) = p.get_mut("image_url").filter(|u| u.is_string()) else {
                dropped.push("input[].content[].input_image.file_id");
                return None;
            };
            let mut image = Map::new();
            image.insert("url".into(), url.take());
            if let Some(d) = p.get_mut("detail").filter(|d| !d.is_null() && *d != "auto") {
                image.insert("detail".into(), d.take());
            }
            let image = Value::Object(image);
            Some(obj([
                ("type", Value::from("image_url")),
                ("image_url", image),
            ]))
        }
        "input_file" => {
            let mut file = Map::new();
            for k in ["file_data", "file_id", "filename"] {
                if let Some(v) = p.get_mut(k).filter(|v| !v.is_null()) {
                    file.insert(k.into(), v.take());
                }
            }
            Some(obj([
                ("type", Value::from("file")),
                ("file", Value::Object(file)),
            ]))
        }
        other => {
            dropped.push(format!("input[].content[].{other}"));
            None
        }
    }
}

/// A `function_call` item joins the assistant turn before it (its text, or
/// the calls made in parallel with it), or starts one.
fn function_call(i: usize, item: &mut Value, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let id = Value::from(str_field(i, item, "call_id")?);
    let name = Value::from(str_field(i, item, "name")?);
    let arguments = match item.get_mut("arguments") {
        Some(a) if a.is_string() => a.take(),
        _ => Value::from("{}"),
    };
    let function = obj([("name", name), ("arguments", arguments)]);
    let call = obj([
        ("id", id),
        ("type", Value::from("function")),
        ("function", function),
    ]);
    if let Some(last) = out.last_mut().filter(|m| m["role"] == "assistant")
        && let Some(turn) = last.as_object_mut()
    {
        let calls = turn.entry("tool_calls").or_insert_with(|| json!([]));
        if let Some(calls) = calls.as_array_mut() {
            calls.push(call);
            return Ok(());
        }
    }
    out.push(obj([
        ("role", Value::from("assistant")),
        ("content", Value::Null),
        ("tool_calls", Value::Array(vec![call])),
    ]));
    Ok(())
}

/// A `function_call_output` item: a `tool` message answering its call.
fn function_output(
    i: usize,
    item: &mut Value,
    dropped: &mut Dropped,
) -> Result<Value, TranslateError> {
    let id = Value::from(str_field(i, item, "call_id")?);
    let content = match item.get_mut("output") {
        Some(Value::String(s)) => Value::String(std::mem::take(s)),
        Some(Value::Array(parts)) => {
            let texts: Vec<Value> = parts
                .iter_mut()
                .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                    Some("input_text" | "output_text") => {
                        let text = p.get_mut("text")?.take();
                        Some(obj([("type", Value::from("text")), ("text", text)]))
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
    Ok(obj([
        ("role", Value::from("tool")),
        ("tool_call_id", id),
        ("content", content),
    ]))
}
