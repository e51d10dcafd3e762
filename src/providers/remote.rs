//! The HTTP providers: OpenAI-compatible and Anthropic, one pooled HTTP
//! client each. One `send` is one attempt; the gateway's routing loop
//! retries (exponential backoff with jitter, [`Provider::retry_delay`]) on
//! connect errors, 429 and 5xx while nothing has reached the client yet.
//!
//! A transport failure is classified so that it is retried only when the request provably never
//! reached the upstream (see [`never_sent`]): a completion that the
//! upstream received may be billed by the provider even if its answer is
//! lost, and a second copy would be billed again while the ledger records
//! one entry. A connection that breaks after the request was written (the
//! upstream reset it, closed it, or died) is a 502 at once.
//!
//! The client is hyper-util's pooled client over rustls: on the gateway's
//! hot path it costs ~25 µs less CPU per request than reqwest, which adds
//! URL handling, its own header maps and middleware on top of the same
//! hyper connection (docs/benchmarks-history.md, "The upstream client"). An upstream
//! that the environment routes through a proxy (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, minus `NO_PROXY`) is reached with reqwest instead, which
//! implements proxies.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::Rng;

use super::{ByteStream, Endpoint, Provider, UpstreamError, UpstreamRequest, UpstreamResponse};
use crate::config::{ProviderConfig, ProviderKind, Secret};

/// Longest wait for the probe's answer.
const PROBE_WAIT: Duration = Duration::from_secs(5);

type Direct = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How requests reach the upstream.
enum Transport {
    /// hyper-util's pooled client: the fast path.
    Direct(Box<Direct>),
    /// reqwest, for an upstream behind a proxy from the environment.
    Proxied(reqwest::Client),
}

/// An upstream reached over HTTP.
pub struct HttpProvider {
    name: String,
    kind: ProviderKind,
    /// Upstream URLs parsed once: chat completions, embeddings, messages,
    /// and the model list the probe asks for.
    urls: [http::Uri; 6],
    /// `responses = true`: the upstream serves `/responses` itself.
    responses: bool,
    /// `api_key_env`, named when the probe finds the key refused.
    key_env: String,
    /// Sent with every request: the content type and the provider's key.
    headers: HeaderMap,
    transport: Transport,
    timeout: Duration,
    max_retries: u32,
    retry_base: Duration,
}

/// The upstream's answer head and body, whichever client fetched it.
struct Answer {
    status: http::StatusCode,
    headers: HeaderMap,
    body: ByteStream,
}

/// A request that got no answer head.
struct Failure {
    message: String,
    timed_out: bool,
    /// The request provably never reached the upstream, so sending it
    /// again cannot make the provider do (and bill) the work twice.
    retryable: bool,
}

