//! OpenAI chat completion chunks into Anthropic's stream events.
//!
//! OpenAI's deltas carry no block structure, so this opens a block when the
//! kind of delta changes (reasoning → thinking, content → text, a new tool
//! call → tool_use) and closes it when the next opens or the choice
//! finishes. `message_delta` and `message_stop` wait for `[DONE]` (or the
//! end of the stream), because the usage chunk OpenAI sends when asked
//! comes after the one with `finish_reason`.

use serde_json::value::RawValue;

use super::events::{Chunk, ChunkDelta};
use super::{ChatToMessages, Direction, Outcome};
use crate::translate::de::{is_empty_str, push_int, push_str};
use crate::translate::mapping;
use crate::translate::sse::data;
use crate::translate::usage::AnthropicUsage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    Tool(u32),
}

#[derive(Debug, Default)]
pub struct State {
    started: bool,
    /// The block being written and its Anthropic index.
    open: Option<(Open, u32)>,
    next_index: u32,
    /// OpenAI tool call index → Anthropic block index.
    tools: Vec<(u32, u32)>,
    stop_reason: Option<&'static str>,
    outcome: Outcome,
}

impl ChatToMessages {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Direction for State {
    const SLACK: usize = 160;

    fn event(&mut self, ev: &[u8], out: &mut Vec<u8>) {
        // The inherent `State::event` below (inherent methods win).
        State::event(self, ev, out);
    }

    /// When the choice finished but `[DONE]` never came, closes the
    /// message.
    fn end(&mut self, out: &mut Vec<u8>) {
        if !self.outcome.done && self.stop_reason.is_some() {
            self.close_message(out);
        }
    }

    fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

impl State {
    fn event(&mut self, ev: &[u8], out: &mut Vec<u8>) {
        let Some(payload) = data(ev) else { return };
        if payload.as_ref() == b"[DONE]" {
            if !self.outcome.done {
                self.close_message(out);
            }
            return;
        }
        let Ok(c) = serde_json::from_slice::<Chunk>(&payload) else {
            self.outcome.dropped.push("unreadable event");
            return;
        };
        if let Some(e) = c.error {
            let status = 500;
            let (_, kind) = mapping::anthropic_error(status, e.kind.as_deref());
            write_event(out, b"error", |o| {
                o.extend_from_slice(br#"{"type":"error","error":{"type":"#);
                push_str(o, kind);
                o.extend_from_slice(br#","message":"#);
                o.extend_from_slice(e.message.map_or("\"\"", |m| m.get()).as_bytes());
                o.extend_from_slice(b"}}");
            });
            self.outcome.done = true;
            return;
        }
        if !self.started {
            self.start(c.id, c.model, out);
        }
        if let Some(u) = c.usage {
            self.outcome.usage = Some(u.normalise());
        }
        // One answer: a choice other than the first (n > 1) is not carried.
        let Some(choice) = c.choices.into_iter().find(|c| c.index == 0) else {
            return;
        };
        if let Some(d) = choice.delta {
            self.delta(d, out);
        }
        if let Some(f) = choice.finish_reason {
            self.close_block(out);
            self.stop_reason = Some(mapping::stop_reason(&f));
        }
    }

    fn start(&mut self, id: Option<&RawValue>, model: Option<&RawValue>, out: &mut Vec<u8>) {
        self.started = true;
        write_event(out, b"message_start", |o| {
            o.extend_from_slice(br#"{"type":"message_start","message":{"id":"#);
            o.extend_from_slice(id.map_or("\"\"", |r| r.get()).as_bytes());
            o.extend_from_slice(br#","type":"message","role":"assistant","model":"#);
            o.extend_from_slice(model.map_or("\"\"", |r| r.get()).as_bytes());
            o.extend_from_slice(
                br#","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}"#,
            );
        });
    }

    fn delta(&mut self, d: ChunkDelta, out: &mut Vec<u8>) {
        if let Some(r) = d.reasoning_content.or(d.reasoning).filter(|r| is_text(r)) {
            self.open(Open::Thinking, out);
            self.block_delta(out, br#"{"type":"thinking_delta","thinking":"#, r.get());
        }
        if let Some(t) = d.content.or(d.refusal).filter(|t| is_text(t)) {
            self.open(Open::Text, out);
            self.block_delta(out, br#"{"type":"text_delta","text":"#, t.get());
        }
        for tc in d.tool_calls {
            let known = self
                .tools
                .iter()
                .find(|(t, _)| *t == tc.index)
                .map(|(_, b)| *b);
            let f = tc.function;
            let index = match known {
                Some(b) => b,
                None => {
                    let name = f.as_ref().and_then(|f| f.name);
                    self.start_tool(tc.index, tc.id, name, out)
                }
            };
            if let Some(args) = f.and_then(|f| f.arguments).filter(|a| is_text(a)) {
                write_event(out, b"content_block_delta", |o| {
                    o.extend_from_slice(br#"{"type":"content_block_delta","index":"#);
                    push_int(o, index.into());
                    o.extend_from_slice(br#","delta":{"type":"input_json_delta","partial_json":"#);
                    o.extend_from_slice(args.get().as_bytes());
                    o.extend_from_slice(b"}}");
                });
            }
        }
    }

    fn start_tool(
        &mut self,
        tool: u32,
        id: Option<&RawValue>,
        name: Option<&RawValue>,
        out: &mut Vec<u8>,
    ) -> u32 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.tools.push((tool, index));
        self.open = Some((Open::Tool(tool), index));
        write_event(out, b"content_block_start", |o| {
            o.extend_from_slice(br#"{"type":"content_block_start","index":"#);
            push_int(o, index.into());
            o.extend_from_slice(br#","content_block":{"type":"tool_use","id":"#);
            o.extend_from_slice(id.map_or("\"\"", |r| r.get()).as_bytes());
            o.extend_from_slice(br#","name":"#);
            o.extend_from_slice(name.map_or("\"\"", |r| r.get()).as_bytes());
            o.extend_from_slice(br#","input":{}}}"#);
        });
        index
    }

    /// Makes `kind` the open block, closing another first.
    fn open(&mut self, kind: Open, out: &mut Vec<u8>) {
        if self.open.is_some_and(|(k, _)| k == kind) {
            return;
        }
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((kind, index));
        let block: &[u8] = match kind {
            Open::Thinking => br#"{"type":"thinking","thinking":"","signature":""}"#,
            _ => br#"{"type":"text","text":""}"#,
        };
        write_event(out, b"content_block_start", |o| {
            o.extend_from_slice(br#"{"type":"content_block_start","index":"#);
            push_int(o, index.into());
            o.extend_from_slice(br#","content_block":"#);
            o.extend_from_slice(block);
            o.push(b'}');
        });
    }

    fn block_delta(&mut self, out: &mut Vec<u8>, head: &[u8], raw: &str) {
        let index = self.open.map_or(0, |(_, i)| i);
        write_event(out, b"content_block_delta", |o| {
            o.extend_from_slice(br#"{"type":"content_block_delta","index":"#);
            push_int(o, index.into());
            o.extend_from_slice(br#","delta":"#);
            o.extend_from_slice(head);
            o.extend_from_slice(raw.as_bytes());
            o.extend_from_slice(b"}}");
        });
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        let Some((_, index)) = self.open.take() else {
            return;
        };
        write_event(out, b"content_block_stop", |o| {
            o.extend_from_slice(br#"{"type":"content_block_stop","index":"#);
            push_int(o, index.into());
            o.push(b'}');
        });
    }

    fn close_message(&mut self, out: &mut Vec<u8>) {
        self.close_block(out);
        let usage = AnthropicUsage::from_usage(&self.outcome.usage.unwrap_or_default());
        let reason = self.stop_reason.unwrap_or("end_turn");
        write_event(out, b"message_delta", |o| {
            o.extend_from_slice(br#"{"type":"message_delta","delta":{"stop_reason":"#);
            push_str(o, reason);
            o.extend_from_slice(br#","stop_sequence":null},"usage":"#);
            let _ = serde_json::to_writer(&mut *o, &usage);
            o.push(b'}');
        });
        write_event(out, b"message_stop", |o| {
            o.extend_from_slice(br#"{"type":"message_stop"}"#)
        });
        self.outcome.done = true;
    }
}

/// A non-empty JSON string (OpenAI sends `""` and `null` freely).
fn is_text(raw: &RawValue) -> bool {
    raw.get().starts_with('"') && !is_empty_str(raw)
}

/// `event: <name>\ndata: <json>\n\n`.
fn write_event(out: &mut Vec<u8>, name: &[u8], data: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\ndata: ");
    data(out);
    out.extend_from_slice(b"\n\n");
}
