//! Reading a Messages request: the fields Chat Completions can express are
//! kept (borrowed from the body), the others are named in `dropped`.

use std::borrow::Cow;

use serde::de::MapAccess;

use super::{ApiFields, Request};
use crate::translate::Dropped;
use crate::translate::anthropic::{Content, Message, Metadata, Thinking, Tool, ToolChoice};

/// A Messages request: [`Request`] with Messages' own fields.
pub type MessagesRequest<'a> = Request<Message<'a>, MessagesFields<'a>>;

/// The top-level fields of a Messages request that Chat Completions names
/// differently or lacks.
#[derive(Debug, Default)]
pub struct MessagesFields<'a> {
    pub system: Option<Content<'a>>,
    pub stop_sequences: Option<Vec<Cow<'a, str>>>,
    pub tools: Option<Vec<Tool<'a>>>,
    pub tool_choice: Option<ToolChoice<'a>>,
    pub metadata: Option<Metadata<'a>>,
    pub thinking: Option<Thinking<'a>>,
}

impl<'de: 'a, 'a> ApiFields<'de> for MessagesFields<'a> {
    const WHAT: &'static str = "a Messages request object";
    const KNOWN_DROPS: &'static [&'static str] = &[
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_format",
    ];

    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _dropped: &mut Dropped,
    ) -> Result<bool, A::Error> {
        match key {
            "system" => self.system = map.next_value()?,
            "stop_sequences" => self.stop_sequences = map.next_value()?,
            "tools" => self.tools = map.next_value()?,
            "tool_choice" => self.tool_choice = map.next_value()?,
            "metadata" => self.metadata = map.next_value()?,
            "thinking" => self.thinking = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}
