//! Requests: Chat Completions → Messages and Messages → Chat Completions.

use serde_json::{Value, json as j};

use super::{fixture, json, opts, translates_to};
use crate::translate::{RequestOpts, TranslateError, chat_to_messages, messages_to_chat};

fn c2m(body: Value) -> (Value, Vec<String>) {
    let t = chat_to_messages(body.to_string().as_bytes(), &opts("claude")).unwrap();
    (json(&t.body), t.dropped.iter().map(String::from).collect())
}

fn m2c(body: Value) -> (Value, Vec<String>) {
    let t = messages_to_chat(body.to_string().as_bytes(), &opts("gpt")).unwrap();
    (json(&t.body), t.dropped.iter().map(String::from).collect())
}

#[test]
fn a_chat_request_becomes_the_documented_messages_request() {
    let t = translates_to(
        chat_to_messages,
        fixture!("chat_request.json"),
        "claude-sonnet-4-20250514",
        fixture!("messages_request_from_chat.json"),
    );
    assert!(t.stream && t.include_usage);
    let dropped: Vec<&str> = t.dropped.iter().collect();
    assert_eq!(
        dropped,
        [
            "frequency_penalty",
            "seed",
            "image_url.detail",
            "messages[].name"
        ]
    );
    assert_eq!(
        t.dropped.header_value().unwrap(),
        "frequency_penalty, seed, image_url.detail, messages[].name"
    );
}

#[test]
fn a_messages_request_becomes_the_documented_chat_request() {
    let t = translates_to(
        messages_to_chat,
        fixture!("messages_request.json"),
        "gpt-4o-2024-08-06",
        fixture!("chat_request_from_messages.json"),
    );
    assert!(t.stream);
    for d in [
        "service_tier",
        "cache_control",
        "messages[].content[].thinking",
        "tool_result.is_error",
        "tools[].type=web_search_20250305",
        "top_k",
    ] {
        assert!(t.dropped.contains(d), "{d} not in {:?}", t.dropped);
    }
}

#[test]
fn extensions_carry_top_k_and_reasoning_history_to_compatible_servers() {
    let o = RequestOpts {
        chat_extensions: true,
        legacy_max_tokens: true,
        ..opts("m")
    };
    let t = messages_to_chat(fixture!("messages_request.json").as_bytes(), &o).unwrap();
    let v = json(&t.body);
    assert_eq!(v["top_k"], 40);
    assert_eq!(v["max_tokens"], 2048);
    assert!(v.get("max_completion_tokens").is_none());
    assert_eq!(
        v["messages"][2]["reasoning_content"],
        "I should read both files."
    );
    assert!(!t.dropped.contains("top_k"));
}

#[test]
fn max_tokens_comes_from_the_client_or_the_model_default() {
    let msgs = j!([{"role": "user", "content": "hi"}]);
    let (v, _) = c2m(j!({"model": "x", "messages": msgs}));
    assert_eq!(
        v["max_tokens"], 4096,
        "the default when the client set none"
    );
    let o = RequestOpts {
        max_tokens_default: 777,
        ..opts("x")
    };
    let t = chat_to_messages(j!({"messages": msgs}).to_string().as_bytes(), &o).unwrap();
    assert_eq!(json(&t.body)["max_tokens"], 777);
    let (v, _) = c2m(j!({"messages": msgs, "max_tokens": 10}));
    assert_eq!(v["max_tokens"], 10);
    let (v, _) = c2m(j!({"messages": msgs, "max_tokens": 10, "max_completion_tokens": 20}));
    assert_eq!(v["max_tokens"], 20, "max_completion_tokens wins");
    let (v, _) = m2c(j!({"messages": msgs, "max_tokens": 30}));
    assert_eq!(v["max_completion_tokens"], 30);
}

#[test]
fn tool_choice_maps_both_ways() {
    let msgs = j!([{"role": "user", "content": "hi"}]);
    let tools = j!([{"type": "function", "function": {"name": "f"}}]);
    for (chat, anth) in [
        (j!("auto"), j!({"type": "auto"})),
        (j!("none"), j!({"type": "none"})),
        (j!("required"), j!({"type": "any"})),
        (
            j!({"type": "function", "function": {"name": "f"}}),
            j!({"type": "tool", "name": "f"}),
        ),
    ] {
        let (v, _) = c2m(j!({"messages": msgs, "tools": tools, "tool_choice": chat}));
        assert_eq!(v["tool_choice"], anth);
        let (v, _) = m2c(
            j!({"messages": msgs, "max_tokens": 5, "tools": [{"name": "f", "input_schema": {}}], "tool_choice": anth}),
        );
        assert_eq!(v["tool_choice"], chat);
        assert!(v.get("parallel_tool_calls").is_none());
    }
    let (v, _) = c2m(j!({"messages": msgs, "tools": tools, "parallel_tool_calls": false}));
    assert_eq!(
        v["tool_choice"],
        j!({"type": "auto", "disable_parallel_tool_use": true})
    );
}