impl HttpProvider {
    pub fn new(name: &str, cfg: &ProviderConfig) -> Result<Self, UpstreamError> {
        let config_error = |message: String| UpstreamError::Config {
            provider: name.to_string(),
            message,
        };
        let base_url = super::base_url::normalise(cfg.kind, &cfg.base_url);
        let parse = |tail: &str| {
            url::Url::parse(&format!("{base_url}{tail}"))
                .map_err(|e| e.to_string())
                .and_then(|u| u.as_str().parse::<http::Uri>().map_err(|e| e.to_string()))
                .map_err(|e| {
                    config_error(format!("base_url `{base_url}` does not make a URL: {e}"))
                })
        };
        let urls = [
            parse("/chat/completions")?,
            parse("/embeddings")?,
            parse("/messages")?,
            parse("/models")?,
            parse("/messages/count_tokens")?,
            parse("/responses")?,
        ];
        let headers = fixed_headers(cfg).map_err(config_error)?;
        let connect_timeout = Duration::from_millis(cfg.connect_timeout_ms);
        let transport = if Matcher::from_env().intercept(&urls[0]).is_some() {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
                .pool_idle_timeout(Duration::from_millis(cfg.pool_idle_timeout_ms))
                .connect_timeout(connect_timeout)
                .tcp_nodelay(true)
                .build()
                .map_err(|e| config_error(e.to_string()))?;
            Transport::Proxied(client)
        } else {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(connect_timeout));
            let tls = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
                .map_err(|e| config_error(format!("TLS set-up: {e}")))?
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(http);
            let client = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
                .pool_idle_timeout(Duration::from_millis(cfg.pool_idle_timeout_ms))
                .pool_timer(TokioTimer::new())
                // A request handed a pooled connection that turns out to
                // be closed before any byte of it was written is sent again
                // on another connection by hyper-util itself (its default,
                // stated here because `send_inner` relies on it): that is
                // the stale keep-alive case, and it is safe.
                .retry_canceled_requests(true)
                .build(tls);
            Transport::Direct(Box::new(client))
        };
        Ok(Self {
            name: name.to_string(),
            kind: cfg.kind,
            urls,
            responses: cfg.responses && cfg.kind == ProviderKind::Openai,
            key_env: cfg.api_key_env.clone(),
            headers,
            transport,
            timeout: Duration::from_millis(cfg.timeout_ms),
            max_retries: cfg.max_retries,
            retry_base: Duration::from_millis(cfg.retry_base_ms),
        })
    }

    /// The upstream URL: the base URL carries the version path (`…/v1`).
    fn url(&self, endpoint: Endpoint) -> &http::Uri {
        let i = match endpoint {
            Endpoint::ChatCompletions => 0,
            Endpoint::Embeddings => 1,
            Endpoint::Messages => 2,
            Endpoint::CountTokens => 4,
            Endpoint::Responses => 5,
        };
        &self.urls[i]
    }

    /// The fixed headers, plus the client's `anthropic-*` headers (and a
    /// default `anthropic-version`) for Anthropic.
    fn headers(&self, req: &UpstreamRequest) -> HeaderMap {
        let mut h = self.headers.clone();
        if self.kind == ProviderKind::Anthropic {
            for (n, v) in &req.anthropic_headers {
                h.append(n.clone(), v.clone());
            }
            if !h.contains_key("anthropic-version") {
                h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
            }
        }
        h
    }

    /// The status of `GET url` with the provider's headers (the body is
    /// dropped), over the same transport requests use.
    async fn get_status(&self, url: &http::Uri) -> Result<u16, String> {
        let mut headers = self.headers.clone();
        headers.remove(CONTENT_TYPE);
        if self.kind == ProviderKind::Anthropic {
            headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        }
        match &self.transport {
            Transport::Direct(client) => {
                let mut r = http::Request::new(Full::new(Bytes::new()));
                *r.uri_mut() = url.clone();
                *r.headers_mut() = headers;
                let resp = client.request(r).await.map_err(|e| root_cause(&e))?;
                Ok(resp.status().as_u16())
            }
            Transport::Proxied(client) => client
                .get(url.to_string())
                .headers(headers)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| root_cause(&e)),
        }
    }

    /// One attempt: the answer's head, or why there was none.
    async fn send_once(&self, req: &UpstreamRequest) -> Result<Answer, Failure> {
        let headers = self.headers(req);
        let provider = self.name.clone();
        let body_error = move |message: String| UpstreamError::Body {
            provider: provider.clone(),
            message,
        };
        match &self.transport {
            Transport::Direct(client) => {
                let mut r = http::Request::new(Full::new(req.body.clone()));
                *r.method_mut() = http::Method::POST;
                *r.uri_mut() = self.url(req.endpoint).clone();
                *r.headers_mut() = headers;
                let resp = client.request(r).await.map_err(|e| Failure {
                    message: root_cause(&e),
                    timed_out: timed_out(&e),
                    retryable: never_sent(&e),
                })?;
                let (head, body) = resp.into_parts();
                let body = body
                    .into_data_stream()
                    .map(move |r| r.map_err(|e| body_error(root_cause(&e))));
                Ok(Answer {
                    status: head.status,
                    headers: head.headers,
                    body: Box::pin(body),
                })
            }
            Transport::Proxied(client) => {
                let resp = client
                    .post(self.url(req.endpoint).to_string())
                    .headers(headers)
                    .body(req.body.clone())
                    .send()
                    .await
                    .map_err(|e| Failure {
                        message: root_cause(&e),
                        timed_out: e.is_timeout(),
                        // `is_request()` is no proof: it also covers a
                        // connection that broke after the request went out.
                        retryable: never_sent(&e),
                    })?;
                let (status, headers) = (resp.status(), resp.headers().clone());
                let body = resp
                    .bytes_stream()
                    .map(move |r| r.map_err(|e| body_error(root_cause(&e))));
                Ok(Answer {
                    status,
                    headers,
                    body: Box::pin(body),
                })
            }
        }
    }

    /// One attempt: the answer's head, or how it failed. Retries (on the
    /// same deployment) and failover are the gateway's routing loop's.
    async fn send_inner(&self, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.send_once(&req)).await;
        match result {
            Err(_) => Err(UpstreamError::Timeout {
                provider: self.name.clone(),
                timeout: self.timeout,
            }),
            Ok(Err(f)) if f.timed_out => Err(UpstreamError::Timeout {
                provider: self.name.clone(),
                timeout: started.elapsed(),
            }),
            Ok(Err(f)) if !f.retryable => Err(UpstreamError::Dropped {
                provider: self.name.clone(),
                message: f.message,
            }),
            Ok(Err(f)) => Err(UpstreamError::Connect {
                provider: self.name.clone(),
                message: f.message,
            }),
            Ok(Ok(answer)) => Ok(wrap(answer)),
        }
    }
}

