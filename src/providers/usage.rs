//! Reading usage out of bodies as they pass, and normalising it.
//!
//! Providers count differently: OpenAI's `prompt_tokens` include cached
//! tokens and `completion_tokens` include reasoning; Anthropic's
//! `input_tokens` exclude cache reads and writes. Both map into [`Usage`]:
//! `input_tokens` is uncached input only, `reasoning_tokens` is a part of
//! `output_tokens`. The usage objects and their normalisation are the
//! translator's ([`crate::translate::usage`]), one definition for both.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;

use crate::ledger::Usage;
use crate::translate::responses::usage::{ResponseUsage, StreamEvent};
use crate::translate::usage::{AnthropicUsage, OpenAiUsage};

/// Which shape a body's usage has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    OpenAi,
    Anthropic,
    /// OpenAI's Responses API: errors in OpenAI's shape, usage in the
    /// final response's event.
    Responses,
}

/// Usage from a complete (non-streamed) response body.
pub fn from_body(shape: Shape, body: &[u8]) -> Option<Usage> {
    match shape {
        Shape::OpenAi => {
            #[derive(Deserialize)]
            struct B {
                usage: Option<OpenAiUsage>,
            }
            serde_json::from_slice::<B>(body)
                .ok()?
                .usage
                .map(|u| u.normalise())
        }
        Shape::Anthropic => {
            #[derive(Deserialize)]
            struct B {
                usage: Option<AnthropicUsage>,
            }
            let mut u = Usage::default();
            serde_json::from_slice::<B>(body).ok()?.usage?.apply(&mut u);
            Some(u)
        }
        Shape::Responses => {
            let r: ResponseUsage = serde_json::from_slice(body).ok()?;
            r.usage.map(|u| u.normalise())
        }
    }
}

/// Watches a server-sent-event stream as it passes: finds the usage report,
/// counts streamed text for an estimate when none comes, and can remove
/// OpenAI's usage chunk when the gateway asked for it and the client did not.
pub struct StreamMeter {
    shape: Shape,
    drop_usage_chunk: bool,
    pending: BytesMut,
    usage: Option<Usage>,
    streamed_chars: usize,
    /// Events seen, for tests and diagnostics.
    pub events: usize,
}

impl StreamMeter {
    pub fn new(shape: Shape, drop_usage_chunk: bool) -> Self {
        Self {
            shape,
            drop_usage_chunk,
            pending: BytesMut::new(),
            usage: None,
            streamed_chars: 0,
            events: 0,
        }
    }

    /// Feeds one chunk; returns the bytes to forward to the client.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        self.pending.extend_from_slice(&chunk);
        let mut kept = BytesMut::new();
        while let Some(end) = find_event_end(&self.pending) {
            let event = self.pending.split_to(end);
            let keep = self.inspect(&event);
            if self.drop_usage_chunk && keep {
                kept.extend_from_slice(&event);
            }
        }
        if self.drop_usage_chunk {
            kept.freeze()
        } else {
            chunk
        }
    }

    /// Bytes held back at the end of the stream (an unterminated event).
    pub fn finish(&mut self) -> Bytes {
        let rest = self.pending.split().freeze();
        if !rest.is_empty() {
            self.inspect(&rest);
        }
        if self.drop_usage_chunk {
            rest
        } else {
            Bytes::new()
        }
    }

    /// The usage reported by the upstream, if it came.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// An estimate from the streamed text (about four characters a token).
    pub fn estimated_output_tokens(&self) -> i64 {
        self.streamed_chars.div_ceil(4) as i64
    }

    /// Reads one event; returns whether it should reach the client.
    fn inspect(&mut self, event: &[u8]) -> bool {
        self.events += 1;
        let Some(data) = data_of(event) else {
            return true;
        };
        if data == b"[DONE]" {
            return true;
        }
        match self.shape {
            Shape::OpenAi => {
                #[derive(Deserialize)]
                struct Delta {
                    content: Option<String>,
                }
                #[derive(Deserialize)]
                struct Choice {
                    delta: Option<Delta>,
                }
                #[derive(Deserialize)]
                struct Chunk {
                    #[serde(default)]
                    choices: Vec<Choice>,
                    usage: Option<OpenAiUsage>,
                }
                let Ok(c) = serde_json::from_slice::<Chunk>(data) else {
                    return true;
                };
                for ch in &c.choices {
                    if let Some(text) = ch.delta.as_ref().and_then(|d| d.content.as_ref()) {
                        self.streamed_chars += text.chars().count();
                    }
                }
                if let Some(u) = c.usage {
                    self.usage = Some(u.normalise());
                    // The usage-only chunk has no choices; drop it when asked.
                    return !(self.drop_usage_chunk && c.choices.is_empty());
                }
                true
            }
            Shape::Anthropic => {
                #[derive(Deserialize)]
                struct Message {
                    usage: Option<AnthropicUsage>,
                }
                #[derive(Deserialize)]
                struct TextDelta {
                    text: Option<String>,
                }
                #[derive(Deserialize)]
                struct Event {
                    message: Option<Message>,
                    usage: Option<AnthropicUsage>,
                    delta: Option<TextDelta>,
                }
                let Ok(e) = serde_json::from_slice::<Event>(data) else {
                    return true;
                };
                if let Some(u) = e.message.and_then(|m| m.usage) {
                    u.apply(self.usage.get_or_insert_with(Usage::default));
                }
                if let Some(u) = e.usage {
                    u.apply(self.usage.get_or_insert_with(Usage::default));
                }
                if let Some(t) = e.delta.and_then(|d| d.text) {
                    self.streamed_chars += t.chars().count();
                }
                true
            }
            Shape::Responses => {
                let Ok(e) = serde_json::from_slice::<StreamEvent>(data) else {
                    return true;
                };
                if let Some(u) = e.response.and_then(|r| r.usage) {
                    self.usage = Some(u.normalise());
                }
                if let Some(t) = e.delta {
                    self.streamed_chars += t.chars().count();
                }
                true
            }
        }
    }
}

