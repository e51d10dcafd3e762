//! Upstream providers behind one trait: `openai` (any OpenAI-compatible base
//! URL), `anthropic` (the native Messages API) and `mock` (built in, offline).
//!
//! A provider takes the client's body as bytes (already pointed at the
//! upstream model) and returns the upstream's status, a few headers and the
//! body as a stream of byte chunks. It does not parse bodies: usage is read
//! by [`usage`] as the bytes pass through the gateway.

pub mod base_url;
pub mod health;
mod mock;
mod mock_responses;
mod mock_tools;
mod mock_validate;
mod remote;
pub mod retry_after;
pub mod usage;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;

use crate::config::{Config, ProviderKind};

pub use mock::MockProvider;
pub use remote::HttpProvider;

/// The API a request speaks; decides paths, auth headers and usage shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Embeddings,
    /// Anthropic's native Messages API.
    Messages,
    /// Anthropic's `POST /v1/messages/count_tokens` (free: no completion,
    /// no ledger entry).
    CountTokens,
    /// OpenAI's Responses API (`POST /v1/responses`).
    Responses,
}

impl Endpoint {
    /// The API's short name, as the ledger's `upstream_api` stores it.
    pub fn api(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "count_tokens",
            Endpoint::Responses => "responses",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
            Endpoint::Responses => "/v1/responses",
        }
    }
}

/// What the gateway sends upstream.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub endpoint: Endpoint,
    pub body: Bytes,
    pub stream: bool,
    /// The upstream model name (the mock echoes it back).
    pub model: String,
    /// `anthropic-version` and `anthropic-beta` from the client, passed on.
    pub anthropic_headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// A body as it arrives, chunk by chunk.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, UpstreamError>> + Send>>;

/// The upstream's answer: status and headers received, body still flowing.
pub struct UpstreamResponse {
    pub status: http::StatusCode,
    pub content_type: Option<http::HeaderValue>,
    pub upstream_request_id: Option<String>,
    /// How long the upstream asked to be left alone (`Retry-After` or a
    /// rate-limit reset header), read on every answer, used on a 429.
    pub retry_after: Option<Duration>,
    pub body: ByteStream,
}

/// How an upstream call failed. Labels are low-cardinality for metrics.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("provider `{provider}` is unreachable: {message}")]
    Connect { provider: String, message: String },
    /// The connection broke after the request was handed to it, before
    /// an answer: the upstream may have processed (and billed) it, so it
    /// is not sent again.
    #[error(
        "provider `{provider}` dropped the connection after the request was sent \
         (not retried, since it may have been processed): {message}"
    )]
    Dropped { provider: String, message: String },
    #[error("provider `{provider}` did not answer within {timeout:?}")]
    Timeout { provider: String, timeout: Duration },
    #[error("provider `{provider}` broke off the response: {message}")]
    Body { provider: String, message: String },
    #[error("provider `{provider}` is misconfigured: {message}")]
    Config { provider: String, message: String },
}

impl UpstreamError {
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "upstream_unreachable",
            UpstreamError::Dropped { .. } => "upstream_dropped",
            UpstreamError::Timeout { .. } => "upstream_timeout",
            UpstreamError::Body { .. } => "upstream_body",
            UpstreamError::Config { .. } => "provider_config",
        }
    }
}

/// One upstream. Object-safe so the gateway holds `Arc<dyn Provider>`.
pub trait Provider: Send + Sync {
    fn name(&self) -> &str;
    fn kind(&self) -> ProviderKind;
    /// Whether the upstream serves OpenAI's Responses API itself
    /// (`responses = true`): then `/v1/responses` passes through untouched
    /// rather than being translated to Chat Completions.
    fn responses(&self) -> bool {
        false
    }
    /// Sends one request once (one attempt): its answer's head, or how it
    /// failed. The gateway's routing loop decides on retries and failover.
    fn send(&self, req: UpstreamRequest) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>>;
    /// `max_retries`: attempts on this same upstream after the first, made
    /// only when no other deployment is left to fail over to.
    fn max_retries(&self) -> u32 {
        0
    }
    /// The pause before the `retry`-th retry (0-based) on this upstream.
    fn retry_delay(&self, retry: u32) -> Duration {
        let _ = retry;
        Duration::ZERO
    }
    /// A cheap reachability probe that never costs money (no completion).
    fn probe(&self) -> BoxFuture<'_, Result<Duration, UpstreamError>>;
}

/// Providers by name, built once from the config.
pub type Providers = BTreeMap<String, Arc<dyn Provider>>;

/// Builds every configured provider (HTTP clients are pooled per provider).
pub fn build(c: &Config) -> Result<Providers, UpstreamError> {
    let mut out: Providers = BTreeMap::new();
    for (name, p) in &c.providers {
        let provider: Arc<dyn Provider> = match p.kind {
            ProviderKind::Mock => Arc::new(MockProvider::new(name, p)),
            ProviderKind::Openai | ProviderKind::Anthropic => Arc::new(HttpProvider::new(name, p)?),
        };
        out.insert(name.clone(), provider);
    }
    Ok(out)
}
