//! OpenAI Chat Completions shapes, borrowed from the body they are read
//! from. One struct serves reading and writing where the fields agree;
//! fields the translator never writes are `skip_serializing`.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::de::{Raw, StrOr};

/// `content`: a string or an array of parts.
pub type Content<'a> = StrOr<'a, Vec<Part<'a>>>;

#[derive(Debug, Deserialize, Serialize)]
pub struct Message<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow, default)]
    pub content: Option<Content<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Cow<'a, str>>,
    /// Not OpenAI's own: the reasoning text DeepSeek, vLLM and SGLang put
    /// beside the content.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing)]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing)]
    pub name: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub audio: Option<IgnoredAny>,
    #[serde(default, skip_serializing)]
    pub function_call: Option<IgnoredAny>,
}

impl<'a> Message<'a> {
    pub fn new(role: &'static str, content: Option<Content<'a>>) -> Self {
        Self {
            role: Cow::Borrowed(role),
            content,
            tool_calls: None,
            tool_call_id: None,
            reasoning_content: None,
            refusal: None,
            name: None,
            audio: None,
            function_call: None,
        }
    }
}

/// One content part; `type` says which of the other fields is set.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Part<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl<'a>>,
    /// Not OpenAI's own: the prompt-caching mark LiteLLM and OpenRouter
    /// accept on parts, carried to Anthropic.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing)]
    pub refusal: Option<Cow<'a, str>>,
}

impl<'a> Part<'a> {
    pub fn text(text: Cow<'a, str>) -> Self {
        Self {
            kind: Cow::Borrowed("text"),
            text: Some(text),
            ..Self::default()
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ImageUrl<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ToolCall<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(rename = "type", borrow, default = "function")]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub function: FunctionCall<'a>,
}

fn function() -> Cow<'static, str> {
    Cow::Borrowed("function")
}

#[derive(Debug, Deserialize, Serialize)]
pub struct FunctionCall<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// A JSON text inside a JSON string, as OpenAI sends it.
    #[serde(borrow, default)]
    pub arguments: Cow<'a, str>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Tool<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef<'a>>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct FunctionDef<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Raw<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// The object form of `tool_choice` (`{"type":"function","function":{"name"}}`).
#[derive(Debug, Deserialize, Serialize)]
pub struct ToolChoiceObj<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub function: Option<Named<'a>>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Named<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}
