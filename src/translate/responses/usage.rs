//! The Responses API's usage object, read from a pass-through answer or
//! its `response.completed` event and normalised as the ledger keeps it:
//! its `input_tokens` count cached input and `output_tokens` count
//! reasoning, as Chat Completions' do.

use serde::Deserialize;

use crate::ledger::Usage;
use crate::translate::usage::{CompletionDetails, PromptDetails, from_openai};

#[derive(Debug, Default, Deserialize)]
pub struct ResponsesUsage {
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub input_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub output_tokens_details: Option<CompletionDetails>,
}

impl ResponsesUsage {
    pub fn normalise(&self) -> Usage {
        from_openai(
            self.input_tokens,
            self.input_tokens_details.as_ref(),
            self.output_tokens,
            self.output_tokens_details.as_ref(),
        )
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
