//! The built-in `mock` provider: answers in OpenAI's (Chat Completions,
//! embeddings, Responses: [`super::mock_responses`]) and Anthropic's shapes,
//! plain and streamed, usage included, with configurable latency, token
//! counts and chunk pacing. It makes `tokctl serve` work offline out of the
//! box and gives benchmarks an upstream with no outside service. It refuses
//! what the real APIs refuse ([`super::mock_validate`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream;

use super::mock_tools;
use super::mock_validate::{self, EmbeddingInputs};
use super::{Endpoint, Provider, UpstreamError, UpstreamRequest, UpstreamResponse};
use crate::config::{ProviderConfig, ProviderKind};

const WORDS: &[&str] = &[
    "tokens", "flow", "through", "the", "gateway", "and", "every", "one", "is", "counted",
];

/// An in-process upstream.
pub struct MockProvider {
    name: String,
    latency: Duration,
    chunk_interval: Duration,
    prompt_tokens: u64,
    completion_tokens: u64,
    /// The full completion text, made once.
    text: String,
    counter: AtomicU64,
}

impl MockProvider {
    pub fn new(name: &str, cfg: &ProviderConfig) -> Self {
        let text = (0..cfg.mock_completion_tokens as usize)
            .map(|i| WORDS[i % WORDS.len()])
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            name: name.to_string(),
            latency: Duration::from_millis(cfg.mock_latency_ms),
            chunk_interval: Duration::from_millis(cfg.mock_chunk_interval_ms),
            prompt_tokens: cfg.mock_prompt_tokens,
            completion_tokens: cfg.mock_completion_tokens,
            text,
            counter: AtomicU64::new(0),
        }
    }

    fn id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// What a tool call's answer needs from this mock and the request.
    fn answer(&self, req: &UpstreamRequest) -> mock_tools::Answer {
        mock_tools::Answer {
            id: self.id(),
            created: created(),
            model: json_str(&req.model),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            usage_chunk: req.endpoint == Endpoint::ChatCompletions && wants_usage(&req.body),
        }
    }

    fn plain(&self, req: &UpstreamRequest, inputs: Option<EmbeddingInputs>) -> Bytes {
        let (p, c) = (self.prompt_tokens, self.completion_tokens);
        let model = json_str(&req.model);
        let text = json_str(&self.text);
        let id = self.id();
        let created = created();
        let body = match req.endpoint {
            Endpoint::ChatCompletions => format!(
                r#"{{"id":"chatcmpl-mock-{id}","object":"chat.completion","created":{created},"model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","content":{text}}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{}}}}}"#,
                p + c
            ),
            Endpoint::Embeddings => {
                // One vector per input, usage from the inputs' size, as the
                // API answers.
                let inputs = inputs.unwrap_or(EmbeddingInputs {
                    count: 1,
                    tokens: p,
                });
                let data: Vec<String> = (0..inputs.count)
                    .map(|i| format!(
                        r#"{{"object":"embedding","index":{i},"embedding":[0.0123,-0.0456,0.0789,0.1011,-0.1213,0.1415,-0.1617,0.1819]}}"#
                    ))
                    .collect();
                let t = inputs.tokens;
                format!(
                    r#"{{"object":"list","data":[{}],"model":{model},"usage":{{"prompt_tokens":{t},"total_tokens":{t}}}}}"#,
                    data.join(",")
                )
            }
            Endpoint::CountTokens => format!(r#"{{"input_tokens":{p}}}"#),
            Endpoint::Responses => super::mock_responses::plain(&self.answer(req), &self.text),
            Endpoint::Messages => format!(
                r#"{{"id":"msg_mock_{id}","type":"message","role":"assistant","model":{model},"content":[{{"type":"text","text":{text}}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{p},"output_tokens":{c}}}}}"#
            ),
        };
        Bytes::from(body)
    }

    /// The events of a streamed answer, in order.
    fn events(&self, req: &UpstreamRequest) -> Vec<Bytes> {
        let (p, c) = (self.prompt_tokens, self.completion_tokens);
        let model = json_str(&req.model);
        let id = self.id();
        let created = created();
        let words: Vec<String> = (0..c as usize)
            .map(|i| {
                let w = WORDS[i % WORDS.len()];
                if i == 0 {
                    w.to_string()
                } else {
                    format!(" {w}")
                }
            })
            .collect();
        let mut out = Vec::with_capacity(words.len() + 6);
        match req.endpoint {
            Endpoint::Responses => {
                let a = self.answer(req);
                out.extend(super::mock_responses::events(&a, &words));
            }
            Endpoint::Messages => {
                out.push(format!(
                    "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_mock_{id}\",\"type\":\"message\",\"role\":\"assistant\",\"model\":{model},\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":{p},\"output_tokens\":1}}}}}}\n\n"
                ));
                out.push("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_string());
                for w in &words {
                    out.push(format!(
                        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{}}}}}\n\n",
                        json_str(w)
                    ));
                }
                out.push("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".to_string());
                out.push(format!(
                    "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{c}}}}}\n\n"
                ));
                out.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_string());
            }
            _ => {
                let head = format!(
                    "data: {{\"id\":\"chatcmpl-mock-{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model},"
                );
                out.push(format!(
                    "{head}\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n"
                ));
                for w in &words {
                    out.push(format!(
                        "{head}\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
                        json_str(w)
                    ));
                }
                out.push(format!(
                    "{head}\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
                ));
                if wants_usage(&req.body) {
                    out.push(format!(
                        "{head}\"choices\":[],\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{c},\"total_tokens\":{}}}}}\n\n",
                        p + c
                    ));
                }
                out.push("data: [DONE]\n\n".to_string());
            }
        }
        out.into_iter().map(Bytes::from).collect()
    }
}

