//! Anthropic's stream events into OpenAI chat completion chunks.
//!
//! Streamed text, thinking and tool-argument pieces are copied as the
//! escaped JSON strings they arrive as (`RawValue`), never unescaped and
//! escaped again; each chunk is a prefix built once at `message_start`
//! (id, created, model) plus the delta.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::events::{BlockStart, Delta, Event};
use super::{Direction, MessagesToChat, Outcome};
use crate::ledger::Usage;
use crate::translate::de::{is_empty_str, push_int, push_str};
use crate::translate::mapping;
use crate::translate::response::now_secs;
use crate::translate::sse::data;
use crate::translate::usage::OpenAiUsage;

#[derive(Debug, Default)]
pub struct State {
    include_usage: bool,
    /// `data: {"id":…,"object":…,"created":…,"model":…,` once known.
    prefix: Vec<u8>,
    /// Anthropic block index → OpenAI tool call index.
    tools: Vec<(u32, u32)>,
    outcome: Outcome,
}

impl MessagesToChat {
    /// `include_usage`: the client asked for the usage chunk
    /// ([`Translated::include_usage`](crate::translate::Translated)).
    pub fn new(include_usage: bool) -> Self {
        Self {
            st: State {
                include_usage,
                ..State::default()
            },
            ..Self::default()
        }
    }
}

impl Direction for State {
    const SLACK: usize = 128;

    fn event(&mut self, ev: &[u8], out: &mut Vec<u8>) {
        // The inherent `State::event` below (inherent methods win).
        State::event(self, ev, out);
    }

    fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

impl State {
    fn event(&mut self, ev: &[u8], out: &mut Vec<u8>) {
        let Some(payload) = data(ev) else {
            return;
        };
        let Ok(e) = serde_json::from_slice::<Event>(&payload) else {
            self.outcome.dropped.push("unreadable event");
            return;
        };
        match e.kind.as_ref() {
            "message_start" => {
                let m = e.message;
                let (id, model) = m.as_ref().map_or((None, None), |m| (m.id, m.model));
                self.set_prefix(id, model);
                if let Some(u) = m.and_then(|m| m.usage) {
                    u.apply(self.outcome.usage.get_or_insert_with(Usage::default));
                }
                self.chunk(
                    out,
                    |o| o.extend_from_slice(br#"{"role":"assistant","content":""}"#),
                    None,
                );
            }
            "content_block_start" => self.block_start(e.index, e.content_block, out),
            "content_block_delta" => self.delta(e.index, e.delta, out),
            "message_delta" => {
                if let Some(u) = e.usage {
                    u.apply(self.outcome.usage.get_or_insert_with(Usage::default));
                }
                let d = e.delta;
                if d.as_ref().is_some_and(|d| d.stop_sequence.is_some()) {
                    self.outcome.dropped.push("stop_sequence");
                }
                let reason = d.and_then(|d| d.stop_reason);
                let finish = mapping::finish_reason(reason.as_deref().unwrap_or("end_turn"));
                self.chunk(out, |o| o.extend_from_slice(b"{}"), Some(finish));
            }
            "message_stop" => {
                if self.include_usage {
                    let u = OpenAiUsage::from_usage(&self.outcome.usage.unwrap_or_default());
                    self.ensure_prefix();
                    out.extend_from_slice(&self.prefix);
                    out.extend_from_slice(br#""choices":[],"usage":"#);
                    let _ = serde_json::to_writer(&mut *out, &u);
                    out.extend_from_slice(b"}\n\n");
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.outcome.done = true;
            }
            // A comment keeps the connection alive; SSE clients skip it.
            "ping" => out.extend_from_slice(b": ping\n\n"),
            "error" => {
                let (kind, message) = e
                    .error
                    .map_or((Cow::Borrowed("api_error"), None), |b| (b.kind, b.message));
                let (_, openai_type) = mapping::openai_error(&kind, 500);
                out.extend_from_slice(br#"data: {"error":{"message":"#);
                match message {
                    Some(m) => out.extend_from_slice(m.get().as_bytes()),
                    None => out.extend_from_slice(b"\"\""),
                }
                out.extend_from_slice(br#","type":"#);
                push_str(out, openai_type);
                out.extend_from_slice(br#","param":null,"code":"#);
                push_str(out, &kind);
                out.extend_from_slice(b"}}\n\n");
                self.outcome.done = true;
            }
            // content_block_stop has no counterpart; newer events are skipped.
            _ => {}
        }
    }

    fn block_start(&mut self, index: u32, block: Option<BlockStart>, out: &mut Vec<u8>) {
        let Some(b) = block else { return };
        match b.kind.as_ref() {
            "text" => {
                if let Some(t) = b.text.filter(|t| !is_empty_str(t)) {
                    self.chunk(out, |o| content(o, b"content", t), None);
                }
            }
            "thinking" => {}
            "tool_use" => {
                let ti = self.tools.len() as u32;
                self.tools.push((index, ti));
                self.chunk(
                    out,
                    |o| {
                        o.extend_from_slice(br#"{"tool_calls":[{"index":"#);
                        push_int(o, ti.into());
                        o.extend_from_slice(br#","id":"#);
                        o.extend_from_slice(b.id.map_or("\"\"", |r| r.get()).as_bytes());
                        o.extend_from_slice(br#","type":"function","function":{"name":"#);
                        o.extend_from_slice(b.name.map_or("\"\"", |r| r.get()).as_bytes());
                        o.extend_from_slice(br#","arguments":""}}]}"#);
                    },
                    None,
                );
            }
            other => self.outcome.dropped.push(format!("content_block.{other}")),
        }
    }

    fn delta(&mut self, index: u32, delta: Option<Delta>, out: &mut Vec<u8>) {
        let Some(d) = delta else { return };
        match d.kind.as_deref().unwrap_or("") {
            "text_delta" => {
                if let Some(t) = d.text {
                    self.chunk(out, |o| content(o, b"content", t), None);
                }
            }
            "thinking_delta" => {
                if let Some(t) = d.thinking {
                    self.chunk(out, |o| content(o, b"reasoning_content", t), None);
                }
            }
            "input_json_delta" => {
                let Some(ti) = self
                    .tools
                    .iter()
                    .find(|(b, _)| *b == index)
                    .map(|(_, t)| *t)
                else {
                    return;
                };
                let Some(pj) = d.partial_json.filter(|p| !is_empty_str(p)) else {
                    return;
                };
                self.chunk(
                    out,
                    |o| {
                        o.extend_from_slice(br#"{"tool_calls":[{"index":"#);
                        push_int(o, ti.into());
                        o.extend_from_slice(br#","function":{"arguments":"#);
                        o.extend_from_slice(pj.get().as_bytes());
                        o.extend_from_slice(b"}}]}");
                    },
                    None,
                );
            }
            "signature_delta" => self.outcome.dropped.push("content[].signature"),
            other => self
                .outcome
                .dropped
                .push(format!("content_block_delta.{other}")),
        }
    }

    fn set_prefix(&mut self, id: Option<&RawValue>, model: Option<&RawValue>) {
        let p = &mut self.prefix;
        p.clear();
        p.extend_from_slice(br#"data: {"id":"#);
        p.extend_from_slice(id.map_or("\"\"", |r| r.get()).as_bytes());
        p.extend_from_slice(br#","object":"chat.completion.chunk","created":"#);
        push_int(p, now_secs() as i64);
        p.extend_from_slice(br#","model":"#);
        p.extend_from_slice(model.map_or("\"\"", |r| r.get()).as_bytes());
        p.push(b',');
    }

    fn ensure_prefix(&mut self) {
        if self.prefix.is_empty() {
            self.set_prefix(None, None);
        }
    }

    /// One chunk: the prefix, one choice with the delta `body` writes.
    fn chunk(&mut self, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>), finish: Option<&str>) {
        self.ensure_prefix();
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(br#""choices":[{"index":0,"delta":"#);
        body(out);
        out.extend_from_slice(br#","logprobs":null,"finish_reason":"#);
        match finish {
            Some(f) => push_str(out, f),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]}\n\n");
    }
}

/// `{"<field>":<raw string>}`.
fn content(out: &mut Vec<u8>, field: &[u8], raw: &RawValue) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(field);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(raw.get().as_bytes());
    out.push(b'}');
}
