//! CPU cost of translating between Chat Completions and Messages, per
//! request, per answer and per stream chunk, next to what the gateway's
//! pass-through path already spends on the same bytes (reading model and
//! stream flag from the request, usage from the answer or the stream).
//!
//! Usage: `cargo bench --bench translate` (`TOKCTL_BENCH_MS` sets the time
//! per measurement, 300 ms by default). Prints ns per operation, the best
//! of five rounds (the least disturbed by other processes).

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tokctl::providers::usage::{Shape, StreamMeter, from_body};
use tokctl::translate::stream::{ChatToMessages, MessagesToChat};
use tokctl::translate::{RequestOpts, chat_to_messages, messages_to_chat, response};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the pass-through path reads from a request body.
#[derive(Deserialize)]
#[expect(dead_code, reason = "read to cost what the gateway reads")]
struct Head {
    model: Option<serde_json::Value>,
    stream: Option<serde_json::Value>,
    stream_options: Option<serde_json::Value>,
}

/// ns per call of `f`, best of five rounds of `budget` each.
fn measure(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..64 {
                f();
            }
            n += 64;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

fn text(n: usize) -> String {
    "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(n)
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ms = std::env::var("TOKCTL_BENCH_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let budget = Duration::from_millis(ms);

    let chat_req = json!({"model": "claude-sonnet-4", "max_tokens": 512, "temperature": 0.7, "messages": [
        {"role": "system", "content": text(200)},
        {"role": "user", "content": text(250)},
        {"role": "assistant", "content": text(150)},
        {"role": "user", "content": text(120)}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]})
    .to_string();
    let messages_req = json!({"model": "gpt-4o", "max_tokens": 512, "temperature": 0.7, "system": text(200), "messages": [
        {"role": "user", "content": text(250)},
        {"role": "assistant", "content": text(150)},
        {"role": "user", "content": text(120)}],
        "tools": [{"name": "get_weather", "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]})
    .to_string();
    let anthropic_answer = json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
        "content": [{"type": "text", "text": text(1800)}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 250, "output_tokens": 400, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}})
    .to_string();
    let openai_answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text(1800), "refusal": null},
            "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 250, "completion_tokens": 400, "total_tokens": 650}})
    .to_string();
    let anthropic_chunk = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" jumps over the\"}}\n\n";
    let openai_chunk = b"data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" jumps over the\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    let opts = RequestOpts::new("upstream-model");

    println!(
        "sizes: chat request {} B, messages request {} B, answers {} / {} B, chunks {} / {} B",
        chat_req.len(),
        messages_req.len(),
        anthropic_answer.len(),
        openai_answer.len(),
        anthropic_chunk.len(),
        openai_chunk.len()
    );
    println!("{:<52} {:>10}", "operation", "ns/op");
    let row = |name: &str, ns: f64| println!("{name:<52} {ns:>10.0}");

    row(
        "pass-through: read model/stream (chat request)",
        measure(budget, || {
            black_box(serde_json::from_slice::<Head>(black_box(chat_req.as_bytes())).ok());
        }),
    );
    row(
        "request chat -> messages",
        measure(budget, || {
            black_box(chat_to_messages(black_box(chat_req.as_bytes()), &opts).ok());
        }),
    );
    row(
        "request messages -> chat",
        measure(budget, || {
            black_box(messages_to_chat(black_box(messages_req.as_bytes()), &opts).ok());
        }),
    );
    row(
        "pass-through: usage from the answer (anthropic)",
        measure(budget, || {
            black_box(from_body(
                Shape::Anthropic,
                black_box(anthropic_answer.as_bytes()),
            ));
        }),
    );
    row(
        "answer messages -> chat (with usage)",
        measure(budget, || {
            black_box(response::messages_to_chat(black_box(anthropic_answer.as_bytes())).ok());
        }),
    );
    row(
        "answer chat -> messages (with usage)",
        measure(budget, || {
            black_box(response::chat_to_messages(black_box(openai_answer.as_bytes())).ok());
        }),
    );
    let mut meter = StreamMeter::new(Shape::Anthropic, false);
    row(
        "pass-through: stream meter per chunk (anthropic)",
        measure(budget, || {
            black_box(meter.feed(bytes::Bytes::from_static(anthropic_chunk)));
        }),
    );
    let mut m2c = MessagesToChat::new(true);
    m2c.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    row(
        "stream messages -> chat, per text chunk",
        measure(budget, || {
            black_box(m2c.feed(black_box(anthropic_chunk)));
        }),
    );
    let mut c2m = ChatToMessages::new();
    row(
        "stream chat -> messages, per text chunk",
        measure(budget, || {
            black_box(c2m.feed(black_box(openai_chunk)));
        }),
    );
    let half = anthropic_chunk.len() / 2;
    row(
        "stream messages -> chat, chunk cut in two",
        measure(budget, || {
            black_box(m2c.feed(black_box(&anthropic_chunk[..half])));
            black_box(m2c.feed(black_box(&anthropic_chunk[half..])));
        }),
    );
}
