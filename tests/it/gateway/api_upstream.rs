//! What the upstream test server checks and answers beyond plain text:
//! with `Upstream::validate`, a request that its API would refuse (roles out
//! of order, a tool result naming no tool call, Anthropic's `max_tokens`
//! missing) is answered 400 in that API's error shape, so a translation
//! that produces one fails the SDK call; and a request that offers tools
//! and ends with the user's turn is answered with a call of the first tool
//! (`{"city":"Paris"}`), plain or streamed, so tool calls and their results
//! cross the gateway in both APIs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The arguments every tool call carries, as text.
pub const TOOL_ARGS: &str = "{\"city\":\"Paris\"}";
/// The upstream's answer to every token count.
pub const UPSTREAM_COUNT: u64 = 42;
/// The ids the upstream gives its tool calls.
pub const CHAT_CALL_ID: &str = "call_up_1";
pub const MESSAGES_CALL_ID: &str = "toolu_up_1";

/// A 400 in OpenAI's error shape.
pub fn chat_refusal(why: &str) -> Response {
    let body = json!({"error": {"message": why, "type": "invalid_request_error", "param": null, "code": null}});
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A 400 in Anthropic's error shape.
pub fn messages_refusal(why: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": "invalid_request_error", "message": why}});
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What OpenAI's Chat Completions API would refuse.
pub fn check_chat(v: &Value) -> Result<(), String> {
    let messages = v["messages"]
        .as_array()
        .ok_or("`messages` must be an array")?;
    if messages.is_empty() {
        return Err("`messages` must not be empty".into());
    }
    let mut calls: Vec<&str> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("system" | "developer" | "user") => {}
            Some("assistant") => {
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    calls.push(
                        c["id"]
                            .as_str()
                            .ok_or(format!("messages[{i}]: a tool call without id"))?,
                    );
                    if c["function"]["arguments"].as_str().is_none() {
                        return Err(format!(
                            "messages[{i}]: tool call arguments must be a string"
                        ));
                    }
                }
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or("");
                if !calls.contains(&id) {
                    return Err(format!(
                        "messages[{i}]: tool_call_id `{id}` answers no tool call"
                    ));
                }
            }
            other => return Err(format!("messages[{i}]: unknown role {other:?}")),
        }
    }
    Ok(())
}

/// What Anthropic's Messages API would refuse.
pub fn check_messages(v: &Value) -> Result<(), String> {
    if !v["max_tokens"].is_u64() {
        return Err("max_tokens: Field required".into());
    }
    let messages = v["messages"].as_array().ok_or("messages: Field required")?;
    let mut expect = "user";
    let mut calls: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role != expect {
            return Err(format!(
                "messages[{i}]: roles must alternate user/assistant, starting with user"
            ));
        }
        expect = if role == "user" { "assistant" } else { "user" };
        for b in m["content"].as_array().into_iter().flatten() {
            match b["type"].as_str() {
                Some("tool_use") if role == "assistant" => {
                    calls.push(b["id"].as_str().unwrap_or("").to_string());
                    if !b["input"].is_object() {
                        return Err(format!("messages[{i}]: tool_use input must be an object"));
                    }
                }
                Some("tool_result") if role == "user" => {
                    let id = b["tool_use_id"].as_str().unwrap_or("");
                    if !calls.iter().any(|c| c == id) {
                        return Err(format!(
                            "messages[{i}]: tool_use_id `{id}` answers no tool_use"
                        ));
                    }
                }
                Some("text" | "image") => {}
                other => return Err(format!("messages[{i}]: unexpected block {other:?}")),
            }
        }
    }
    Ok(())
}

/// Whether the request offers tools and ends with the user asking (not
/// with a tool's result).
fn wants_tool_call(v: &Value, tool_result: impl Fn(&Value) -> bool) -> Option<String> {
    let tools = v["tools"].as_array().filter(|t| !t.is_empty())?;
    let last = v["messages"].as_array()?.last()?;
    if last["role"] != "user" || tool_result(last) {
        return None;
    }
    let first = &tools[0];
    first["function"]["name"]
        .as_str()
        .or(first["name"].as_str())
        .map(str::to_string)
}

/// A chat request answered with a tool call: the chunks of a stream, or
/// the whole completion.
pub fn chat_tool_call(v: &Value, model: &str) -> Option<Result<Vec<String>, Value>> {
    let name = wants_tool_call(v, |_| false)?;
    if v["stream"].as_bool() != Some(true) {
        return Some(Err(json!({
            "id": "c1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": CHAT_CALL_ID, "type": "function",
                    "function": {"name": name, "arguments": TOOL_ARGS}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 9}
        })));
    }
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "c1", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "tool_calls": [{"index": 0, "id": CHAT_CALL_ID, "type": "function",
            "function": {"name": name, "arguments": ""}}]}),
        Value::Null,
    )];
    for part in ["{\"city\":", "\"Paris\"}"] {
        events.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}),
            Value::Null,
        ));
    }
    events.push(chunk(json!({}), json!("tool_calls")));
    if v["stream_options"]["include_usage"].as_bool() == Some(true) {
        let u = json!({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [],
            "usage": {"prompt_tokens": 80, "completion_tokens": 9}});
        events.push(format!("data: {u}\n\n"));
    }
    events.push("data: [DONE]\n\n".into());
    Some(Ok(events))
}

/// A Messages request answered with a tool_use block: the events of a
/// stream, or the whole message.
pub fn messages_tool_call(v: &Value, model: &str) -> Option<Result<Vec<String>, Value>> {
    let is_result = |m: &Value| {
        m["content"]
            .as_array()
            .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"))
    };
    let name = wants_tool_call(v, is_result)?;
    let usage = json!({"input_tokens": 70, "output_tokens": 11});
    if v["stream"].as_bool() != Some(true) {
        return Some(Err(json!({
            "id": "msg_t", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "tool_use", "id": MESSAGES_CALL_ID, "name": name, "input": {"city": "Paris"}}],
            "stop_reason": "tool_use", "stop_sequence": null, "usage": usage,
        })));
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_t", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 70, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": MESSAGES_CALL_ID, "name": name, "input": {}}}),
        ),
    ];
    for part in ["{\"city\":", "\"Paris\"}"] {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": part}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event("message_delta", json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 11}})));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    Some(Ok(events))
}
