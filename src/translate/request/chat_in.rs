//! Reading a Chat Completions request: the fields Messages can express are
//! kept (borrowed from the body), the ones it cannot are named in
//! `dropped` when they are set to anything but their default.

use std::borrow::Cow;

use serde::de::MapAccess;

use super::{ApiFields, Request, static_name};
use crate::translate::Dropped;
use crate::translate::de::StrOr;
use crate::translate::openai::{Message, StreamOptions, Tool, ToolChoiceObj};

/// A Chat Completions request: [`Request`] with Chat's own fields.
pub type ChatRequest<'a> = Request<Message<'a>, ChatFields<'a>>;

/// The top-level fields of a Chat Completions request that Messages names
/// differently or lacks.
#[derive(Debug, Default)]
pub struct ChatFields<'a> {
    pub max_completion_tokens: Option<u32>,
    pub stop: Option<StrOr<'a, Vec<Cow<'a, str>>>>,
    pub include_usage: bool,
    pub tools: Option<Vec<Tool<'a>>>,
    pub tool_choice: Option<StrOr<'a, ToolChoiceObj<'a>>>,
    pub parallel_tool_calls: Option<bool>,
    pub user: Option<Cow<'a, str>>,
    pub reasoning_effort: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> ApiFields<'de> for ChatFields<'a> {
    const WHAT: &'static str = "a Chat Completions request object";
    const KNOWN_DROPS: &'static [&'static str] = &[
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

    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        dropped: &mut Dropped,
    ) -> Result<bool, A::Error> {
        match key {
            "max_completion_tokens" => self.max_completion_tokens = map.next_value()?,
            "stop" => self.stop = map.next_value()?,
            "stream_options" => {
                let o: Option<StreamOptions> = map.next_value()?;
                self.include_usage = o.is_some_and(|o| o.include_usage);
            }
            "tools" => self.tools = map.next_value()?,
            "tool_choice" => self.tool_choice = map.next_value()?,
            "parallel_tool_calls" => self.parallel_tool_calls = map.next_value()?,
            "user" => self.user = map.next_value()?,
            "reasoning_effort" => self.reasoning_effort = map.next_value()?,
            "n" => {
                if map.next_value::<Option<u32>>()?.is_some_and(|n| n > 1) {
                    dropped.push("n");
                }
            }
            "presence_penalty" => note_nonzero(map, dropped, "presence_penalty")?,
            "frequency_penalty" => note_nonzero(map, dropped, "frequency_penalty")?,
            "logprobs" | "store" => {
                if map.next_value::<Option<bool>>()? == Some(true) {
                    dropped.push(static_name(Self::KNOWN_DROPS, key));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
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
