//! Reading a server-sent event stream as it arrives: when token chunks came
//! (for TTFT and inter-token gaps) and the output token count from the
//! stream's usage object. Chunks are counted apart and never taken for
//! tokens. It does not time anything itself; callers pass instants.
//!
//! A *token chunk* is an event that carries generated output, not any event
//! with a `delta`: OpenAI's first chunk is usually role-only
//! (`{"delta":{"role":"assistant","content":""}}`), sent before the model
//! has produced anything, and counting it would turn time to first token
//! into time to first byte. So a chunk counts when it has non-empty
//! `delta.content`, `delta.reasoning_content`/`delta.reasoning`,
//! `delta.refusal` or `delta.tool_calls` (OpenAI-compatible), or is an
//! Anthropic `content_block_delta` with non-empty `text`, `thinking` or
//! `partial_json`.

use std::time::Instant;

use serde_json::Value;

/// What one streamed answer looked like.
#[derive(Debug, Default)]
pub struct SseState {
    buf: Vec<u8>,
    /// Arrival of the first token chunk.
    pub first: Option<Instant>,
    /// Arrival of the latest token chunk.
    pub last: Option<Instant>,
    /// Gaps between consecutive token chunks, in microseconds.
    pub gaps_us: Vec<u64>,
    /// Token chunks seen (not tokens: a chunk may carry several).
    pub chunks: u64,
    /// Output tokens from the stream's usage object, when it sent one:
    /// OpenAI's `usage.completion_tokens`, Anthropic's `usage.output_tokens`
    /// (the last one seen wins: Anthropic's is cumulative).
    pub tokens: Option<u64>,
}

impl SseState {
    /// Feeds bytes received at `at`; complete lines are handled now, a
    /// partial line waits for the next call.
    pub fn feed(&mut self, data: &[u8], at: Instant) {
        self.buf.extend_from_slice(data);
        let mut from = 0;
        while let Some(pos) = self.buf[from..].iter().position(|&b| b == b'\n') {
            let end = from + pos;
            let event = parse(&self.buf[from..end]);
            if let Some(e) = event {
                self.event(&e, at);
            }
            from = end + 1;
        }
        self.buf.drain(..from);
    }

    fn event(&mut self, v: &Value, at: Instant) {
        if let Some(t) = v["usage"]["completion_tokens"]
            .as_u64()
            .or_else(|| v["usage"]["output_tokens"].as_u64())
        {
            self.tokens = Some(t);
        }
        if !carries_output(v) {
            return;
        }
        self.chunks += 1;
        if let Some(prev) = self.last {
            self.gaps_us
                .push(at.duration_since(prev).as_micros() as u64);
        }
        self.first.get_or_insert(at);
        self.last = Some(at);
    }
}

/// The JSON of a `data:` line, if it is one (not `[DONE]`, not a comment).
fn parse(line: &[u8]) -> Option<Value> {
    let payload = line.strip_prefix(b"data:")?.trim_ascii();
    if payload.is_empty() || payload == b"[DONE]" {
        return None;
    }
    serde_json::from_slice(payload).ok()
}

/// Whether an event carries generated output (see the module docs).
fn carries_output(v: &Value) -> bool {
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    if v["type"] == "content_block_delta" {
        let d = &v["delta"];
        return text(&d["text"]) || text(&d["thinking"]) || text(&d["partial_json"]);
    }
    v["choices"].as_array().is_some_and(|choices| {
        choices.iter().any(|c| {
            let d = &c["delta"];
            text(&d["content"])
                || text(&d["reasoning_content"])
                || text(&d["reasoning"])
                || text(&d["refusal"])
                || d["tool_calls"].as_array().is_some_and(|t| !t.is_empty())
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn chunks_and_usage_are_counted_apart() {
        let mut s = SseState::default();
        let t = Instant::now();
        let chunk = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
        s.feed(&chunk[..10], t);
        s.feed(&chunk[10..], t);
        s.feed(chunk, t);
        s.feed(
            b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":7}}\n\ndata: [DONE]\n\n",
            t,
        );
        assert_eq!(s.chunks, 2);
        assert_eq!(s.tokens, Some(7));
        assert_eq!(s.gaps_us.len(), 1);
    }

    #[test]
    fn a_role_only_first_chunk_is_not_a_token() {
        let mut s = SseState::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(300);
        s.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            t0,
        );
        s.feed(b"data: {\"choices\":[{\"delta\":{}}]}\n\n", t0);
        assert_eq!((s.first, s.chunks), (None, 0), "no output yet");
        s.feed(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
            t1,
        );
        assert_eq!(s.first, Some(t1));
        assert_eq!(s.chunks, 1);
        assert!(s.gaps_us.is_empty());
    }

    #[test]
    fn reasoning_and_tool_calls_are_output() {
        for ev in [
            "{\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}",
            "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}",
        ] {
            let mut s = SseState::default();
            s.feed(format!("data: {ev}\n").as_bytes(), Instant::now());
            assert_eq!(s.chunks, 1, "{ev}");
        }
        let mut s = SseState::default();
        s.feed(
            b"data: {\"choices\":[{\"delta\":{\"tool_calls\":[]}}]}\n",
            Instant::now(),
        );
        assert_eq!(s.chunks, 0);
    }

    #[test]
    fn anthropic_streams_count_content_block_deltas() {
        let mut s = SseState::default();
        let t = Instant::now();
        s.feed(
            concat!(
                "event: message_start\n",
                "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
                "event: content_block_start\n",
                "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: ping\ndata: {\"type\":\"ping\"}\n\n",
                "event: content_block_delta\n",
                "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
                "event: content_block_delta\n",
                "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"}}\n\n",
                "event: message_delta\n",
                "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":12}}\n\n",
            )
            .as_bytes(),
            t,
        );
        assert_eq!(s.chunks, 2);
        assert_eq!(s.tokens, Some(12));
    }
}
