//! The Responses API's usage object, read from a pass-through answer or
//! its `response.completed` event and normalised as the ledger keeps it:
//! its `input_tokens` count cached input and `output_tokens` count
//! reasoning, as Chat Completions' do.

use serde::Deserialize;

use crate::ledger::Usage;

#[derive(Debug, Default, Deserialize)]
pub struct ResponsesUsage {
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InputDetails {
    #[serde(default)]
    pub cached_tokens: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct OutputDetails {
    #[serde(default)]
    pub reasoning_tokens: i64,
}

impl ResponsesUsage {
    pub fn normalise(&self) -> Usage {
        let cached = self
            .input_tokens_details
            .as_ref()
            .map_or(0, |d| d.cached_tokens);
        Usage {
            input_tokens: (self.input_tokens - cached).max(0),
            cached_input_tokens: cached,
            cache_write_tokens: 0,
            output_tokens: self.output_tokens,
            reasoning_tokens: self
                .output_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        }
    }
}

/// What the usage meter reads from one event of a Responses stream: the
/// usage of the final response (`response.completed`, `.incomplete`,
/// `.failed`) and the streamed text of deltas.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    pub response: Option<ResponseUsage>,
    pub delta: Option<String>,
}

/// A Response object, for its usage only.
#[derive(Debug, Deserialize)]
pub struct ResponseUsage {
    pub usage: Option<ResponsesUsage>,
}
