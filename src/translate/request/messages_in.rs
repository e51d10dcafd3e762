//! Reading a Messages request: the fields Chat Completions can express are
//! kept (borrowed from the body), the others are named in `dropped`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::translate::Dropped;
use crate::translate::anthropic::{Content, Message, Metadata, Thinking, Tool, ToolChoice};

#[derive(Debug, Default)]
pub struct MessagesRequest<'a> {
    pub messages: Vec<Message<'a>>,
    pub system: Option<Content<'a>>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop_sequences: Option<Vec<Cow<'a, str>>>,
    pub stream: bool,
    pub tools: Option<Vec<Tool<'a>>>,
    pub tool_choice: Option<ToolChoice<'a>>,
    pub metadata: Option<Metadata<'a>>,
    pub thinking: Option<Thinking<'a>>,
    pub dropped: Dropped,
}

impl<'de: 'a, 'a> Deserialize<'de> for MessagesRequest<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MessagesVisitor(std::marker::PhantomData))
    }
}

struct MessagesVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MessagesVisitor<'a> {
    type Value = MessagesRequest<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Messages request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = MessagesRequest::default();
        let mut have_messages = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                // The gateway writes the upstream's model name.
                "model" => drop(map.next_value::<IgnoredAny>()?),
                "messages" => {
                    r.messages = map.next_value()?;
                    have_messages = true;
                }
                "system" => r.system = map.next_value()?,
                "max_tokens" => r.max_tokens = map.next_value()?,
                "temperature" => r.temperature = map.next_value()?,
                "top_p" => r.top_p = map.next_value()?,
                "top_k" => r.top_k = map.next_value()?,
                "stop_sequences" => r.stop_sequences = map.next_value()?,
                "stream" => r.stream = map.next_value::<Option<bool>>()?.unwrap_or(false),
                "tools" => r.tools = map.next_value()?,
                "tool_choice" => r.tool_choice = map.next_value()?,
                "metadata" => r.metadata = map.next_value()?,
                "thinking" => r.thinking = map.next_value()?,
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

fn static_name(key: &str) -> Cow<'static, str> {
    const KNOWN: &[&str] = &[
        "service_tier",
        "container",
        "mcp_servers",
        "context_management",
        "output_format",
    ];
    match KNOWN.iter().find(|k| **k == key) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(key.to_owned()),
    }
}
