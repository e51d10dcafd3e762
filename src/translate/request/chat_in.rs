//! Reading a Chat Completions request: the fields Messages can express are
//! kept (borrowed from the body), the ones it cannot are named in
//! `dropped` when they are set to anything but their default.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::translate::Dropped;
use crate::translate::de::StrOr;
use crate::translate::openai::{Message, StreamOptions, Tool, ToolChoiceObj};

#[derive(Debug, Default)]
pub struct ChatRequest<'a> {
    pub messages: Vec<Message<'a>>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop: Option<StrOr<'a, Vec<Cow<'a, str>>>>,
    pub stream: bool,
    pub include_usage: bool,
    pub tools: Option<Vec<Tool<'a>>>,
    pub tool_choice: Option<StrOr<'a, ToolChoiceObj<'a>>>,
    pub parallel_tool_calls: Option<bool>,
    pub user: Option<Cow<'a, str>>,
    pub reasoning_effort: Option<Cow<'a, str>>,
    pub dropped: Dropped,
}

impl<'de: 'a, 'a> Deserialize<'de> for ChatRequest<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ChatVisitor(std::marker::PhantomData))
    }
}

struct ChatVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ChatVisitor<'a> {
    type Value = ChatRequest<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Chat Completions request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = ChatRequest::default();
        let mut have_messages = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                // The gateway writes the upstream's model name.
                "model" => drop(map.next_value::<IgnoredAny>()?),
                "messages" => {
                    r.messages = map.next_value()?;
                    have_messages = true;
                }
                "max_tokens" => r.max_tokens = map.next_value()?,
                "max_completion_tokens" => r.max_completion_tokens = map.next_value()?,
                "temperature" => r.temperature = map.next_value()?,
                "top_p" => r.top_p = map.next_value()?,
                "top_k" => r.top_k = map.next_value()?,
                "stop" => r.stop = map.next_value()?,
                "stream" => r.stream = map.next_value::<Option<bool>>()?.unwrap_or(false),
                "stream_options" => {
                    let o: Option<StreamOptions> = map.next_value()?;
                    r.include_usage = o.is_some_and(|o| o.include_usage);
                }
                "tools" => r.tools = map.next_value()?,
                "tool_choice" => r.tool_choice = map.next_value()?,
                "parallel_tool_calls" => r.parallel_tool_calls = map.next_value()?,
                "user" => r.user = map.next_value()?,
                "reasoning_effort" => r.reasoning_effort = map.next_value()?,
                "n" => {
                    if map.next_value::<Option<u32>>()?.is_some_and(|n| n > 1) {
                        r.dropped.push("n");
                    }
                }
                "presence_penalty" => note_nonzero(&mut map, &mut r.dropped, "presence_penalty")?,
                "frequency_penalty" => note_nonzero(&mut map, &mut r.dropped, "frequency_penalty")?,
                "logprobs" | "store" => {
                    if map.next_value::<Option<bool>>()? == Some(true) {
                        r.dropped.push(static_name(&key));
                    }
                }
                _ => {
                    if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                        r.dropped.push(static_name(&key));
                    }
                }
            }
        }
        if !have_messages {
            return Err(de::Error::missing_field("messages"));
        }
        Ok(r)
    }
}

fn note_nonzero<'de, A: MapAccess<'de>>(
    map: &mut A,
    dropped: &mut Dropped,
    name: &'static str,
) -> Result<(), A::Error> {
    if map.next_value::<Option<f64>>()?.is_some_and(|v| v != 0.0) {
        dropped.push(name);
    }
    Ok(())
}

/// A dropped top-level field's name: the documented ones as `&'static
/// str`, anything else copied.
fn static_name(key: &str) -> Cow<'static, str> {
    const KNOWN: &[&str] = &[
        "logprobs",
        "store",
        "top_logprobs",
        "logit_bias",
        "seed",
        "response_format",
        "service_tier",
        "metadata",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "functions",
        "function_call",
        "safety_identifier",
        "prompt_cache_key",
        "verbosity",
    ];
    match KNOWN.iter().find(|k| **k == key) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(key.to_owned()),
    }
}
