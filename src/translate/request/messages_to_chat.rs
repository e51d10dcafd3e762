//! A Messages request into a Chat Completions request.
//!
//! `system` becomes the first message; `tool_result` blocks become `tool`
//! messages placed before the rest of their user turn (OpenAI wants them
//! right after the assistant's calls); a tool's input is sent as the JSON
//! string OpenAI's `arguments` are.

use std::borrow::Cow;

use serde::Serialize;

use super::RequestOpts;
use super::messages_in::MessagesRequest;
use crate::translate::anthropic::{self as a, Block};
use crate::translate::de::{StrOr, to_body};
use crate::translate::openai::{self as o, FunctionCall, ImageUrl, Named, Part, ToolChoiceObj};
use crate::translate::{Dropped, TranslateError, Translated, mapping};

#[derive(Serialize)]
struct Out<'a> {
    model: &'a str,
    messages: Vec<o::Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<Vec<Cow<'a, str>>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<IncludeUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<o::Tool<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<StrOr<'a, ToolChoiceObj<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
}

#[derive(Serialize)]
struct IncludeUsage {
    include_usage: bool,
}

/// Translates a Messages request body into a Chat Completions request body
/// for `opts.model`. A streamed request asks for the final usage chunk, so
/// the ledger gets the upstream's counts.
pub fn messages_to_chat(body: &[u8], opts: &RequestOpts) -> Result<Translated, TranslateError> {
    let req: MessagesRequest = TranslateError::read(body, "Messages", "request")?;
    let mut dropped = req.dropped;
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.api.system {
        let content = match system {
            StrOr::Str(s) => StrOr::Str(s),
            StrOr::Val(blocks) => parts(blocks, "system", &mut dropped),
        };
        messages.push(o::Message::new("system", Some(content)));
    }
    for (i, m) in req.messages.into_iter().enumerate() {
        match m.role.as_ref() {
            "user" => user_turn(m.content, &mut messages, &mut dropped),
            "assistant" => messages.push(assistant_turn(m.content, opts, &mut dropped)),
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{i}].role"),
                    format!("`{other}` is not a Messages role (user, assistant)"),
                ));
            }
        }
    }
    let (tools, tool_choice, parallel) = tools(req.api.tools, req.api.tool_choice, &mut dropped);
    let reasoning_effort = req.api.thinking.and_then(|t| match t.kind.as_ref() {
        "enabled" => Some(mapping::reasoning_effort(t.budget_tokens.unwrap_or(0))),
        "disabled" => None,
        _ => {
            dropped.push("thinking");
            None
        }
    });
    if req.top_k.is_some() && !opts.chat_extensions {
        dropped.push("top_k");
    }
    let (max_completion_tokens, max_tokens) = match opts.legacy_max_tokens {
        true => (None, req.max_tokens),
        false => (req.max_tokens, None),
    };
    let out = Out {
        model: opts.model,
        messages,
        max_completion_tokens,
        max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k.filter(|_| opts.chat_extensions),
        stop: req.api.stop_sequences,
        stream: req.stream,
        stream_options: req.stream.then_some(IncludeUsage {
            include_usage: true,
        }),
        tools,
        tool_choice,
        parallel_tool_calls: parallel,
        user: req.api.metadata.and_then(|m| m.user_id),
        reasoning_effort,
    };
    Ok(Translated {
        body: to_body(&out, body.len() + 64),
        dropped,
        stream: req.stream,
        include_usage: false,
    })
}

type Tools<'a> = (
    Option<Vec<o::Tool<'a>>>,
    Option<StrOr<'a, ToolChoiceObj<'a>>>,
    Option<bool>,
);

fn tools<'a>(
    tools: Option<Vec<a::Tool<'a>>>,
    choice: Option<a::ToolChoice<'a>>,
    dropped: &mut Dropped,
) -> Tools<'a> {
    let tools = tools.map(|ts| {
        let mut out = Vec::with_capacity(ts.len());
        for t in ts {
            match t.kind.as_deref() {
                None | Some("custom") => {}
                Some(server) => {
                    dropped.push(format!("tools[].type={server}"));
                    continue;
                }
            }
            if t.cache_control.is_some() {
                dropped.push("cache_control");
            }
            out.push(o::Tool {
                kind: Cow::Borrowed("function"),
                function: Some(o::FunctionDef {
                    name: t.name,
                    description: t.description,
                    parameters: t.input_schema,
                    strict: None,
                }),
            });
        }
        out
    });
    let Some(c) = choice else {
        return (tools, None, None);
    };
    let parallel = c.disable_parallel_tool_use.filter(|d| *d).map(|_| false);
    let choice = match c.kind.as_ref() {
        "any" => StrOr::Str(Cow::Borrowed("required")),
        "none" => StrOr::Str(Cow::Borrowed("none")),
        "tool" => StrOr::Val(ToolChoiceObj {
            kind: Cow::Borrowed("function"),
            function: c.name.map(|name| Named { name }),
        }),
        _ => StrOr::Str(Cow::Borrowed("auto")),
    };
    (tools, Some(choice), parallel)
}

