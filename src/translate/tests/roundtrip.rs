//! Round trips as properties over generated conversations: a Chat request
//! taken to Messages and back keeps its messages, tools and tool ids; a
//! chat completion taken to Messages and back keeps its content, tool ids
//! and usage. Generated from a seeded generator, so a failure repeats.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json as j};

use super::{Translate, json, opts, zero_created};
use crate::translate::{chat_to_messages, messages_to_chat, response};

const CASES: u64 = 300;

fn word(rng: &mut StdRng) -> String {
    const WORDS: &[&str] = &[
        "alpha",
        "beta",
        "\"quoted\"",
        "naïve",
        "line\nbreak",
        "tab\t",
        "日本",
        "x",
    ];
    (0..rng.gen_range(1..4))
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn user_content(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..3) {
        0 => j!(word(rng)),
        1 => {
            j!([{"type": "text", "text": word(rng)}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}])
        }
        _ => {
            j!([{"type": "image_url", "image_url": {"url": format!("https://example.com/{}.png", rng.gen_range(0..99))}},
                 {"type": "text", "text": word(rng)}])
        }
    }
}

/// A conversation: system, then user / assistant (text, tool calls or
/// both) / tool results, in the order a real client sends them.
fn conversation(rng: &mut StdRng) -> Value {
    let mut messages = vec![j!({"role": "system", "content": word(rng)})];
    for turn in 0..rng.gen_range(1..5) {
        messages.push(j!({"role": "user", "content": user_content(rng)}));
        let calls: Vec<Value> = (0..rng.gen_range(0..4))
            .map(|i| {
                let args = j!({"q": word(rng), "n": rng.gen_range(0..100)}).to_string();
                j!({"id": format!("call_{turn}_{i}_{}", rng.gen_range(0..1_000_000)), "type": "function",
                    "function": {"name": format!("tool_{i}"), "arguments": args}})
            })
            .collect();
        let mut assistant = j!({"role": "assistant", "content": word(rng)});
        if !calls.is_empty() {
            if rng.gen_bool(0.5) {
                assistant["content"] = Value::Null;
            }
            assistant["tool_calls"] = j!(calls);
        }
        messages.push(assistant);
        for c in &calls {
            messages.push(j!({"role": "tool", "tool_call_id": c["id"], "content": word(rng)}));
        }
    }
    let tools: Vec<Value> = (0..3)
        .map(|i| j!({"type": "function", "function": {"name": format!("tool_{i}"), "description": word(rng),
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}}}}))
        .collect();
    j!({"model": "m", "messages": messages, "tools": tools, "max_completion_tokens": 100})
}

/// The same content, as OpenAI may equally write it: a lone text part is
/// the string, and a null content is absent.
fn normalise(messages: &mut Value) {
    normalise_blocks(messages);
    for m in messages.as_array_mut().unwrap() {
        if m["content"].is_null() {
            m.as_object_mut().unwrap().remove("content");
        }
    }
}

/// Takes `CASES` requests from `generate` (seeded with `seed`) there and
/// back through `trip`; checks that neither way dropped anything, that the
/// messages came back equal (each side put through `normalise` first), and
/// that the top-level fields `kept` came back unchanged.
fn survive_round_trips(
    seed: u64,
    generate: fn(&mut StdRng) -> Value,
    trip: [Translate; 2],
    normalise: fn(&mut Value),
    kept: &[&str],
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for case in 0..CASES {
        let original = generate(&mut rng);
        let there = trip[0](original.to_string().as_bytes(), &opts("upstream")).unwrap();
        assert!(there.dropped.is_empty(), "case {case}: {:?}", there.dropped);
        let back = trip[1](&there.body, &opts("client")).unwrap();
        assert!(back.dropped.is_empty(), "case {case}: {:?}", back.dropped);
        let mut back = json(&back.body);
        let mut want = original["messages"].clone();
        normalise(&mut want);
        normalise(&mut back["messages"]);
        assert_eq!(back["messages"], want, "case {case}");
        for k in kept {
            assert_eq!(back[k], original[k], "case {case}: {k}");
        }
    }
}

#[test]
fn chat_requests_survive_a_trip_through_messages() {
    survive_round_trips(
        31,
        conversation,
        [chat_to_messages, messages_to_chat],
        normalise,
        &["tools", "max_completion_tokens"],
    );
}

#[test]
fn chat_answers_survive_a_trip_through_messages() {
    let mut rng = StdRng::seed_from_u64(17);
    for case in 0..CASES {
        let prompt = rng.gen_range(0..100_000);
        let cached = rng.gen_range(0..=prompt);
        let completion = rng.gen_range(0..10_000);
        let calls: Vec<Value> = (0..rng.gen_range(0..3))
            .map(|i| {
                j!({"id": format!("call_{i}_{}", rng.gen_range(0..1000)), "type": "function",
                "function": {"name": "f", "arguments": j!({"a": word(&mut rng)}).to_string()}})
            })
            .collect();
        let mut message = j!({"role": "assistant", "content": word(&mut rng), "refusal": null});
        let finish = if calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        if !calls.is_empty() {
            message["tool_calls"] = j!(calls);
        }
        let original = j!({"id": format!("chatcmpl-{case}"), "object": "chat.completion", "created": 0, "model": "g",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": cached}, "completion_tokens_details": {"reasoning_tokens": 0}}});
        let there = response::chat_to_messages(original.to_string().as_bytes()).unwrap();
        let back = response::messages_to_chat(&there.body).unwrap();
        assert_eq!(
            there.usage, back.usage,
            "case {case}: the ledger sees the same usage both ways"
        );
        let mut back = json(&back.body);
        zero_created(&mut back);
        assert_eq!(back, original, "case {case}");
    }
}

/// A Messages conversation: user text or blocks, assistant text and tool
/// uses, the user's tool results (with a word after them, sometimes).
fn messages_conversation(rng: &mut StdRng) -> Value {
    let mut messages = Vec::new();
    let mut pending: Vec<Value> = Vec::new();
    for turn in 0..rng.gen_range(1..5) {
        let mut user: Vec<Value> = pending
            .drain(..)
            .map(|id| j!({"type": "tool_result", "tool_use_id": id, "content": word(rng)}))
            .collect();
        user.push(j!({"type": "text", "text": word(rng)}));
        if rng.gen_bool(0.3) {
            user.push(j!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}));
        }
        messages.push(j!({"role": "user", "content": user}));
        let mut assistant = vec![j!({"type": "text", "text": word(rng)})];
        for i in 0..rng.gen_range(0..3) {
            let id = format!("toolu_{turn}_{i}");
            assistant
                .push(j!({"type": "tool_use", "id": id, "name": "t", "input": {"q": word(rng)}}));
            pending.push(j!(id));
        }
        messages.push(j!({"role": "assistant", "content": assistant}));
    }
    j!({"model": "c", "max_tokens": 300, "system": word(rng), "messages": messages,
        "tools": [{"name": "t", "description": "d", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]})
}

/// A lone text block (or part) is the same content as the string.
fn normalise_blocks(messages: &mut Value) {
    for m in messages.as_array_mut().unwrap() {
        let single = m["content"]
            .as_array()
            .filter(|b| b.len() == 1 && b[0]["type"] == "text")
            .map(|b| b[0]["text"].clone());
        if let Some(t) = single {
            m["content"] = t;
        }
    }
}

#[test]
fn messages_requests_survive_a_trip_through_chat() {
    survive_round_trips(
        7,
        messages_conversation,
        [messages_to_chat, chat_to_messages],
        normalise_blocks,
        &["system", "tools", "max_tokens"],
    );
}
