//! Both APIs' usage objects, read and written, and their normalised form
//! ([`Usage`], the ledger's): `input_tokens` is uncached input only,
//! `reasoning_tokens` is a part of `output_tokens`.
//!
//! OpenAI's `prompt_tokens` include cached input and `completion_tokens`
//! include reasoning; Anthropic's `input_tokens` exclude cache reads and
//! writes, and its `output_tokens` include thinking without saying how much.

use serde::{Deserialize, Serialize};

use crate::ledger::Usage;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct OpenAiUsage {
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `cached_tokens`, in Chat's `prompt_tokens_details` and the Responses
/// API's `input_tokens_details`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: i64,
}

/// `reasoning_tokens`, in Chat's `completion_tokens_details` and the
/// Responses API's `output_tokens_details`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: i64,
}

/// The ledger's usage from OpenAI's counts, Chat's or the Responses
/// API's (they differ in names only): input that includes cached input,
/// output that includes reasoning.
pub fn from_openai(
    input: i64,
    cached: Option<&PromptDetails>,
    output: i64,
    reasoning: Option<&CompletionDetails>,
) -> Usage {
    let cached = cached.map_or(0, |d| d.cached_tokens);
    Usage {
        input_tokens: (input - cached).max(0),
        cached_input_tokens: cached,
        cache_write_tokens: 0,
        output_tokens: output,
        reasoning_tokens: reasoning.map_or(0, |d| d.reasoning_tokens),
    }
}

impl OpenAiUsage {
    pub fn normalise(&self) -> Usage {
        from_openai(
            self.prompt_tokens,
            self.prompt_tokens_details.as_ref(),
            self.completion_tokens,
            self.completion_tokens_details.as_ref(),
        )
    }

    /// OpenAI's form of a normalised usage: cache writes count as prompt
    /// tokens (OpenAI has no field for them).
    pub fn from_usage(u: &Usage) -> Self {
        let prompt = u.input_tokens + u.cached_input_tokens + u.cache_write_tokens;
        Self {
            prompt_tokens: prompt,
            completion_tokens: u.output_tokens,
            total_tokens: prompt + u.output_tokens,
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: u.cached_input_tokens,
            }),
            completion_tokens_details: Some(CompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
            }),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AnthropicUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<i64>,
}

impl AnthropicUsage {
    /// Folds this report into `u`: fields present overwrite (Anthropic's
    /// counts in a stream are cumulative).
    pub fn apply(&self, u: &mut Usage) {
        if let Some(v) = self.input_tokens {
            u.input_tokens = v;
        }
        if let Some(v) = self.output_tokens {
            u.output_tokens = v;
        }
        if let Some(v) = self.cache_creation_input_tokens {
            u.cache_write_tokens = v;
        }
        if let Some(v) = self.cache_read_input_tokens {
            u.cached_input_tokens = v;
        }
    }

    pub fn from_usage(u: &Usage) -> Self {
        Self {
            input_tokens: Some(u.input_tokens),
            cache_creation_input_tokens: Some(u.cache_write_tokens),
            cache_read_input_tokens: Some(u.cached_input_tokens),
            output_tokens: Some(u.output_tokens),
        }
    }
}
