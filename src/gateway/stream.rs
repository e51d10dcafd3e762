//! A streamed answer relayed chunk by chunk while its usage is read.
//!
//! The head (status 200) leaves at once, so a stream that breaks later —
//! the upstream cuts it, falls silent past `server.stream_idle_timeout_ms`,
//! or the gateway shuts down — cannot change the status the client got.
//! Ending the chunked body cleanly would make it look complete (an SDK
//! returns what it has as if the model had finished), so the client is
//! told in its API's stream form (OpenAI: a final `data: {"error": …}`
//! event; Anthropic: an `event: error`) and the body is then aborted, which
//! closes the connection without the chunked terminator so the SDK raises.
//! The entry records what the client saw: the upstream's status with the
//! error kind (an error row by the ledger's one definition).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::AppState;
use super::error::ApiError;
use super::record::decorate;
use super::relay::{CLIENT_CLOSED, Outcome, RequestCtx, shape_of};
use super::translation::StreamTranslator;
use crate::ledger::TokenSource;
use crate::providers::UpstreamResponse;
use crate::providers::usage::{Shape, StreamMeter};

/// How a stream ended before its upstream finished it.
struct Broken {
    label: &'static str,
    message: String,
    /// The status the error would have had before the head left: picks
    /// the error's `type` in the event.
    status: u16,
}

/// What the body carries: a chunk, or the order to cut the connection.
type Frame = Result<Bytes, std::io::Error>;

/// A stream to relay: the upstream's answer, when the request was sent,
/// whether the gateway asked for the usage chunk itself (and so drops it),
/// and the translator when the client speaks another API.
pub(super) struct Relayed {
    pub upstream: UpstreamResponse,
    pub sent: Instant,
    pub ask_usage: bool,
    pub translator: Option<StreamTranslator>,
}

/// Relays `upstream` to the client through `out.reply` and fills `out`.
pub(super) async fn relay(state: &AppState, ctx: &RequestCtx, out: &mut Outcome, r: Relayed) {
    let Relayed {
        upstream,
        sent,
        ask_usage,
        mut translator,
    } = r;
    out.streamed = true;
    out.status = upstream.status.as_u16();
    let to_headers = sent.elapsed();
    out.overhead = Some(ctx.start.elapsed().saturating_sub(to_headers));
    let (tx, rx) = mpsc::channel::<Frame>(32);
    let mut resp = Response::new(body(rx, out.gate.take()));
    *resp.status_mut() = upstream.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    decorate(&mut resp, ctx, out);
    let sent_head = match out.reply.take() {
        Some(reply) => reply.send(resp).is_ok(),
        None => false,
    };
    if !sent_head {
        let limit = Duration::from_millis(state.config.server.request_timeout_ms);
        out.client_closed(ctx, limit);
        return;
    }
    // Usage is read from the upstream's own stream, in its API's shape.
    let upstream_api = out.upstream_api.unwrap_or(ctx.endpoint);
    let mut meter = StreamMeter::new(shape_of(upstream_api), ask_usage);
    let mut pipe = Pipe {
        meter: &mut meter,
        translator: translator.as_mut(),
    };
    let (left, broken) = pump(state, ctx, out, upstream, &mut pipe, &tx).await;
    let shape = shape_of(ctx.endpoint);
    out.upstream_latency = Some(sent.elapsed());
    let early = left || broken.is_some();
    match meter.usage() {
        Some(u) if !early => {
            out.usage = u;
            out.source = TokenSource::Provider;
        }
        Some(u) => {
            out.usage = u;
            out.usage.output_tokens = out.usage.output_tokens.max(meter.estimated_output_tokens());
            out.source = TokenSource::Partial;
        }
        None => {
            // The input as the tokens-per-minute limit estimates it: the
            // request body's bytes / 4 (an overestimate by its JSON syntax).
            out.usage.input_tokens =
                i64::try_from(out.request_bytes.div_ceil(4)).unwrap_or(i64::MAX);
            out.usage.output_tokens = meter.estimated_output_tokens();
            out.source = if early {
                TokenSource::Partial
            } else {
                TokenSource::Estimated
            };
        }
    }
    if left {
        out.status = CLIENT_CLOSED;
        out.error = Some(("client_closed", "the client closed the stream".into()));
    } else if let Some(b) = broken {
        let event = error_event(shape, &b, translator.as_mut(), meter.events);
        let told = tx.send(Ok(event)).await.is_ok()
            && tx
                .send(Err(std::io::Error::other(b.message.clone())))
                .await
                .is_ok();
        if told {
            // The status stays the one the client received.
            out.error = Some((b.label, b.message));
        } else {
            out.status = CLIENT_CLOSED;
            out.error = Some(("client_closed", "the client closed the stream".into()));
        }
    }
}

