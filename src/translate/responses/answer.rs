//! A chat completion into a Response object: reasoning text, then the
//! message's text (or refusal), then each tool call as a `function_call`
//! item; `finish_reason` decides `status`; usage is renamed.

use serde::Deserialize;
use serde_json::Value;

use super::echo::Echo;
use super::item_id;
use super::object::{self, Head};
use crate::translate::response::TranslatedResponse;
use crate::translate::usage::OpenAiUsage;
use crate::translate::{Dropped, TranslateError};

#[derive(Deserialize)]
struct Completion {
    id: Option<String>,
    created: Option<u64>,
    model: Option<Value>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Message,
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Value,
}

#[derive(Deserialize, Default)]
struct Message {
    content: Option<String>,
    refusal: Option<String>,
    /// DeepSeek's and vLLM's name; some servers say `reasoning`.
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
    #[serde(default)]
    audio: Value,
}

#[derive(Deserialize)]
struct ToolCall {
    #[serde(default)]
    id: Value,
    function: Function,
}

#[derive(Deserialize)]
struct Function {
    #[serde(default)]
    name: Value,
    #[serde(default)]
    arguments: Value,
}

/// Translates a chat completion into the Response object a Responses
/// client expects, echoing `echo`; usage is normalised for the ledger.
pub fn chat_to_responses(body: &[u8], echo: &Echo) -> Result<TranslatedResponse, TranslateError> {
    let c: Completion = serde_json::from_slice(body).map_err(|source| TranslateError::Json {
        api: "Chat Completions",
        what: "response",
        source,
    })?;
    let mut dropped = Dropped::default();
    if c.choices.len() > 1 {
        dropped.push("choices[1..]");
    }
    let head = Head::from_chat(c.id.as_deref(), c.created, c.model.as_ref());
    let choice = c.choices.into_iter().next();
    let finish = choice.as_ref().and_then(|ch| ch.finish_reason.clone());
    let (status, incomplete) = object::status(finish.as_deref());
    let item_status = if status == "completed" {
        "completed"
    } else {
        "incomplete"
    };
    let mut output = Vec::new();
    if let Some(ch) = choice {
        if !ch.logprobs.is_null() {
            dropped.push("logprobs");
        }
        let m = ch.message;
        if !m.audio.is_null() {
            dropped.push("message.audio");
        }
        if let Some(r) = m
            .reasoning_content
            .or(m.reasoning)
            .filter(|r| !r.is_empty())
        {
            let id = item_id("rs", &head.id, output.len());
            output.push(object::reasoning_item(&id, Value::from(r)));
        }
        let part = match (m.content.filter(|t| !t.is_empty()), m.refusal) {
            (Some(text), _) => Some(object::text_part(Value::from(text))),
            (None, Some(r)) => Some(serde_json::json!({"type": "refusal", "refusal": r})),
            (None, None) => None,
        };
        if let Some(part) = part {
            let id = item_id("msg", &head.id, output.len());
            output.push(object::message_item(&id, item_status, part));
        }
        for call in m.tool_calls {
            let id = item_id("fc", &head.id, output.len());
            let args = match call.function.arguments {
                Value::Null => Value::from("{}"),
                a => a,
            };
            output.push(object::call_item(
                &id,
                "completed",
                &call.id,
                &call.function.name,
                args,
            ));
        }
    }
    let usage = c.usage.unwrap_or_default();
    let response = object::response(
        &head,
        echo,
        status,
        incomplete,
        output,
        Some(object::usage(&usage)),
    );
    Ok(TranslatedResponse {
        body: crate::translate::de::to_body(&response, 512),
        dropped,
        usage: usage.normalise(),
    })
}