/// End (exclusive) of the first complete event: a blank line.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The `data:` payload of an event (single-line data, as LLM APIs send).
fn data_of(event: &[u8]) -> Option<&[u8]> {
    event.split(|b| *b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line.strip_prefix(b"data:")?;
        Some(rest.strip_prefix(b" ").unwrap_or(rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_usage_is_normalised() {
        let body = br#"{"usage":{"prompt_tokens":100,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":20}}}"#;
        let u = from_body(Shape::OpenAi, body).unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (60, 40, 50, 20)
        );
    }

    #[test]
    fn anthropic_usage_is_normalised() {
        let body = br#"{"usage":{"input_tokens":10,"output_tokens":7,"cache_creation_input_tokens":3,"cache_read_input_tokens":90}}"#;
        let u = from_body(Shape::Anthropic, body).unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_write_tokens,
                u.output_tokens
            ),
            (10, 90, 3, 7)
        );
    }

    #[test]
    fn stream_usage_chunk_is_found_and_dropped_across_chunk_borders() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        let mut m = StreamMeter::new(Shape::OpenAi, true);
        let mut out = Vec::new();
        for piece in stream.as_bytes().chunks(7) {
            out.extend_from_slice(&m.feed(Bytes::copy_from_slice(piece)));
        }
        out.extend_from_slice(&m.finish());
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("usage"), "{out}");
        assert!(out.contains("hello") && out.ends_with("data: [DONE]\n\n"));
        assert_eq!(m.usage().unwrap().input_tokens, 5);
        assert_eq!(m.estimated_output_tokens(), 2);
    }

    #[test]
    fn responses_usage_is_read_from_the_final_event() {
        let body = br#"{"object":"response","usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":10},"output_tokens":8,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":38}}"#;
        let u = from_body(Shape::Responses, body).unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (20, 10, 8, 3)
        );
        let stream = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"hello\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":2}}}\n\n";
        let mut m = StreamMeter::new(Shape::Responses, false);
        let passed = m.feed(Bytes::from(stream));
        assert_eq!(passed.len(), stream.len());
        assert_eq!(m.usage().unwrap().input_tokens, 7);
        assert_eq!(m.estimated_output_tokens(), 2);
    }

    #[test]
    fn anthropic_stream_usage_accumulates() {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n";
        let mut m = StreamMeter::new(Shape::Anthropic, false);
        let passed = m.feed(Bytes::from(stream));
        assert_eq!(passed.len(), stream.len());
        let u = m.usage().unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (9, 15));
    }
}
