//! A Chat Completions request into a Messages request.
//!
//! System and developer messages become `system`; tool messages become
//! `tool_result` blocks of a user turn; consecutive turns of one role are
//! merged (Anthropic wants roles to alternate, and parallel tool results in
//! one turn).

use std::borrow::Cow;

use serde::Serialize;

use super::RequestOpts;
use super::chat_content::blocks;
use super::chat_in::ChatRequest;
use crate::translate::anthropic::{self as a, Block, Metadata, Thinking, ToolChoice};
use crate::translate::de::{Raw, StrOr, to_body};
use crate::translate::openai as o;
use crate::translate::{Dropped, TranslateError, Translated, mapping};

#[derive(Serialize)]
struct Out<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<a::Content<'a>>,
    messages: Vec<a::Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<Vec<Cow<'a, str>>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<a::Tool<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking<'a>>,
}

/// Translates a Chat Completions request body into a Messages request body
/// for `opts.model`.
pub fn chat_to_messages(body: &[u8], opts: &RequestOpts) -> Result<Translated, TranslateError> {
    let req: ChatRequest = TranslateError::read(body, "Chat Completions", "request")?;
    let ChatRequest {
        messages,
        mut dropped,
        ..
    } = req;
    let (system, turns) = convert_messages(messages, &mut dropped)?;
    let mut max_tokens = req
        .api
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(opts.max_tokens_default);
    let thinking = thinking(
        req.api.reasoning_effort.as_deref(),
        &mut max_tokens,
        &mut dropped,
    );
    let tools = req.api.tools.map(|t| convert_tools(t, &mut dropped));
    let mut tool_choice = req.api.tool_choice.map(|c| match c {
        StrOr::Str(s) => ToolChoice {
            kind: Cow::Borrowed(match s.as_ref() {
                "none" => "none",
                "required" => "any",
                _ => "auto",
            }),
            name: None,
            disable_parallel_tool_use: None,
        },
        StrOr::Val(v) => ToolChoice {
            kind: Cow::Borrowed("tool"),
            name: v.function.map(|f| f.name),
            disable_parallel_tool_use: None,
        },
    });
    if req.api.parallel_tool_calls == Some(false) && tools.is_some() {
        let c = tool_choice.get_or_insert(ToolChoice {
            kind: Cow::Borrowed("auto"),
            name: None,
            disable_parallel_tool_use: None,
        });
        if c.kind != "none" {
            c.disable_parallel_tool_use = Some(true);
        }
    }
    let out = Out {
        model: opts.model,
        max_tokens,
        system,
        messages: turns,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop_sequences: req.api.stop.map(|s| match s {
            StrOr::Str(s) => vec![s],
            StrOr::Val(v) => v,
        }),
        stream: req.stream,
        tools,
        tool_choice,
        metadata: req.api.user.map(|u| Metadata { user_id: Some(u) }),
        thinking,
    };
    Ok(Translated {
        body: to_body(&out, body.len() + 64),
        dropped,
        stream: req.stream,
        include_usage: req.api.include_usage,
    })
}

/// `reasoning_effort` → `thinking`, keeping Anthropic's rule that the
/// budget is at least 1024 and below `max_tokens` (OpenAI's limit counts
/// reasoning too, so the budget is capped at half of it).
fn thinking<'a>(
    effort: Option<&str>,
    max_tokens: &mut u32,
    dropped: &mut Dropped,
) -> Option<Thinking<'a>> {
    let budget = mapping::thinking_budget(effort?)?;
    if *max_tokens <= mapping::MIN_THINKING_BUDGET * 2 {
        dropped.push("reasoning_effort");
        return None;
    }
    Some(Thinking {
        kind: Cow::Borrowed("enabled"),
        budget_tokens: Some(budget.min(*max_tokens / 2)),
    })
}

fn convert_tools<'a>(tools: Vec<o::Tool<'a>>, dropped: &mut Dropped) -> Vec<a::Tool<'a>> {
    let mut out = Vec::with_capacity(tools.len());
    for t in tools {
        let Some(f) = t.function.filter(|_| t.kind == "function") else {
            dropped.push("tools[].type!=function");
            continue;
        };
        if f.strict == Some(true) {
            dropped.push("tools[].function.strict");
        }
        out.push(a::Tool {
            kind: None,
            name: f.name,
            description: f.description,
            input_schema: Some(f.parameters.unwrap_or_else(Raw::empty_schema)),
            cache_control: None,
        });
    }
    out
}

