//! A chat completion into a Messages answer: the first choice's content
//! becomes a text block, its `tool_calls` `tool_use` blocks (arguments
//! parsed into `input`), reasoning content a thinking block without a
//! signature, `finish_reason` `stop_reason`.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::TranslatedResponse;
use crate::translate::anthropic::Block;
use crate::translate::de::{Raw, to_body};
use crate::translate::openai::ToolCall;
use crate::translate::usage::{AnthropicUsage, OpenAiUsage};
use crate::translate::{Dropped, TranslateError, mapping};

#[derive(Deserialize)]
struct ChatIn<'a> {
    #[serde(borrow, default)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    model: Cow<'a, str>,
    #[serde(borrow, default)]
    choices: Vec<ChoiceIn<'a>>,
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    #[serde(default)]
    system_fingerprint: Option<IgnoredAny>,
    #[serde(default)]
    service_tier: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceIn<'a> {
    #[serde(borrow)]
    message: MessageIn<'a>,
    #[serde(borrow, default)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    logprobs: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    /// The name OpenRouter and Ollama give the same text.
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default)]
    annotations: Option<Vec<IgnoredAny>>,
    #[serde(default)]
    audio: Option<IgnoredAny>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: Cow<'a, str>,
    content: Vec<Block<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    usage: AnthropicUsage,
}

/// Translates a chat completion body into a Messages answer body.
pub fn chat_to_messages(body: &[u8]) -> Result<TranslatedResponse, TranslateError> {
    let c: ChatIn = TranslateError::read(body, "Chat Completions", "answer")?;
    let mut dropped = Dropped::default();
    if c.choices.len() > 1 {
        dropped.push("choices[1..]");
    }
    for (present, name) in [
        (c.system_fingerprint.is_some(), "system_fingerprint"),
        (c.service_tier.is_some(), "service_tier"),
    ] {
        if present {
            dropped.push(name);
        }
    }
    let Some(choice) = c.choices.into_iter().next() else {
        return Err(TranslateError::invalid(
            "choices",
            "the chat completion has no choice to translate",
        ));
    };
    let m = choice.message;
    if choice.logprobs.is_some() {
        dropped.push("choices[].logprobs");
    }
    if m.annotations.is_some_and(|a| !a.is_empty()) {
        dropped.push("message.annotations");
    }
    if m.audio.is_some() {
        dropped.push("message.audio");
    }
    let mut content = Vec::with_capacity(2);
    if let Some(r) = m
        .reasoning_content
        .or(m.reasoning)
        .filter(|r| !r.is_empty())
    {
        content.push(Block {
            kind: Cow::Borrowed("thinking"),
            thinking: Some(r),
            signature: Some(Cow::Borrowed("")),
            ..Block::default()
        });
    }
    if let Some(t) = m.content.filter(|t| !t.is_empty()) {
        content.push(Block::text(t));
    }
    let refused = m.refusal.is_some();
    content.extend(m.refusal.map(Block::text));
    for call in m.tool_calls.unwrap_or_default() {
        let args = call.function.arguments;
        let input = match args.trim().is_empty() {
            true => Raw::empty_object(),
            false => Raw::parse(args).unwrap_or_else(|_| {
                dropped.push("tool_calls[].function.arguments (not JSON)");
                Raw::empty_object()
            }),
        };
        content.push(Block {
            kind: Cow::Borrowed("tool_use"),
            id: Some(call.id),
            name: Some(call.function.name),
            input: Some(input),
            ..Block::default()
        });
    }
    let usage = c.usage.map(|u| u.normalise()).unwrap_or_default();
    let stop_reason = match refused {
        true => "refusal",
        false => mapping::stop_reason(choice.finish_reason.as_deref().unwrap_or("stop")),
    };
    let out = MessageOut {
        id: c.id,
        kind: "message",
        role: "assistant",
        model: c.model,
        content,
        stop_reason,
        stop_sequence: None,
        usage: AnthropicUsage::from_usage(&usage),
    };
    if usage.reasoning_tokens > 0 {
        dropped.push("usage.completion_tokens_details.reasoning_tokens");
    }
    Ok(TranslatedResponse {
        body: to_body(&out, body.len() + 256),
        dropped,
        usage,
    })
}
