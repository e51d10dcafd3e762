//! A chat completion into a Response object: reasoning text, then the
//! message's text (or refusal), then each tool call as a `function_call`
//! item; `finish_reason` decides `status`; usage is renamed. The text is
//! read borrowed where it has no escapes and written straight into the
//! answer ([`super::write`] says why).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::echo::Echo;
use super::item_id;
use super::object::{self, Head, Part};
use crate::translate::response::TranslatedResponse;
use crate::translate::usage::OpenAiUsage;
use crate::translate::{Dropped, TranslateError};

#[derive(Deserialize)]
struct Completion<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    created: Option<u64>,
    model: Option<Value>,
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    message: Message<'a>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    logprobs: Value,
}

#[derive(Deserialize, Default)]
struct Message<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    /// DeepSeek's and vLLM's name; some servers say `reasoning`.
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning: Option<Cow<'a, str>>,
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
    let c: Completion = TranslateError::read(body, "Chat Completions", "response")?;
    let mut dropped = Dropped::default();
    if c.choices.len() > 1 {
        dropped.push("choices[1..]");
    }
    let head = Head::from_chat(c.id.as_deref(), c.created, c.model.unwrap_or(Value::Null));
    let choice = c.choices.into_iter().next();
    let status = object::status(choice.as_ref().and_then(|ch| ch.finish_reason.as_deref()));
    let item_status = if status.0 == "completed" {
        "completed"
    } else {
        "incomplete"
    };
    let usage = c.usage.unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() + 1024);
    object::response(&mut out, &head, echo, status, Some(&usage), |out| {
        let Some(ch) = choice else {
            return;
        };
        if !ch.logprobs.is_null() {
            dropped.push("logprobs");
        }
        let m = ch.message;
        if !m.audio.is_null() {
            dropped.push("message.audio");
        }
        let mut items = Items {
            out,
            n: 0,
            head: &head,
        };
        if let Some(r) = m
            .reasoning_content
            .or(m.reasoning)
            .filter(|r| !r.is_empty())
        {
            let (id, out) = items.next("rs");
            object::content_item(out, &id, "", Part::Reasoning(&r), false);
        }
        let part = match (&m.content, &m.refusal) {
            (Some(text), _) if !text.is_empty() => Some(Part::Text(text)),
            (_, Some(r)) => Some(Part::Refusal(r)),
            _ => None,
        };
        if let Some(part) = part {
            let (id, out) = items.next("msg");
            object::content_item(out, &id, item_status, part, false);
        }
        for call in m.tool_calls {
            let (id, out) = items.next("fc");
            let args = match call.function.arguments {
                Value::Null => Value::from("{}"),
                a => a,
            };
            object::call_item(out, &id, "completed", &call.id, &call.function.name, &args);
        }
    });
    Ok(TranslatedResponse {
        body: out,
        dropped,
        usage: usage.normalise(),
    })
}

/// The items of `output` being written: each one's id and the bytes it
/// goes into, after a comma from the second on.
struct Items<'a> {
    out: &'a mut Vec<u8>,
    n: usize,
    head: &'a Head,
}

impl Items<'_> {
    fn next(&mut self, prefix: &str) -> (String, &mut Vec<u8>) {
        if self.n > 0 {
            self.out.push(b',');
        }
        self.n += 1;
        (item_id(prefix, &self.head.id, self.n - 1), self.out)
    }
}
