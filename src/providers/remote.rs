//! The HTTP providers: OpenAI-compatible and Anthropic, one pooled reqwest
//! client each, with retries (exponential backoff with jitter) on connect
//! errors, 429 and 5xx while nothing has reached the client yet.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use rand::Rng;

use super::{Endpoint, Provider, UpstreamError, UpstreamRequest, UpstreamResponse};
use crate::config::{ProviderConfig, ProviderKind};

/// An upstream reached over HTTP.
pub struct HttpProvider {
    name: String,
    kind: ProviderKind,
    base_url: String,
    /// Upstream URLs parsed once: chat completions, embeddings, messages.
    urls: [reqwest::Url; 3],
    api_key: Option<String>,
    client: reqwest::Client,
    timeout: Duration,
    max_retries: u32,
    retry_base: Duration,
}

impl HttpProvider {
    pub fn new(name: &str, cfg: &ProviderConfig) -> Result<Self, UpstreamError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| UpstreamError::Config {
                provider: name.to_string(),
                message: e.to_string(),
            })?;
        let api_key = if cfg.api_key_env.is_empty() {
            None
        } else {
            std::env::var(&cfg.api_key_env)
                .ok()
                .filter(|k| !k.is_empty())
        };
        let base_url = cfg.base_url.trim_end_matches('/').to_string();
        let parse = |tail: &str| {
            reqwest::Url::parse(&format!("{base_url}{tail}")).map_err(|e| UpstreamError::Config {
                provider: name.to_string(),
                message: format!("base_url `{base_url}` does not make a URL: {e}"),
            })
        };
        let urls = [
            parse("/chat/completions")?,
            parse("/embeddings")?,
            parse("/messages")?,
        ];
        Ok(Self {
            name: name.to_string(),
            kind: cfg.kind,
            base_url,
            urls,
            api_key,
            client,
            timeout: Duration::from_millis(cfg.timeout_ms),
            max_retries: cfg.max_retries,
            retry_base: Duration::from_millis(cfg.retry_base_ms),
        })
    }

    /// The upstream URL: the base URL carries the version path (`…/v1`).
    fn url(&self, endpoint: Endpoint) -> reqwest::Url {
        let i = match endpoint {
            Endpoint::ChatCompletions => 0,
            Endpoint::Embeddings => 1,
            Endpoint::Messages => 2,
        };
        self.urls[i].clone()
    }

    fn request(&self, req: &UpstreamRequest) -> reqwest::RequestBuilder {
        let mut b = self
            .client
            .post(self.url(req.endpoint))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(req.body.clone());
        match self.kind {
            ProviderKind::Anthropic => {
                if let Some(k) = &self.api_key {
                    b = b.header("x-api-key", k);
                }
                let mut has_version = false;
                for (n, v) in &req.anthropic_headers {
                    has_version |= n.as_str() == "anthropic-version";
                    b = b.header(n, v);
                }
                if !has_version {
                    b = b.header("anthropic-version", "2023-06-01");
                }
            }
            _ => {
                if let Some(k) = &self.api_key {
                    b = b.bearer_auth(k);
                }
            }
        }
        b
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.retry_base.saturating_mul(1u32 << attempt.min(10));
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        base.mul_f64(jitter)
    }

    async fn send_inner(&self, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = tokio::time::timeout(self.timeout, self.request(&req).send()).await;
            let retryable_left = attempt < self.max_retries;
            match result {
                Err(_) => {
                    return Err(UpstreamError::Timeout {
                        provider: self.name.clone(),
                        timeout: self.timeout,
                    });
                }
                Ok(Err(e)) => {
                    if retryable_left && (e.is_connect() || e.is_request()) {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    if e.is_timeout() {
                        return Err(UpstreamError::Timeout {
                            provider: self.name.clone(),
                            timeout: started.elapsed(),
                        });
                    }
                    return Err(UpstreamError::Connect {
                        provider: self.name.clone(),
                        message: root_cause(&e),
                    });
                }
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    if retryable_left && (status.as_u16() == 429 || status.is_server_error()) {
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Ok(self.wrap(resp));
                }
            }
        }
    }

    fn wrap(&self, resp: reqwest::Response) -> UpstreamResponse {
        let headers = resp.headers();
        let upstream_request_id = ["x-request-id", "request-id", "anthropic-request-id"]
            .iter()
            .find_map(|h| headers.get(*h))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = headers.get(http::header::CONTENT_TYPE).cloned();
        let status = resp.status();
        let provider = self.name.clone();
        let body = resp.bytes_stream().map(move |r| {
            r.map_err(|e| UpstreamError::Body {
                provider: provider.clone(),
                message: root_cause(&e),
            })
        });
        UpstreamResponse {
            status,
            content_type,
            upstream_request_id,
            body: Box::pin(body),
        }
    }
}

/// The innermost cause of a reqwest error ("connection refused"), which is
/// what an operator needs, rather than reqwest's generic outer message.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

impl Provider for HttpProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn send(&self, req: UpstreamRequest) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        Box::pin(self.send_inner(req))
    }

    /// Opens a TCP connection to the upstream's host: proves reachability
    /// without spending tokens.
    fn probe(&self) -> BoxFuture<'_, Result<Duration, UpstreamError>> {
        Box::pin(async move {
            let fail = |message: String| UpstreamError::Connect {
                provider: self.name.clone(),
                message,
            };
            let url = url::Url::parse(&self.base_url).map_err(|e| fail(e.to_string()))?;
            let host = url
                .host_str()
                .ok_or_else(|| fail("no host".into()))?
                .to_string();
            let port = url.port_or_known_default().unwrap_or(443);
            let start = Instant::now();
            tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            .map_err(|_| UpstreamError::Timeout {
                provider: self.name.clone(),
                timeout: Duration::from_secs(5),
            })?
            .map_err(|e| fail(e.to_string()))?;
            Ok(start.elapsed())
        })
    }
}
