//! Requests, both ways: a Chat Completions body into a Messages body
//! ([`chat_to_messages`]) and back ([`messages_to_chat`]).
//!
//! Each direction reads the client's body in one pass with a hand-written
//! map visitor, so that every top-level field the target cannot express,
//! known or not, is named in [`Dropped`](super::Dropped) rather than
//! ignored.

mod chat_content;
mod chat_in;
mod chat_to_messages;
mod messages_in;
mod messages_to_chat;

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::Dropped;

pub use chat_to_messages::chat_to_messages;
pub use messages_to_chat::messages_to_chat;

/// What the gateway knows about the upstream that the client's body does
/// not say.
#[derive(Debug, Clone, Copy)]
pub struct RequestOpts<'a> {
    /// The model name the upstream knows (the deployment's), written into
    /// the body in place of the client's.
    pub model: &'a str,
    /// Anthropic requires `max_tokens`: used when a Chat client sent
    /// neither `max_tokens` nor `max_completion_tokens` (the per-model
    /// `max_tokens_default`).
    pub max_tokens_default: u32,
    /// Messages → Chat: the upstream takes the fields vLLM, SGLang and
    /// DeepSeek accept beyond OpenAI's (`top_k`, `reasoning_content` in
    /// assistant turns). Off for OpenAI itself, which refuses unknown fields,
    /// so those are dropped (and listed).
    pub chat_extensions: bool,
    /// Messages → Chat: send `max_tokens` rather than
    /// `max_completion_tokens`, for older OpenAI-compatible servers.
    pub legacy_max_tokens: bool,
}

impl<'a> RequestOpts<'a> {
    /// Options for `model` with the defaults: 4096 tokens when a Chat
    /// client sets no limit, no extensions, `max_completion_tokens`.
    pub fn new(model: &'a str) -> Self {
        Self {
            model,
            max_tokens_default: 4096,
            chat_extensions: false,
            legacy_max_tokens: false,
        }
    }
}

/// A client's request as read in one pass: the fields both APIs share,
/// and `api` with the ones of the client's API (`X`). Everything borrows
/// from the body. The fields are private to `request` and its modules.
#[derive(Debug)]
pub struct Request<M, X> {
    messages: Vec<M>,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    stream: bool,
    dropped: Dropped,
    api: X,
}

/// The top-level fields one API has and the other lacks.
trait ApiFields<'de>: Default {
    /// What the body is, for serde's "expected …" message.
    const WHAT: &'static str;
    /// Top-level fields this API documents that the other cannot express:
    /// named in `dropped` without a copy.
    const KNOWN_DROPS: &'static [&'static str];

    /// Reads the value of `key` when the field is this API's own; `false`
    /// leaves the value unread, to be named in `dropped` when set.
    fn field<A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        dropped: &mut Dropped,
    ) -> Result<bool, A::Error>;
}

impl<'de, M: Deserialize<'de>, X: ApiFields<'de>> Deserialize<'de> for Request<M, X> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor(PhantomData))
    }
}

/// The one-pass map visitor both request readers share: the model is
/// skipped (the gateway writes the upstream's), `messages` is required, and
/// any field neither shared nor taken by [`ApiFields::field`] is named in
/// `dropped` unless it is `null`. Generic, so each API gets its own
/// monomorphised copy with no dispatch per field.
struct RequestVisitor<M, X>(PhantomData<(M, X)>);

impl<'de, M: Deserialize<'de>, X: ApiFields<'de>> Visitor<'de> for RequestVisitor<M, X> {
    type Value = Request<M, X>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(X::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = Request {
            messages: Vec::new(),
            max_tokens: None,
            temperature: None,
            top_p: None,
            top_k: None,
            stream: false,
            dropped: Dropped::default(),
            api: X::default(),
        };
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
                "temperature" => r.temperature = map.next_value()?,
                "top_p" => r.top_p = map.next_value()?,
                "top_k" => r.top_k = map.next_value()?,
                "stream" => r.stream = map.next_value::<Option<bool>>()?.unwrap_or(false),
                k => {
                    if !r.api.field(k, &mut map, &mut r.dropped)?
                        && map.next_value::<Option<IgnoredAny>>()?.is_some()
                    {
                        r.dropped.push(static_name(X::KNOWN_DROPS, k));
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

/// A dropped top-level field's name: one of `known` as `&'static str`,
/// anything else copied.
fn static_name(known: &'static [&'static str], key: &str) -> Cow<'static, str> {
    match known.iter().find(|k| **k == key) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(key.to_owned()),
    }
}
