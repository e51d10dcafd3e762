//! The Response object both the whole answer and the stream's lifecycle
//! events carry: its head (id, time, model), status, output items, usage
//! and the request's echoed settings, in the API's shape, written
//! straight into bytes ([`super::write`] says why).

use serde::Serialize;
use serde_json::Value;

use super::echo::Echo;
use super::write::{Obj, push_json};
use crate::translate::de::push_str;
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
    pub fn from_chat(id: Option<&str>, created: Option<u64>, model: Value) -> Head {
        let id = id.unwrap_or("chat");
        Head {
            id: format!("resp_{}", id.trim_start_matches("chatcmpl-")),
            created_at: created.unwrap_or_else(crate::translate::response::now_secs),
            model,
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

/// Writes a Response object with `status` (and why it is incomplete) and
/// `usage`; `output` writes the items of its `output` array, comma
/// separated. The echoed settings sort among the object's own fields.
pub(super) fn response(
    out: &mut Vec<u8>,
    head: &Head,
    echo: &Echo,
    (status, incomplete): (&str, Option<&str>),
    usage: Option<&OpenAiUsage>,
    output: impl FnOnce(&mut Vec<u8>),
) {
    let mut o = echo.merge(out);
    push_int(o.key("created_at"), head.created_at);
    o.key("error").extend_from_slice(b"null");
    push_str(o.key("id"), &head.id);
    let details = o.key("incomplete_details");
    match incomplete {
        Some(reason) => {
            let mut d = Obj::new(details);
            d.str("reason", reason);
            d.end();
        }
        None => details.extend_from_slice(b"null"),
    }
    push_json(o.key("model"), &head.model);
    o.key("object").extend_from_slice(b"\"response\"");
    let items = o.key("output");
    items.push(b'[');
    output(items);
    items.push(b']');
    push_str(o.key("status"), status);
    let u = o.key("usage");
    match usage {
        Some(usage) => write_usage(u, usage),
        None => u.extend_from_slice(b"null"),
    }
    o.end();
}

fn push_int(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The Responses API's usage from Chat's: input counts cached input,
/// output counts reasoning, as Chat's do.
fn write_usage(out: &mut Vec<u8>, u: &OpenAiUsage) {
    let cached = u
        .prompt_tokens_details
        .as_ref()
        .map_or(0, |d| d.cached_tokens);
    let reasoning = u
        .completion_tokens_details
        .as_ref()
        .map_or(0, |d| d.reasoning_tokens);
    let mut o = Obj::new(out);
    o.int("input_tokens", u.prompt_tokens);
    Obj::new(o.key("input_tokens_details"))
        .int("cached_tokens", cached)
        .end();
    o.int("output_tokens", u.completion_tokens);
    Obj::new(o.key("output_tokens_details"))
        .int("reasoning_tokens", reasoning)
        .end();
    o.int("total_tokens", u.prompt_tokens + u.completion_tokens);
    o.end();
}

/// One content part of a message or reasoning item.
#[derive(Debug, Clone, Copy)]
pub(super) enum Part<'a> {
    /// `output_text`.
    Text(&'a str),
    Refusal(&'a str),
    /// `reasoning_text`.
    Reasoning(&'a str),
}

impl Part<'_> {
    pub fn write(self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        match self {
            Part::Text(t) => {
                o.raw("annotations", "[]").raw("logprobs", "[]");
                o.str("text", t).str("type", "output_text");
            }
            Part::Refusal(t) => {
                o.str("refusal", t).str("type", "refusal");
            }
            Part::Reasoning(t) => {
                o.str("text", t).str("type", "reasoning_text");
            }
        }
        o.end();
    }
}

/// A `message` item (its `content` the one part, or empty), or a
/// `reasoning` item for a reasoning part (which has no `status`).
pub(super) fn content_item(out: &mut Vec<u8>, id: &str, status: &str, part: Part, empty: bool) {
    let mut o = Obj::new(out);
    let content = o.key("content");
    content.push(b'[');
    if !empty {
        part.write(content);
    }
    content.push(b']');
    o.str("id", id);
    match part {
        Part::Reasoning(_) => {
            o.raw("summary", "[]").str("type", "reasoning");
        }
        _ => {
            o.str("role", "assistant").str("status", status);
            o.str("type", "message");
        }
    }
    o.end();
}

/// A `function_call` item.
pub(super) fn call_item(
    out: &mut Vec<u8>,
    id: &str,
    status: &str,
    call_id: &impl Serialize,
    name: &impl Serialize,
    args: &impl Serialize,
) {
    let mut o = Obj::new(out);
    o.json("arguments", args).json("call_id", call_id);
    o.str("id", id).json("name", name).str("status", status);
    o.str("type", "function_call");
    o.end();
}