/// Feeds the upstream's chunks to the client until the end; returns
/// whether the client left, and how the stream broke if it did.
async fn pump(
    state: &AppState,
    ctx: &RequestCtx,
    out: &mut Outcome,
    upstream: UpstreamResponse,
    pipe: &mut Pipe<'_>,
    tx: &mpsc::Sender<Frame>,
) -> (bool, Option<Broken>) {
    let idle = Duration::from_millis(state.config.server.stream_idle_timeout_ms);
    let mut body = upstream.body;
    loop {
        let next = tokio::select! {
            n = tokio::time::timeout(idle, body.next()) => n,
            () = state.shutdown.cancelled() => {
                let message = "the gateway shut down during the stream".into();
                return (false, Some(Broken { label: "shutdown", message, status: 503 }));
            }
        };
        match next {
            Err(_) => {
                let message = format!("the upstream was silent for {idle:?}");
                return (
                    false,
                    Some(Broken {
                        label: "upstream_timeout",
                        message,
                        status: 504,
                    }),
                );
            }
            Ok(None) => {
                let rest = pipe.finish();
                let left = !rest.is_empty() && tx.send(Ok(rest)).await.is_err();
                return (left, None);
            }
            Ok(Some(Err(e))) => {
                let message = format!("the upstream broke the stream: {e}");
                return (
                    false,
                    Some(Broken {
                        label: e.label(),
                        message,
                        status: 502,
                    }),
                );
            }
            Ok(Some(Ok(chunk))) => {
                if out.ttft.is_none() {
                    out.ttft = Some(ctx.start.elapsed());
                }
                let pass = pipe.feed(chunk);
                if !pass.is_empty() && tx.send(Ok(pass)).await.is_err() {
                    return (true, None);
                }
            }
        }
    }
}

/// What the upstream's bytes go through on their way to the client: the
/// usage meter, then the translator when there is one.
struct Pipe<'a> {
    meter: &'a mut StreamMeter,
    translator: Option<&'a mut StreamTranslator>,
}

impl Pipe<'_> {
    fn feed(&mut self, chunk: Bytes) -> Bytes {
        let pass = self.meter.feed(chunk);
        match &mut self.translator {
            Some(t) if !pass.is_empty() => t.feed(&pass),
            _ => pass,
        }
    }

    fn finish(&mut self) -> Bytes {
        let rest = self.meter.finish();
        let Some(t) = &mut self.translator else {
            return rest;
        };
        let mut out = t.feed(&rest).to_vec();
        out.extend_from_slice(&t.finish());
        Bytes::from(out)
    }
}

/// The client's body: chunks as they come; its end (clean or cut) leaves
/// only once the entry is durable (`gate`), so every answer a client
/// completes is spooled.
fn body(rx: mpsc::Receiver<Frame>, gate: Option<oneshot::Receiver<()>>) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        (Some(rx), gate),
        |(rx, mut gate)| async move {
            let mut rx = rx?;
            let frame = rx.recv().await;
            if !matches!(frame, Some(Ok(_))) {
                // The end: wait for the entry, then end or cut.
                if let Some(g) = gate.take() {
                    let _ = g.await;
                }
            }
            match frame {
                Some(Ok(b)) => Some((Ok(b), (Some(rx), gate))),
                Some(Err(e)) => Some((Err(e), (None, gate))),
                None => None,
            }
        },
    ))
}

/// The error event that tells a client in its API's stream form. A
/// Responses client's event continues the stream's sequence numbers: the
/// translator's own, or after the `seen` events passed through.
fn error_event(
    shape: Shape,
    b: &Broken,
    translator: Option<&mut StreamTranslator>,
    seen: usize,
) -> Bytes {
    if shape == Shape::Responses {
        if let Some(ev) = translator.and_then(|t| t.error_event(b.label, &b.message)) {
            return ev;
        }
        let body = serde_json::json!({"type": "error", "code": b.label, "message": b.message,
            "param": null, "sequence_number": seen});
        return Bytes::from(format!("event: error\ndata: {body}\n\n"));
    }
    let status = StatusCode::from_u16(b.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = ApiError::new(status, b.label, b.message.clone())
        .shaped(shape)
        .body();
    let text = match shape {
        Shape::OpenAi => format!("data: {body}\n\n"),
        Shape::Anthropic | Shape::Responses => format!("event: error\ndata: {body}\n\n"),
    };
    Bytes::from(text)
}
