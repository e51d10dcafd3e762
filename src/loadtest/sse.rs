//! Reading an OpenAI-style server-sent event stream as it arrives: when
//! content chunks came (for TTFT and inter-token gaps) and the output token
//! count from the final usage object. Chunks are counted apart and never
//! taken for tokens. It does not time anything itself; callers pass instants.

use std::time::Instant;

/// What one streamed answer looked like.
#[derive(Debug, Default)]
pub struct SseState {
    buf: Vec<u8>,
    /// Arrival of the first content chunk.
    pub first: Option<Instant>,
    /// Arrival of the latest content chunk.
    pub last: Option<Instant>,
    /// Gaps between consecutive content chunks, in microseconds.
    pub gaps_us: Vec<u64>,
    /// Content chunks seen.
    pub chunks: u64,
    /// `usage.completion_tokens` of the stream, when it sent one.
    pub tokens: Option<u64>,
}

impl SseState {
    /// Feeds bytes received at `at`; complete lines are handled now, a
    /// partial line waits for the next call.
    pub fn feed(&mut self, data: &[u8], at: Instant) {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.line(&line, at);
        }
    }

    fn line(&mut self, line: &[u8], at: Instant) {
        let Some(payload) = line.strip_prefix(b"data:") else {
            return;
        };
        let payload = payload.trim_ascii();
        if payload.is_empty() || payload == b"[DONE]" {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return;
        };
        if let Some(t) = v["usage"]["completion_tokens"].as_u64() {
            self.tokens = Some(t);
        }
        let has_content = v["choices"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| !c["delta"].is_null()));
        if has_content {
            self.chunks += 1;
            if let Some(prev) = self.last {
                self.gaps_us
                    .push(at.duration_since(prev).as_micros() as u64);
            }
            self.first.get_or_insert(at);
            self.last = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
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
}
