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

/// What the response cache did for a request (the `cache` column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// No cache applies (none configured, or rows from before the column).
    #[default]
    None,
    Hit,
    Miss,
    /// A cache applies but the request asked to skip it.
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::None => "none",
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
        }
    }

    /// The inverse of [`CacheStatus::as_str`], for reading rows back.
    pub fn parse(text: &str) -> Option<CacheStatus> {
        match text {
            "none" => Some(CacheStatus::None),
            "hit" => Some(CacheStatus::Hit),
            "miss" => Some(CacheStatus::Miss),
            "bypass" => Some(CacheStatus::Bypass),
            _ => None,
        }
    }
}

/// One row of `usage_entries`; its columns are declared in
/// [`super::columns`], and dead letters of older binaries (JSON) still
/// read, the newer fields taking the values rows had before they existed.
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
    /// The provider's API for the serving attempt: `chat`, `messages`,
    /// `responses`, `embeddings` (`None` on rows of older binaries).
    #[serde(default)]
    pub upstream_api: Option<String>,
    /// Upstream attempts made (routing); 0 when no deployment was available.
    #[serde(default = "one")]
    pub attempts: i32,
    /// Compact JSON: deployment and error label of each failed attempt.
    #[serde(default)]
    pub failed_attempts: Option<String>,
    /// What the client asked for, when a fallback model served.
    #[serde(default)]
    pub requested_model: Option<String>,
    /// The user's team at request time.
    #[serde(default)]
    pub team_id: Option<i64>,
    #[serde(default)]
    pub cache: CacheStatus,
    /// What a cache hit saved, in nano-units of the currency.
    #[serde(default)]
    pub saved_cost_nano: i64,
    /// Its place in this instance's hash chain: assigned by the writer once
    /// the entry is admitted, `None` before (and for rows written before
    /// the chain existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<super::chain::Link>,
}

fn one() -> i32 {
    1
}

/// A blank entry: what [`super::columns::Row::to_entry`] fills in, and a
/// base for tests. `attempts` is 1, as the column's default.
impl Default for Entry {
    fn default() -> Entry {
        Entry {
            request_id: String::new(),
            created_at_us: 0,
            client_request_id: None,
            upstream_request_id: None,
            user_id: None,
            user_name: None,
            api_key_id: None,
            endpoint: String::new(),
            model: String::new(),
            provider: String::new(),
            upstream_model: None,
            usage: Usage::default(),
            token_source: TokenSource::None,
            cost_nano: 0,
            latency_us: 0,
            upstream_latency_us: None,
            ttft_us: None,
            overhead_us: None,
            status_code: 0,
            streamed: false,
            error_kind: None,
            error_message: None,
            upstream_api: None,
            attempts: 1,
            failed_attempts: None,
            requested_model: None,
            team_id: None,
            cache: CacheStatus::None,
            saved_cost_nano: 0,
            chain: None,
        }
    }
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
            (&mut self.upstream_api, MAX_SHORT_TEXT),
            (&mut self.failed_attempts, MAX_ERROR_TEXT),
            (&mut self.requested_model, MAX_SHORT_TEXT),
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
