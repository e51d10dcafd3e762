//! One usage entry: what a request cost, how long it took, how it ended.
//!
//! Built by the gateway when a request completes and handed to the writer.
//! Token counts are normalised across providers (see `Usage`); strings that
//! come from clients or upstreams are cleaned by [`Entry::sanitize`] so that
//! no row can make a batch insert fail.

use serde::{Deserialize, Serialize};

/// Longest stored model name, client request id or upstream request id.
pub const MAX_SHORT_TEXT: usize = 256;
/// Longest stored error message.
pub const MAX_ERROR_TEXT: usize = 2048;

/// Normalised token counts. `input_tokens` excludes cached reads and cache
/// writes; `reasoning_tokens` is a part of `output_tokens`, not added to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
}

impl Usage {
    /// The five counts in declaration order, for encodings that write them
    /// one after another (the chain's canonical form, spool records).
    pub fn counts(&self) -> [i64; 5] {
        [
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
        ]
    }
}

/// Where an entry's token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// Reported by the upstream.
    Provider,
    /// Counted by the gateway from what was streamed (no usage arrived).
    Estimated,
    /// The request ended early (client disconnect, upstream cut): tokens so far.
    Partial,
    /// No tokens apply (the request failed before any usage).
    None,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Provider => "provider",
            TokenSource::Estimated => "estimated",
            TokenSource::Partial => "partial",
            TokenSource::None => "none",
        }
    }

    /// The inverse of [`TokenSource::as_str`], for reading rows back.
    pub fn parse(text: &str) -> Option<TokenSource> {
        match text {
            "provider" => Some(TokenSource::Provider),
            "estimated" => Some(TokenSource::Estimated),
            "partial" => Some(TokenSource::Partial),
            "none" => Some(TokenSource::None),
            _ => None,
        }
    }
}

/// One row of `usage_entries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Made by the gateway (UUIDv7, time-ordered); inserts are idempotent on it.
    pub request_id: String,
    pub created_at_us: i64,
    /// The client's own `x-request-id`, never used as the key.
    pub client_request_id: Option<String>,
    pub upstream_request_id: Option<String>,
    pub user_id: Option<i64>,
    pub user_name: Option<String>,
    pub api_key_id: Option<i64>,
    /// The route, e.g. `/v1/chat/completions`.
    pub endpoint: String,
    pub model: String,
    pub provider: String,
    pub upstream_model: Option<String>,
    pub usage: Usage,
    pub token_source: TokenSource,
    /// Cost in nano-units of the configured currency, computed once at record time.
    pub cost_nano: i64,
    pub latency_us: i64,
    pub upstream_latency_us: Option<i64>,
    pub ttft_us: Option<i64>,
    /// The gateway's own time: total minus upstream.
    pub overhead_us: Option<i64>,
    pub status_code: i32,
    pub streamed: bool,
    /// A low-cardinality label, e.g. `upstream_timeout`, `client_closed`.
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    /// Its place in this instance's hash chain: assigned by the writer once
    /// the entry is admitted, `None` before (and for rows written before
    /// the chain existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<super::chain::Link>,
}

impl Entry {
    /// Removes NUL bytes and caps the length of every free-text field, so
    /// that neither backend can refuse the row.
    pub fn sanitize(&mut self) {
        clean(&mut self.model, MAX_SHORT_TEXT);
        clean(&mut self.provider, MAX_SHORT_TEXT);
        clean(&mut self.endpoint, MAX_SHORT_TEXT);
        for (field, cap) in [
            (&mut self.client_request_id, MAX_SHORT_TEXT),
            (&mut self.upstream_request_id, MAX_SHORT_TEXT),
            (&mut self.user_name, MAX_SHORT_TEXT),
            (&mut self.upstream_model, MAX_SHORT_TEXT),
            (&mut self.error_kind, MAX_SHORT_TEXT),
            (&mut self.error_message, MAX_ERROR_TEXT),
        ] {
            if let Some(s) = field.as_mut() {
                clean(s, cap);
            }
        }
    }
}

/// Drops NUL bytes and truncates to at most `cap` bytes on a char boundary.
pub fn clean(s: &mut String, cap: usize) {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
    if s.len() > cap {
        let mut end = cap;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_nul_and_caps_on_char_boundary() {
        let mut s = "a\0b".to_string();
        clean(&mut s, 10);
        assert_eq!(s, "ab");
        let mut s = "ééé".to_string(); // 6 bytes
        clean(&mut s, 3);
        assert_eq!(s, "é");
    }

    #[test]
    fn token_source_round_trips_through_text() {
        for t in [
            TokenSource::Provider,
            TokenSource::Estimated,
            TokenSource::Partial,
            TokenSource::None,
        ] {
            assert_eq!(TokenSource::parse(t.as_str()), Some(t));
        }
        assert_eq!(TokenSource::parse("Provider"), None);
    }
}
