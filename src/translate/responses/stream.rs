//! A Chat Completions chunk stream into the Responses event stream.
//!
//! The first chunk opens the response (`response.created`,
//! `response.in_progress`); each kind of delta opens its output item
//! (`response.output_item.added`, and `response.content_part.added` for a
//! message's text) the first time it comes, closing the item before it;
//! `[DONE]` (or the stream's end after a `finish_reason`) closes what is
//! open and ends with `response.completed` (or `response.incomplete`)
//! carrying the whole response and its usage. Every event carries its
//! `sequence_number`, counting from 0. A stream cut before it finished is
//! not passed off as complete ([`ChatToResponses::is_done`] stays false).
//!
//! Opening and filling items is in `items`, closing them and completing
//! the response in `close`; every event is written straight into the
//! client's bytes (`super::write` says why).

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::echo::Echo;
use super::object::{self, Head, Part};
use super::write::{end_event, event};
use crate::ledger::Usage;
use crate::translate::Dropped;
use crate::translate::sse::{Splitter, data};
use crate::translate::usage::OpenAiUsage;

/// A chunk as read: streamed text borrows from the event when it has no
/// escapes (most pieces), so the hot path allocates little.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    created: Option<u64>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    choices: Vec<Choice<'a>>,
    usage: Option<OpenAiUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(default, borrow)]
    delta: Delta<'a>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Vec<ToolDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolDelta<'a> {
    index: Option<u64>,
    id: Option<String>,
    #[serde(borrow)]
    function: Option<FnDelta<'a>>,
}

#[derive(Deserialize)]
struct FnDelta<'a> {
    name: Option<String>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// What an output item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Refusal,
    Reasoning,
    /// A tool call, by its index in Chat's `tool_calls`.
    Call(u64),
}

#[derive(Debug)]
struct Item {
    kind: Kind,
    id: String,
    /// The text, refusal, reasoning or arguments so far.
    text: String,
    call_id: Option<String>,
    name: Option<String>,
    closed: bool,
}

impl Item {
    /// The item's content part as it stands (none for a call).
    fn part(&self) -> Option<Part<'_>> {
        let t = self.text.as_str();
        match self.kind {
            Kind::Text => Some(Part::Text(t)),
            Kind::Refusal => Some(Part::Refusal(t)),
            Kind::Reasoning => Some(Part::Reasoning(t)),
            Kind::Call(_) => None,
        }
    }
}

/// Reads a chat chunk stream, writes the Responses events.
#[derive(Debug)]
pub struct ChatToResponses {
    splitter: Splitter,
    echo: Arc<Echo>,
    head: Option<Head>,
    seq: u64,
    items: Vec<Item>,
    finish: Option<String>,
    usage: Option<OpenAiUsage>,
    done: bool,
    dropped: Dropped,
}

impl ChatToResponses {
    /// A translator whose Response objects echo `echo` (the request's).
    pub fn new(echo: &Arc<Echo>) -> Self {
        Self {
            splitter: Splitter::default(),
            echo: echo.clone(),
            head: None,
            seq: 0,
            items: Vec::new(),
            finish: None,
            usage: None,
            done: false,
            dropped: Dropped::default(),
        }
    }

    /// The client's events for the upstream's next bytes.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() * 2);
        let mut splitter = std::mem::take(&mut self.splitter);
        splitter.feed(chunk, |ev| self.event(ev, &mut out));
        self.splitter = splitter;
        out
    }

    /// The end of the upstream's stream: completes the response if the
    /// upstream finished it.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut splitter = std::mem::take(&mut self.splitter);
        splitter.finish(|ev| self.event(ev, &mut out));
        if self.finish.is_some() {
            self.complete(&mut out);
        }
        out
    }

    /// The usage the upstream reported (normalised), once it has.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(OpenAiUsage::normalise)
    }

    /// `response.completed` (or `incomplete`, or an `error`) was written.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn dropped(&self) -> &Dropped {
        &self.dropped
    }

    /// An `error` event in sequence, for a stream the gateway must break
    /// off (the upstream went silent or away).
    pub fn error_event(&mut self, code: &str, message: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.error(&mut out, &code, &message, &None::<()>);
        out
    }

    fn event(&mut self, ev: &[u8], out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        let Some(payload) = data(ev) else {
            return;
        };
        if payload.as_ref() == b"[DONE]" {
            self.complete(out);
            return;
        }
        let Ok(c) = serde_json::from_slice::<Chunk>(&payload) else {
            self.dropped.push("unreadable event");
            return;
        };
        if let Some(e) = &c.error {
            let code = e.get("code").or(e.get("type"));
            self.error(out, &code, &e.get("message"), &e.get("param"));
            return;
        }
        if self.head.is_none() {
            self.open(&c, out);
        }
        if let Some(u) = c.usage {
            self.usage = Some(u);
        }
        let Some(choice) = c.choices.into_iter().next() else {
            return;
        };
        let d = choice.delta;
        if let Some(r) = d
            .reasoning_content
            .or(d.reasoning)
            .filter(|r| !r.is_empty())
        {
            self.delta(Kind::Reasoning, &r, out);
        }
        if let Some(t) = d.content.filter(|t| !t.is_empty()) {
            self.delta(Kind::Text, &t, out);
        }
        if let Some(t) = d.refusal.filter(|t| !t.is_empty()) {
            self.delta(Kind::Refusal, &t, out);
        }
        for call in d.tool_calls {
            self.call_delta(call, out);
        }
        if let Some(f) = choice.finish_reason {
            self.finish = Some(f);
        }
    }

    /// `response.created` and `response.in_progress`: one Response
    /// object, written once.
    fn open(&mut self, c: &Chunk, out: &mut Vec<u8>) {
        let model = c.model.as_deref().map_or(Value::Null, Value::from);
        let head = Head::from_chat(c.id.as_deref(), c.created, model);
        let mut r = Vec::with_capacity(1024);
        object::response(
            &mut r,
            &head,
            &self.echo,
            ("in_progress", None),
            None,
            |_| {},
        );
        self.head = Some(head);
        for name in ["response.created", "response.in_progress"] {
            let mut o = event(out, name);
            o.key("response").extend_from_slice(&r);
            end_event(o, self.next_seq(), None, name);
        }
    }

    /// The next event's `sequence_number`.
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq - 1
    }

    /// An `error` event, which ends the stream.
    fn error(
        &mut self,
        out: &mut Vec<u8>,
        code: &impl serde::Serialize,
        message: &impl serde::Serialize,
        param: &impl serde::Serialize,
    ) {
        let mut o = event(out, "error");
        o.json("code", code).json("message", message);
        o.json("param", param);
        end_event(o, self.next_seq(), None, "error");
        self.done = true;
    }
}

mod close;
mod items;

use close::write_item;
