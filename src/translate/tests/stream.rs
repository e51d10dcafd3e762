//! Streams: Anthropic events → OpenAI chunks and back, fed whole, cut at
//! every byte, and one byte at a time.

use std::fmt::Debug;

use serde_json::{Value, json as j};

use super::{chat_events, fixture, json, messages_events};
use crate::ledger::Usage;
use crate::translate::stream::{ChatToMessages, Direction, MessagesToChat, Translator};

/// Feeds `input` to `t` cut into pieces of `size` bytes (0: whole).
fn run<S: Direction>(mut t: Translator<S>, input: &[u8], size: usize) -> (Vec<u8>, Translator<S>) {
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = if size == 0 {
        vec![input]
    } else {
        input.chunks(size).collect()
    };
    for p in pieces {
        out.extend(t.feed(p));
    }
    out.extend(t.finish());
    (out, t)
}

fn m2c(input: &[u8], include_usage: bool, size: usize) -> (Vec<u8>, MessagesToChat) {
    run(MessagesToChat::new(include_usage), input, size)
}

fn c2m(input: &[u8], size: usize) -> (Vec<u8>, ChatToMessages) {
    run(ChatToMessages::new(), input, size)
}

/// Checks that `input` becomes `out` however it arrives: fed `sizes`
/// bytes at a time, and cut in two at every byte (compared as `seen` reads
/// the output, so that clock readings can be set aside).
fn cut_anywhere<S: Direction, T: PartialEq + Debug>(
    new: impl Fn() -> Translator<S>,
    input: &[u8],
    out: &[u8],
    sizes: [usize; 3],
    seen: fn(&[u8]) -> T,
) {
    for size in sizes {
        assert_eq!(run(new(), input, size).0, out, "fed {size} bytes at a time");
    }
    let want = seen(out);
    for cut in 1..input.len() {
        let mut t = new();
        let mut got = t.feed(&input[..cut]);
        got.extend(t.feed(&input[cut..]));
        got.extend(t.finish());
        assert_eq!(seen(&got), want, "cut at {cut}");
    }
}

#[test]
fn an_anthropic_stream_becomes_the_documented_chunks() {
    let input = fixture!("messages_stream.sse").as_bytes();
    let (out, t) = m2c(input, true, 0);
    let want: Vec<Value> =
        serde_json::from_str(fixture!("chat_stream_from_messages.json")).unwrap();
    assert_eq!(chat_events(&out), want);
    assert!(t.is_done());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input_tokens: 472,
            cached_input_tokens: 2000,
            cache_write_tokens: 10,
            output_tokens: 89,
            reasoning_tokens: 0
        })
    );
    assert!(t.dropped().contains("content[].signature"));
    cut_anywhere(
        || MessagesToChat::new(true),
        input,
        &out,
        [1, 7, 64],
        chat_events,
    );
}

#[test]
fn without_include_usage_there_is_no_usage_chunk_but_usage_is_still_seen() {
    let (out, t) = m2c(fixture!("messages_stream.sse").as_bytes(), false, 0);
    let events = chat_events(&out);
    assert!(events.iter().all(|e| e.get("usage").is_none()));
    assert_eq!(events.last().unwrap(), "[DONE]");
    assert_eq!(t.usage().unwrap().output_tokens, 89);
}

#[test]
fn an_openai_stream_becomes_the_documented_events() {
    let input = fixture!("chat_stream.sse").as_bytes();
    let (out, t) = c2m(input, 0);
    let want: Vec<Value> =
        serde_json::from_str(fixture!("messages_stream_from_chat.json")).unwrap();
    assert_eq!(messages_events(&out), want);
    assert!(t.is_done());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input_tokens: 20,
            cached_input_tokens: 100,
            cache_write_tokens: 0,
            output_tokens: 40,
            reasoning_tokens: 12
        })
    );
    cut_anywhere(
        ChatToMessages::new,
        input,
        &out,
        [1, 5, 100],
        <[u8]>::to_vec,
    );
}

#[test]
fn events_come_out_as_soon_as_they_are_complete() {
    let input = fixture!("messages_stream.sse");
    let first_end = input.find("\n\n").unwrap() + 2;
    let mut t = MessagesToChat::new(false);
    assert!(
        t.feed(&input.as_bytes()[..first_end - 1]).is_empty(),
        "nothing before the blank line"
    );
    let out = t.feed(&input.as_bytes()[first_end - 1..first_end]);
    assert_eq!(chat_events(&out).len(), 1, "the role chunk, at once");
}

#[test]
fn a_chat_stream_without_done_is_closed_at_the_end_and_a_cut_one_is_not() {
    let input = fixture!("chat_stream.sse").replace("data: [DONE]\n\n", "");
    let (out, t) = c2m(input.as_bytes(), 0);
    assert_eq!(
        messages_events(&out).last().unwrap()["event"],
        "message_stop"
    );
    assert!(t.is_done());
    let cut = &input[..input.find("finish_reason\":\"tool_calls").unwrap() - 40];
    let cut = &cut[..cut.rfind("\n\n").unwrap() + 2];
    let (out, t) = c2m(cut.as_bytes(), 0);
    assert!(
        !t.is_done(),
        "a stream cut before the finish is not passed off as complete"
    );
    assert!(
        messages_events(&out)
            .iter()
            .all(|e| e["event"] != "message_stop")
    );
}

#[test]
fn error_events_are_translated_both_ways() {
    let input = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let (out, t) = m2c(input, false, 0);
    assert_eq!(
        chat_events(&out),
        [
            j!({"error": {"message": "Overloaded", "type": "service_unavailable", "param": null, "code": "overloaded_error"}})
        ]
    );
    assert!(t.is_done());
    let input = b"data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"insufficient_quota\",\"code\":null}}\n\n";
    let (out, _) = c2m(input, 0);
    assert_eq!(
        messages_events(&out),
        [
            j!({"event": "error", "data": {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}}})
        ]
    );
}

#[test]
fn a_text_only_chat_stream_opens_one_text_block() {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            j!({"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let input = [
        chunk(j!({"role": "assistant", "content": ""}), Value::Null),
        chunk(j!({"content": "Hel"}), Value::Null),
        chunk(j!({"content": "lo"}), Value::Null),
        chunk(j!({}), j!("length")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (out, t) = c2m(input.as_bytes(), 0);
    let names: Vec<String> = messages_events(&out)
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let events = messages_events(&out);
    assert_eq!(events[5]["data"]["delta"]["stop_reason"], "max_tokens");
    assert_eq!(t.usage(), None, "no usage chunk came");
    assert!(
        json(
            out.as_slice()
                .split(|b| *b == b'\n')
                .nth(1)
                .unwrap()
                .strip_prefix(b"data: ")
                .unwrap()
        )["message"]["id"]
            == "c"
    );
}

#[test]
fn only_the_first_choice_of_a_chat_stream_is_carried() {
    let input = concat!(
        "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A\"},\"finish_reason\":null}]}\n\n",
        "data: [DONE]\n\n"
    );
    let (out, _) = c2m(input.as_bytes(), 0);
    let texts: Vec<Value> = messages_events(&out)
        .into_iter()
        .filter(|e| e["event"] == "content_block_delta")
        .map(|e| e["data"]["delta"]["text"].clone())
        .collect();
    assert_eq!(texts, [j!("A")]);
}
