//! CPU cost of translating the Responses API to and from Chat Completions
//! (#32's target: a translated Responses request at most 1.3× the CPU of a
//! pass-through Chat Completions one), next to what the pass-through path
//! spends on the same bytes. The inputs are those of
//! `CLIENT=responses bash bench/translate_gateway.sh` (a ~1 KB request,
//! a ~2 KB answer, a stream of 20 text chunks and the usage chunk), plus
//! the reference fixtures (tools, a function-call stream), so that the
//! gateway's numbers can be taken apart here without its noise.
//!
//! Usage: `cargo bench --bench responses` (`TOKCTL_BENCH_MS` sets the time
//! per measurement, 300 ms by default). Prints ns per operation, the best
//! of five rounds (the least disturbed by other processes).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokctl::providers::usage::{Shape, StreamMeter, from_body};
use tokctl::translate::RequestOpts;
use tokctl::translate::responses::{ChatToResponses, Echo, chat_to_responses, responses_to_chat};

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
fn measure(budget: Duration, f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            for _ in 0..16 {
                f();
            }
            n += 16;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

/// `n` characters of `phrase`, repeated.
fn repeat(phrase: &str, n: usize) -> String {
    phrase.chars().cycle().take(n).collect()
}

/// The gateway benchmark's stream: a role chunk, `n` text chunks, the
/// finish chunk, the usage chunk and `[DONE]`.
fn chat_stream(n: usize) -> String {
    let head = r#""id":"c","object":"chat.completion.chunk","created":1,"model":"bench""#;
    let mut s = format!(
        "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n"
    );
    for i in 0..n {
        s.push_str(&format!(
            "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" word{i:03}\"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str(&format!(
        "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n"
    ));
    s.push_str(&format!(
        "data: {{{head},\"choices\":[],\"usage\":{{\"prompt_tokens\":250,\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
        250 + n
    ));
    s
}

/// A whole stream through a fresh translator, as one request costs it.
fn translate_stream(echo: &Arc<Echo>, stream: &[u8]) -> usize {
    let mut t = ChatToResponses::new(echo);
    t.feed(stream).len() + t.finish().len()
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

    let question = repeat(
        "please summarise the ledger rows of yesterday by model. ",
        900,
    );
    let answer = repeat(
        "tokens flow through the gateway and every one is counted. ",
        1900,
    );
    let request = format!(
        r#"{{"model":"bench","stream":false,"instructions":"be brief","input":[{{"role":"user","content":"{question}"}}]}}"#
    );
    let tools_request = include_str!("../src/translate/fixtures/responses_request.json");
    let completion = format!(
        r#"{{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench","choices":[{{"index":0,"message":{{"role":"assistant","content":"{answer}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":250,"completion_tokens":400,"total_tokens":650}}}}"#
    );
    let stream = chat_stream(20);
    let calls_stream = include_str!("../src/translate/fixtures/chat_stream.sse");
    let opts = RequestOpts::new("upstream-model");
    let echo = match responses_to_chat(request.as_bytes(), &opts) {
        Ok((_, echo)) => Arc::new(echo),
        Err(e) => panic!("the bench request does not translate: {e}"),
    };
    let chunk = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word007\"},\"finish_reason\":null}]}\n\n";

    println!(
        "sizes: request {} B, tools request {} B, answer {} B, stream {} B (20 text chunks)",
        request.len(),
        tools_request.len(),
        completion.len(),
        stream.len()
    );
    println!("{:<56} {:>10}", "operation", "ns/op");
    // `TOKCTL_BENCH_ONLY=<text>` runs the rows whose name holds it (for a
    // profiler).
    let only = std::env::var("TOKCTL_BENCH_ONLY").unwrap_or_default();
    let row = |name: &str, f: &mut dyn FnMut()| {
        if name.contains(only.as_str()) {
            println!("{name:<56} {:>10.0}", measure(budget, f));
        }
    };

    row("pass-through: read model/stream (request)", &mut || {
        black_box(serde_json::from_slice::<Head>(black_box(request.as_bytes())).ok());
    });
    row("request responses -> chat", &mut || {
        black_box(responses_to_chat(black_box(request.as_bytes()), &opts).ok());
    });
    row("request responses -> chat (reference, tools)", &mut || {
        black_box(responses_to_chat(black_box(tools_request.as_bytes()), &opts).ok());
    });
    row("pass-through: usage from the answer (chat)", &mut || {
        black_box(from_body(Shape::OpenAi, black_box(completion.as_bytes())));
    });
    row("answer chat -> responses", &mut || {
        black_box(chat_to_responses(black_box(completion.as_bytes()), &echo).ok());
    });
    row(
        "pass-through: stream meter, whole stream (chat)",
        &mut || {
            let mut m = StreamMeter::new(Shape::OpenAi, false);
            black_box(m.feed(bytes::Bytes::copy_from_slice(black_box(stream.as_bytes()))));
            black_box(m.finish());
        },
    );
    row("stream chat -> responses, whole stream", &mut || {
        black_box(translate_stream(&echo, black_box(stream.as_bytes())));
    });
    row(
        "stream chat -> responses, whole stream (calls fixture)",
        &mut || {
            black_box(translate_stream(&echo, black_box(calls_stream.as_bytes())));
        },
    );
    let mut t = ChatToResponses::new(&echo);
    t.feed(chunk);
    row("stream chat -> responses, per text chunk", &mut || {
        black_box(t.feed(black_box(chunk)));
    });
}