type Converted<'a> = (Option<a::Content<'a>>, Vec<a::Message<'a>>);

fn convert_messages<'a>(
    messages: Vec<o::Message<'a>>,
    dropped: &mut Dropped,
) -> Result<Converted<'a>, TranslateError> {
    let mut system: Vec<Block<'a>> = Vec::new();
    let mut system_plain = true;
    let mut turns: Vec<a::Message<'a>> = Vec::with_capacity(messages.len());
    for (i, m) in messages.into_iter().enumerate() {
        if m.name.is_some() {
            dropped.push("messages[].name");
        }
        if m.audio.is_some() || m.function_call.is_some() {
            dropped.push("messages[].audio/function_call");
        }
        match m.role.as_ref() {
            "system" | "developer" => {
                for b in blocks(m.content, i, dropped)? {
                    system_plain &= b.cache_control.is_none();
                    system.push(b);
                }
            }
            "user" => {
                let content = match m.content {
                    Some(StrOr::Str(s)) => StrOr::Str(s),
                    c => StrOr::Val(blocks(c, i, dropped)?),
                };
                push_turn(&mut turns, "user", content);
            }
            "assistant" => {
                if m.reasoning_content.is_some() {
                    dropped.push("messages[].reasoning_content");
                }
                let mut bs = blocks(m.content, i, dropped)?;
                if let Some(r) = m.refusal {
                    bs.push(Block::text(r));
                }
                for call in m.tool_calls.unwrap_or_default() {
                    bs.push(tool_use(call, i)?);
                }
                push_turn(&mut turns, "assistant", StrOr::Val(bs));
            }
            "tool" => {
                let id = m.tool_call_id.ok_or_else(|| {
                    TranslateError::invalid(
                        format!("messages[{i}].tool_call_id"),
                        "a tool message needs the id of the call it answers",
                    )
                })?;
                let content = match m.content {
                    Some(StrOr::Str(s)) => StrOr::Str(s),
                    c => StrOr::Val(blocks(c, i, dropped)?),
                };
                let result = Block {
                    kind: Cow::Borrowed("tool_result"),
                    tool_use_id: Some(id),
                    content: Some(content),
                    ..Block::default()
                };
                push_turn(&mut turns, "user", StrOr::Val(vec![result]));
            }
            other => {
                return Err(TranslateError::invalid(
                    format!("messages[{i}].role"),
                    format!(
                        "`{other}` is not a role Anthropic's Messages API can take (system, developer, user, assistant, tool)"
                    ),
                ));
            }
        }
    }
    let system = match system.len() {
        0 => None,
        1 if system_plain => system.pop().and_then(|b| b.text).map(StrOr::Str),
        _ => Some(StrOr::Val(system)),
    };
    Ok((system, turns))
}

/// Appends a turn, merging it into the previous one when the role repeats.
fn push_turn<'a>(turns: &mut Vec<a::Message<'a>>, role: &'static str, content: a::Content<'a>) {
    if let Some(last) = turns.last_mut().filter(|t| t.role == role) {
        let prev = std::mem::replace(&mut last.content, StrOr::Val(Vec::new()));
        let mut bs = into_blocks(prev);
        bs.extend(into_blocks(content));
        last.content = StrOr::Val(bs);
        return;
    }
    turns.push(a::Message {
        role: Cow::Borrowed(role),
        content,
    });
}

fn into_blocks(c: a::Content<'_>) -> Vec<Block<'_>> {
    match c {
        StrOr::Str(s) => vec![Block::text(s)],
        StrOr::Val(v) => v,
    }
}

fn tool_use<'a>(call: o::ToolCall<'a>, i: usize) -> Result<Block<'a>, TranslateError> {
    let args = call.function.arguments;
    let input = if args.trim().is_empty() {
        Raw::empty_object()
    } else {
        Raw::parse(args).map_err(|e| {
            TranslateError::invalid(
                format!("messages[{i}].tool_calls[].function.arguments"),
                format!("call {} has arguments that are not JSON ({e})", call.id),
            )
        })?
    };
    Ok(Block {
        kind: Cow::Borrowed("tool_use"),
        id: Some(call.id),
        name: Some(call.function.name),
        input: Some(input),
        ..Block::default()
    })
}
