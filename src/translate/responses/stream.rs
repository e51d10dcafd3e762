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

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::echo::Echo;
use super::item_id;
use super::object::{self, Head};
use crate::ledger::Usage;
use crate::translate::Dropped;
use crate::translate::de::{push_int, push_str};
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
    call_id: Value,
    name: Value,
    closed: bool,
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
        let body = json!({"code": code, "message": message, "param": null});
        self.emit(&mut out, "error", body);
        self.done = true;
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
            let body = json!({"code": e.get("code").or(e.get("type")), "message": e.get("message"),
                "param": e.get("param")});
            self.emit(out, "error", body);
            self.done = true;
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

    /// `response.created` and `response.in_progress`.
    fn open(&mut self, c: &Chunk, out: &mut Vec<u8>) {
        let model = c.model.as_deref().map(Value::from);
        let head = Head::from_chat(c.id.as_deref(), c.created, model.as_ref());
        let r = object::response(&head, &self.echo, "in_progress", None, Vec::new(), None);
        self.head = Some(head);
        self.emit(out, "response.created", json!({ "response": r }));
        self.emit(out, "response.in_progress", json!({ "response": r }));
    }

    fn response_id(&self) -> &str {
        self.head.as_ref().map_or("", |h| h.id.as_str())
    }

    /// The open item of `kind`, opening it (and closing the one before).
    fn item(&mut self, kind: Kind, call: Option<&ToolDelta>, out: &mut Vec<u8>) -> usize {
        if let Some(i) = self
            .items
            .iter()
            .position(|it| it.kind == kind && !it.closed)
        {
            return i;
        }
        if let Some(prev) = self.items.iter().position(|it| !it.closed) {
            self.close(prev, out);
        }
        let n = self.items.len();
        let prefix = match kind {
            Kind::Text | Kind::Refusal => "msg",
            Kind::Reasoning => "rs",
            Kind::Call(_) => "fc",
        };
        let id = item_id(prefix, self.response_id(), n);
        let item = Item {
            kind,
            id,
            text: String::new(),
            call_id: call
                .and_then(|c| c.id.clone())
                .map_or(Value::Null, Value::from),
            name: call
                .and_then(|c| c.function.as_ref()?.name.clone())
                .map_or(Value::Null, Value::from),
            closed: false,
        };
        let added = self.item_json(&item, "in_progress", true);
        self.items.push(item);
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": n, "item": added}),
        );
        if let Some(part) = empty_part(kind) {
            let body = json!({"item_id": self.items[n].id, "output_index": n, "content_index": 0,
                "part": part});
            self.emit(out, "response.content_part.added", body);
        }
        n
    }

    fn delta(&mut self, kind: Kind, text: &str, out: &mut Vec<u8>) {
        let n = self.item(kind, None, out);
        self.items[n].text.push_str(text);
        let name = match kind {
            Kind::Text => "response.output_text.delta",
            Kind::Refusal => "response.refusal.delta",
            _ => "response.reasoning_text.delta",
        };
        self.write_delta(out, name, n, true, text);
    }

    /// Writes one delta event by hand: the stream's hot path, one event
    /// per streamed piece.
    fn write_delta(&mut self, out: &mut Vec<u8>, name: &str, n: usize, part: bool, text: &str) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\",\"sequence_number\":");
        push_int(out, i64::try_from(self.seq).unwrap_or(i64::MAX));
        out.extend_from_slice(b",\"item_id\":");
        push_str(out, &self.items[n].id);
        out.extend_from_slice(b",\"output_index\":");
        push_int(out, i64::try_from(n).unwrap_or(i64::MAX));
        if part {
            out.extend_from_slice(b",\"content_index\":0");
        }
        out.extend_from_slice(b",\"delta\":");
        push_str(out, text);
        if name == "response.output_text.delta" {
            out.extend_from_slice(b",\"logprobs\":[]");
        }
        out.extend_from_slice(b"}\n\n");
        self.seq += 1;
    }

    fn call_delta(&mut self, call: ToolDelta, out: &mut Vec<u8>) {
        let kind = Kind::Call(call.index.unwrap_or(0));
        let n = match self.items.iter().position(|it| it.kind == kind) {
            Some(n) => n,
            None => self.item(kind, Some(&call), out),
        };
        let Some(args) = call
            .function
            .and_then(|f| f.arguments)
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        self.items[n].text.push_str(&args);
        self.write_delta(
            out,
            "response.function_call_arguments.delta",
            n,
            false,
            &args,
        );
    }
}

/// The empty content part a message or reasoning item opens with.
fn empty_part(kind: Kind) -> Option<Value> {
    match kind {
        Kind::Text => Some(object::text_part(Value::from(""))),
        Kind::Refusal => Some(json!({"type": "refusal", "refusal": ""})),
        Kind::Reasoning => Some(json!({"type": "reasoning_text", "text": ""})),
        Kind::Call(_) => None,
    }
}

mod close;