/// The upstream API key from the variable `api_key_env` names, if set;
/// held as a [`Secret`] so that no `Debug` or log line can show it.
fn upstream_key(cfg: &ProviderConfig) -> Option<Secret> {
    Some(cfg.api_key_env.as_str())
        .filter(|v| !v.is_empty())
        .and_then(|v| std::env::var(v).ok())
        .filter(|k| !k.is_empty())
        .map(Secret::from)
}

/// `content-type: application/json` and the provider's key: `x-api-key`
/// for Anthropic, a bearer token otherwise. Marked sensitive, so it never
/// shows in debug output.
fn fixed_headers(cfg: &ProviderConfig) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(k) = upstream_key(cfg) {
        let (name, value) = match cfg.kind {
            ProviderKind::Anthropic => (
                http::HeaderName::from_static("x-api-key"),
                k.expose().to_string(),
            ),
            _ => (AUTHORIZATION, format!("Bearer {}", k.expose())),
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| {
            format!(
                "the API key in ${} holds characters an HTTP header cannot carry (a line break?)",
                cfg.api_key_env
            )
        })?;
        v.set_sensitive(true);
        h.insert(name, v);
    }
    Ok(h)
}

fn wrap(answer: Answer) -> UpstreamResponse {
    let headers = &answer.headers;
    let upstream_request_id = ["x-request-id", "request-id", "anthropic-request-id"]
        .iter()
        .find_map(|h| headers.get(*h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = headers.get(CONTENT_TYPE).cloned();
    let retry_after = super::retry_after::from_headers(headers);
    UpstreamResponse {
        status: answer.status,
        content_type,
        upstream_request_id,
        retry_after,
        body: answer.body,
    }
}

/// The innermost cause of an error ("connection refused"), which is what
/// an operator needs, rather than the client's generic outer message.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether a failed attempt provably never reached the upstream, read from
/// hyper-util's error (reqwest's wraps the same one):
///
/// - `is_connect()`: no connection could be made (refused, DNS, TLS, the
///   connect timeout), so no byte of the request left;
/// - no `connect_info()`: the error came before any connection was handed
///   the request (hyper-util attaches the connection's info from the moment
///   one takes the request, e.g. a fresh connection that closed during its
///   HTTP handshake);
///
/// Everything else, after a connection took the request, is not retried:
/// hyper reports "closed before the response" the same way whether or not
/// the upstream had read (and started billing) the request. The one such
/// case hyper can prove unsent (a pooled connection found closed before
/// the request was written) hyper-util already retries itself
/// (`retry_canceled_requests`). An HTTP/2 `REFUSED_STREAM` would be safe as
/// well but is not told apart here; it is a 502 like the rest.
fn never_sent(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper_util::client::legacy::Error>() {
            return h.is_connect() || h.connect_info().is_none();
        }
        cur = err.source();
    }
    false
}

/// Whether the connect timeout (an I/O `TimedOut` under the client's error) fired.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

impl Provider for HttpProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn responses(&self) -> bool {
        self.responses
    }

    fn send(&self, req: UpstreamRequest) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        Box::pin(self.send_inner(req))
    }

    fn max_retries(&self) -> u32 {
        self.max_retries
    }

    fn retry_delay(&self, retry: u32) -> Duration {
        let base = self.retry_base.saturating_mul(1u32 << retry.min(10));
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        base.mul_f64(jitter)
    }

    /// `GET {base}/models`, which costs no tokens: proves the upstream is
    /// reachable, and that the base path and key are right (see
    /// [`super::base_url::probe_verdict`]).
    fn probe(&self) -> BoxFuture<'_, Result<Duration, UpstreamError>> {
        Box::pin(async move {
            let start = Instant::now();
            let url = &self.urls[3];
            let status = tokio::time::timeout(PROBE_WAIT, self.get_status(url))
                .await
                .map_err(|_| UpstreamError::Timeout {
                    provider: self.name.clone(),
                    timeout: PROBE_WAIT,
                })?
                .map_err(|message| UpstreamError::Connect {
                    provider: self.name.clone(),
                    message,
                })?;
            super::base_url::probe_verdict(status, &url.to_string(), &self.key_env).map_err(
                |message| UpstreamError::Config {
                    provider: self.name.clone(),
                    message,
                },
            )?;
            Ok(start.elapsed())
        })
    }
}