/// One user turn: its tool results as `tool` messages, then the rest.
fn user_turn<'a>(content: a::Content<'a>, out: &mut Vec<o::Message<'a>>, dropped: &mut Dropped) {
    let blocks = match content {
        StrOr::Str(s) => return out.push(o::Message::new("user", Some(StrOr::Str(s)))),
        StrOr::Val(b) => b,
    };
    let mut rest = Vec::new();
    for b in blocks {
        if b.kind != "tool_result" {
            rest.push(b);
            continue;
        }
        if b.is_error == Some(true) {
            dropped.push("tool_result.is_error");
        }
        if b.cache_control.is_some() {
            dropped.push("cache_control");
        }
        let content = match b.content {
            None => StrOr::Str(Cow::Borrowed("")),
            Some(StrOr::Str(s)) => StrOr::Str(s),
            Some(StrOr::Val(inner)) => parts(inner, "tool_result", dropped),
        };
        let mut m = o::Message::new("tool", Some(content));
        m.tool_call_id = b.tool_use_id;
        out.push(m);
    }
    if !rest.is_empty() {
        let content = parts(rest, "messages[]", dropped);
        out.push(o::Message::new("user", Some(content)));
    }
}

fn assistant_turn<'a>(
    content: a::Content<'a>,
    opts: &RequestOpts,
    dropped: &mut Dropped,
) -> o::Message<'a> {
    let blocks = match content {
        StrOr::Str(s) => return o::Message::new("assistant", Some(StrOr::Str(s))),
        StrOr::Val(b) => b,
    };
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    let mut reasoning: Option<Cow<'a, str>> = None;
    for b in blocks {
        match b.kind.as_ref() {
            "tool_use" => calls.push(o::ToolCall {
                id: b.id.unwrap_or_default(),
                kind: Cow::Borrowed("function"),
                function: FunctionCall {
                    name: b.name.unwrap_or_default(),
                    arguments: b.input.map_or(Cow::Borrowed("{}"), |r| r.into_cow()),
                },
            }),
            "thinking" if opts.chat_extensions => {
                let t = b.thinking.unwrap_or_default();
                reasoning = Some(match reasoning {
                    None => t,
                    Some(r) => Cow::Owned(r.into_owned() + &t),
                });
            }
            _ => texts.push(b),
        }
    }
    let content = match texts.is_empty() {
        true => None,
        false => Some(parts(texts, "messages[]", dropped)),
    };
    let mut m = o::Message::new("assistant", content);
    m.tool_calls = (!calls.is_empty()).then_some(calls);
    m.reasoning_content = reasoning;
    m
}

/// Text and image blocks as OpenAI content: one text is a plain string,
/// anything else an array of parts. Other blocks are dropped (and listed).
fn parts<'a>(blocks: Vec<Block<'a>>, at: &str, dropped: &mut Dropped) -> o::Content<'a> {
    let mut out: Vec<Part<'a>> = Vec::with_capacity(blocks.len());
    for b in blocks {
        if b.cache_control.is_some() {
            dropped.push("cache_control");
        }
        match (b.kind.as_ref(), b.source) {
            ("text", _) => out.push(Part::text(b.text.unwrap_or_default())),
            ("image", Some(src)) if at != "tool_result" => {
                let url = match (src.kind.as_ref(), src.url) {
                    ("url", Some(u)) => u,
                    (_, _) => Cow::Owned(format!(
                        "data:{};base64,{}",
                        src.media_type.unwrap_or_default(),
                        src.data.unwrap_or_default()
                    )),
                };
                out.push(Part {
                    kind: Cow::Borrowed("image_url"),
                    image_url: Some(ImageUrl { url, detail: None }),
                    ..Part::default()
                });
            }
            (kind, _) => dropped.push(format!("{at}.content[].{kind}")),
        }
    }
    if out.len() == 1
        && out[0].kind == "text"
        && let Some(t) = out.pop().and_then(|p| p.text)
    {
        return StrOr::Str(t);
    }
    StrOr::Val(out)
}