#[test]
fn system_prompts_keep_their_form_and_cache_marks() {
    let (v, _) = c2m(
        j!({"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}),
    );
    assert_eq!(v["system"], "be brief");
    assert_eq!(v["messages"], j!([{"role": "user", "content": "hi"}]));
    let (v, d) = m2c(
        j!({"max_tokens": 1, "system": "be brief", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(
        v["messages"][0],
        j!({"role": "system", "content": "be brief"})
    );
    assert!(d.is_empty());
    let sys = j!([{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "b"}]);
    let (v, d) =
        m2c(j!({"max_tokens": 1, "system": sys, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(
        v["messages"][0]["content"],
        j!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    );
    assert_eq!(
        d,
        ["cache_control"],
        "OpenAI caches by itself; the mark is dropped and said so"
    );
}

#[test]
fn reasoning_effort_and_thinking_budget_map_both_ways() {
    let msgs = j!([{"role": "user", "content": "hi"}]);
    let (v, d) =
        c2m(j!({"messages": msgs, "reasoning_effort": "high", "max_completion_tokens": 40000}));
    assert_eq!(
        v["thinking"],
        j!({"type": "enabled", "budget_tokens": 16384})
    );
    assert!(d.is_empty());
    let (v, _) =
        c2m(j!({"messages": msgs, "reasoning_effort": "medium", "max_completion_tokens": 6000}));
    assert_eq!(
        v["thinking"]["budget_tokens"], 3000,
        "the budget stays below max_tokens"
    );
    let (v, d) =
        c2m(j!({"messages": msgs, "reasoning_effort": "low", "max_completion_tokens": 1000}));
    assert!(v.get("thinking").is_none());
    assert_eq!(d, ["reasoning_effort"], "no budget fits under 1000 tokens");
    let (v, _) = c2m(j!({"messages": msgs, "reasoning_effort": "none"}));
    assert!(v.get("thinking").is_none());
    for (budget, effort) in [(1024, "low"), (4096, "medium"), (32000, "high")] {
        let (v, _) = m2c(
            j!({"messages": msgs, "max_tokens": 64000, "thinking": {"type": "enabled", "budget_tokens": budget}}),
        );
        assert_eq!(v["reasoning_effort"], effort);
    }
    let (v, _) = m2c(j!({"messages": msgs, "max_tokens": 9, "thinking": {"type": "disabled"}}));
    assert!(v.get("reasoning_effort").is_none());
}

#[test]
fn sampling_stop_and_user_map_both_ways() {
    let msgs = j!([{"role": "user", "content": "hi"}]);
    let (v, _) = c2m(
        j!({"messages": msgs, "temperature": 0.3, "top_p": 0.8, "top_k": 5, "stop": "X", "user": "u1"}),
    );
    assert_eq!(
        (&v["temperature"], &v["top_p"], &v["top_k"]),
        (&j!(0.3), &j!(0.8), &j!(5))
    );
    assert_eq!(v["stop_sequences"], j!(["X"]));
    assert_eq!(v["metadata"], j!({"user_id": "u1"}));
    let (v, _) = m2c(
        j!({"messages": msgs, "max_tokens": 1, "temperature": 0.3, "top_p": 0.8, "stop_sequences": ["X", "Y"], "metadata": {"user_id": "u1"}}),
    );
    assert_eq!(
        (&v["temperature"], &v["top_p"], &v["stop"], &v["user"]),
        (&j!(0.3), &j!(0.8), &j!(["X", "Y"]), &j!("u1"))
    );
    assert!(v.get("stream").is_none() && v.get("stream_options").is_none());
}

#[test]
fn consecutive_turns_of_one_role_are_merged_for_anthropic() {
    let (v, _) = c2m(j!({"messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "three"}
    ]}));
    assert_eq!(
        v["messages"],
        j!([
            {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "three"}]}
        ])
    );
}

#[test]
fn unknown_fields_are_listed_not_ignored() {
    let (_, d) = c2m(
        j!({"messages": [{"role": "user", "content": "hi"}], "frobnicate": 1, "logit_bias": null, "n": 2}),
    );
    assert_eq!(d, ["frobnicate", "n"]);
    let (_, d) = m2c(j!({"messages": [], "max_tokens": 1, "container": "c1", "mcp_servers": []}));
    assert_eq!(d, ["container", "mcp_servers"]);
}

#[test]
fn bad_requests_are_refused_naming_the_field() {
    let err = |body: Value| {
        chat_to_messages(body.to_string().as_bytes(), &opts("x"))
            .unwrap_err()
            .to_string()
    };
    assert!(err(j!({"model": "x"})).contains("missing field `messages`"));
    let e = err(j!({"messages": [{"role": "tool", "content": "r"}]}));
    assert!(e.contains("messages[0].tool_call_id"), "{e}");
    let e = err(
        j!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
    );
    assert!(e.contains("call c1 has arguments that are not JSON"), "{e}");
    let e = err(j!({"messages": [{"role": "function", "content": "r"}]}));
    assert!(e.contains("messages[0].role"), "{e}");
    let e = err(
        j!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}]}]}),
    );
    assert!(e.contains("must be base64"), "{e}");
    assert!(matches!(
        chat_to_messages(b"{not json", &opts("x")),
        Err(TranslateError::Json { .. })
    ));
    let e = messages_to_chat(
        br#"{"messages":[{"role":"system","content":"x"}]}"#,
        &opts("x"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("messages[0].role"), "{e}");
}
