//! Complete answers: Messages → chat completion and chat completion →
//! Messages, with usage normalised.

use serde_json::{Value, json as j};

use super::{fixture, json, zero_created};
use crate::ledger::Usage;
use crate::translate::response::{chat_to_messages, messages_to_chat};

fn m2c(body: Value) -> Value {
    let mut v = json(&messages_to_chat(body.to_string().as_bytes()).unwrap().body);
    zero_created(&mut v);
    v
}

fn c2m(body: Value) -> Value {
    json(&chat_to_messages(body.to_string().as_bytes()).unwrap().body)
}

#[test]
fn a_messages_answer_becomes_the_documented_chat_completion() {
    let t = messages_to_chat(fixture!("messages_response.json").as_bytes()).unwrap();
    let mut v = json(&t.body);
    assert!(
        v["created"].as_u64().unwrap() > 1_700_000_000,
        "created is now"
    );
    zero_created(&mut v);
    assert_eq!(
        v,
        json(fixture!("chat_response_from_messages.json").as_bytes())
    );
    assert_eq!(
        t.usage,
        Usage {
            input_tokens: 472,
            cached_input_tokens: 1500,
            cache_write_tokens: 100,
            output_tokens: 89,
            reasoning_tokens: 0
        }
    );
    assert_eq!(
        t.dropped.iter().collect::<Vec<_>>(),
        ["content[].signature"]
    );
}

#[test]
fn a_chat_completion_becomes_the_documented_messages_answer() {
    let t = chat_to_messages(fixture!("chat_response.json").as_bytes()).unwrap();
    assert_eq!(
        json(&t.body),
        json(fixture!("messages_response_from_chat.json").as_bytes())
    );
    assert_eq!(
        t.usage,
        Usage {
            input_tokens: 93,
            cached_input_tokens: 1024,
            cache_write_tokens: 0,
            output_tokens: 46,
            reasoning_tokens: 0
        }
    );
    assert_eq!(
        t.dropped.iter().collect::<Vec<_>>(),
        ["system_fingerprint", "service_tier"]
    );
}

fn anthropic(content: Value, stop: &str) -> Value {
    j!({"id": "msg_1", "type": "message", "role": "assistant", "model": "c", "content": content,
        "stop_reason": stop, "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 2}})
}

fn openai(message: Value, finish: &str) -> Value {
    j!({"id": "c1", "object": "chat.completion", "created": 1, "model": "g",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}})
}

#[test]
fn stop_reasons_become_finish_reasons_and_back() {
    let text = j!([{"type": "text", "text": "x"}]);
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ] {
        assert_eq!(
            m2c(anthropic(text.clone(), stop))["choices"][0]["finish_reason"],
            finish
        );
    }
    for (finish, stop) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ] {
        assert_eq!(
            c2m(openai(j!({"role": "assistant", "content": "x"}), finish))["stop_reason"],
            stop
        );
    }
}

#[test]
fn a_matched_stop_sequence_is_listed_as_dropped() {
    let mut body = anthropic(j!([{"type": "text", "text": "x"}]), "stop_sequence");
    body["stop_sequence"] = j!("END");
    let t = messages_to_chat(body.to_string().as_bytes()).unwrap();
    assert!(t.dropped.contains("stop_sequence"));
}

#[test]
fn a_text_only_answer_has_no_tool_calls_and_an_empty_one_has_null_content() {
    let v = m2c(anthropic(
        j!([{"type": "text", "text": "hello"}]),
        "end_turn",
    ));
    assert_eq!(
        v["choices"][0]["message"],
        j!({"role": "assistant", "content": "hello", "refusal": null})
    );
    let v = m2c(anthropic(j!([]), "end_turn"));
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
}

#[test]
fn reasoning_content_becomes_a_thinking_block_and_reasoning_tokens_are_listed() {
    let mut body = openai(
        j!({"role": "assistant", "content": "42", "reasoning_content": "think"}),
        "stop",
    );
    body["usage"]["completion_tokens_details"] = j!({"reasoning_tokens": 3});
    let t = chat_to_messages(body.to_string().as_bytes()).unwrap();
    let v = json(&t.body);
    assert_eq!(
        v["content"],
        j!([{"type": "thinking", "thinking": "think", "signature": ""}, {"type": "text", "text": "42"}])
    );
    assert_eq!(t.usage.reasoning_tokens, 3, "the ledger still gets them");
    assert!(
        t.dropped
            .contains("usage.completion_tokens_details.reasoning_tokens")
    );
}

#[test]
fn a_refusal_becomes_text_with_stop_reason_refusal() {
    let v = c2m(openai(
        j!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
        "stop",
    ));
    assert_eq!(
        v["content"],
        j!([{"type": "text", "text": "I can't help with that."}])
    );
    assert_eq!(v["stop_reason"], "refusal");
}

#[test]
fn tool_arguments_that_are_not_json_become_empty_input_and_are_listed() {
    let msg = j!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}}
    ]});
    let t = chat_to_messages(openai(msg, "tool_calls").to_string().as_bytes()).unwrap();
    let v = json(&t.body);
    assert_eq!(v["content"][0]["input"], j!({}));
    assert_eq!(v["content"][1]["input"], j!({}));
    assert!(
        t.dropped
            .contains("tool_calls[].function.arguments (not JSON)")
    );
}

#[test]
fn several_choices_keep_the_first_and_an_answer_without_one_is_an_error() {
    let mut body = openai(j!({"role": "assistant", "content": "a"}), "stop");
    body["choices"] = j!([body["choices"][0].clone(), {"index": 1, "message": {"role": "assistant", "content": "b"}, "finish_reason": "stop"}]);
    let t = chat_to_messages(body.to_string().as_bytes()).unwrap();
    assert_eq!(json(&t.body)["content"][0]["text"], "a");
    assert!(t.dropped.contains("choices[1..]"));
    body["choices"] = j!([]);
    let e = chat_to_messages(body.to_string().as_bytes()).unwrap_err();
    assert!(e.to_string().contains("no choice"), "{e}");
    assert!(messages_to_chat(b"<html>").is_err());
}