/// Whether an OpenAI request asked for the usage chunk in its stream.
fn wants_usage(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Opts {
        #[serde(default)]
        include_usage: bool,
    }
    #[derive(serde::Deserialize)]
    struct Req {
        stream_options: Option<Opts>,
    }
    serde_json::from_slice::<Req>(body)
        .ok()
        .and_then(|r| r.stream_options)
        .is_some_and(|o| o.include_usage)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn created() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Provider for MockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Mock
    }

    fn send(&self, req: UpstreamRequest) -> BoxFuture<'_, Result<UpstreamResponse, UpstreamError>> {
        Box::pin(async move {
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let inputs = match mock_validate::check(req.endpoint, &req.body) {
                Ok(inputs) => inputs,
                Err(invalid) => {
                    return Ok(UpstreamResponse {
                        status: http::StatusCode::BAD_REQUEST,
                        content_type: Some(http::HeaderValue::from_static("application/json")),
                        upstream_request_id: None,
                        retry_after: None,
                        body: Box::pin(stream::iter([Ok(Bytes::from(invalid.body(req.endpoint)))])),
                    });
                }
            };
            let call = mock_tools::planned(req.endpoint, &req.body);
            if !req.stream || req.endpoint == Endpoint::Embeddings {
                let body = match &call {
                    Some(call) => Bytes::from(call.plain(req.endpoint, &self.answer(&req))),
                    None => self.plain(&req, inputs),
                };
                return Ok(UpstreamResponse {
                    status: http::StatusCode::OK,
                    content_type: Some(http::HeaderValue::from_static("application/json")),
                    upstream_request_id: None,
                    retry_after: None,
                    body: Box::pin(stream::iter([Ok(body)])),
                });
            }
            let events = match &call {
                Some(call) => call
                    .events(req.endpoint, &self.answer(&req))
                    .into_iter()
                    .map(Bytes::from)
                    .collect(),
                None => self.events(&req),
            };
            let interval = self.chunk_interval;
            let body = stream::unfold(
                (events.into_iter(), true),
                move |(mut it, first)| async move {
                    let next = it.next()?;
                    if !first && !interval.is_zero() {
                        tokio::time::sleep(interval).await;
                    }
                    Some((Ok(next), (it, false)))
                },
            );
            Ok(UpstreamResponse {
                status: http::StatusCode::OK,
                content_type: Some(http::HeaderValue::from_static("text/event-stream")),
                upstream_request_id: None,
                retry_after: None,
                body: Box::pin(body),
            })
        })
    }

    fn probe(&self) -> BoxFuture<'_, Result<Duration, UpstreamError>> {
        Box::pin(async { Ok(Duration::ZERO) })
    }
}
