//! A Messages answer into a chat completion: text blocks become `content`,
//! `tool_use` blocks `tool_calls` (input serialised as the arguments
//! string), thinking `reasoning_content` (the field DeepSeek and vLLM use;
//! OpenAI's SDKs keep unknown fields), `stop_reason` `finish_reason`.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{TranslatedResponse, now_secs};
use crate::translate::anthropic::Block;
use crate::translate::de::to_body;
use crate::translate::openai::{FunctionCall, ToolCall};
use crate::translate::usage::{AnthropicUsage, OpenAiUsage};
use crate::translate::{Dropped, TranslateError, mapping};

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow, default)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    model: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Vec<Block<'a>>,
    #[serde(borrow, default)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stop_sequence: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: AnthropicUsage,
    #[serde(default)]
    container: Option<IgnoredAny>,
}

#[derive(Serialize)]
struct ChatOut<'a> {
    id: Cow<'a, str>,
    object: &'static str,
    created: u64,
    model: Cow<'a, str>,
    choices: [Choice<'a>; 1],
    usage: OpenAiUsage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    refusal: Option<()>,
}

/// Translates a Messages answer body into a chat completion body.
pub fn messages_to_chat(body: &[u8]) -> Result<TranslatedResponse, TranslateError> {
    let m: MessageIn = TranslateError::read(body, "Messages", "answer")?;
    let mut dropped = Dropped::default();
    let mut text: Option<Cow<str>> = None;
    let mut reasoning: Option<Cow<str>> = None;
    let mut calls = Vec::new();
    for b in m.content {
        if b.citations.is_some() {
            dropped.push("content[].citations");
        }
        match b.kind.as_ref() {
            "text" => append(&mut text, b.text.unwrap_or_default()),
            "thinking" => {
                if b.signature.is_some_and(|s| !s.is_empty()) {
                    dropped.push("content[].signature");
                }
                append(&mut reasoning, b.thinking.unwrap_or_default());
            }
            "tool_use" => calls.push(ToolCall {
                id: b.id.unwrap_or_default(),
                kind: Cow::Borrowed("function"),
                function: FunctionCall {
                    name: b.name.unwrap_or_default(),
                    arguments: b.input.map_or(Cow::Borrowed("{}"), |r| r.into_cow()),
                },
            }),
            other => dropped.push(format!("content[].{other}")),
        }
    }
    if m.stop_sequence.is_some() {
        dropped.push("stop_sequence");
    }
    if m.container.is_some() {
        dropped.push("container");
    }
    let mut usage = crate::ledger::Usage::default();
    m.usage.apply(&mut usage);
    let out = ChatOut {
        id: m.id,
        object: "chat.completion",
        created: now_secs(),
        model: m.model,
        choices: [Choice {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content: text,
                reasoning_content: reasoning,
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: None,
            },
            logprobs: None,
            finish_reason: mapping::finish_reason(m.stop_reason.as_deref().unwrap_or("end_turn")),
        }],
        usage: OpenAiUsage::from_usage(&usage),
    };
    Ok(TranslatedResponse {
        body: to_body(&out, body.len() + 256),
        dropped,
        usage,
    })
}

/// Appends `more` to `acc`, borrowing while there is one piece.
fn append<'a>(acc: &mut Option<Cow<'a, str>>, more: Cow<'a, str>) {
    *acc = Some(match acc.take() {
        None => more,
        Some(prev) => Cow::Owned(prev.into_owned() + &more),
    });
}
