//! Fixture tests for the Responses translators: fixtures are written from
//! the Responses API reference's documented request, response and event
//! shapes (src/translate/fixtures/responses_*), and reuse the Chat
//! Completions fixtures the other translators are tested with.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{ChatToResponses, Echo, ResponsesError, chat_to_responses, responses_to_chat};
use crate::translate::stream::MessagesToChat;
use crate::translate::tests::{fixture, json, opts};

fn translate(body: &str) -> Result<(crate::translate::Translated, Echo), ResponsesError> {
    responses_to_chat(body.as_bytes(), &opts("up-model"))
}

#[test]
fn a_request_becomes_a_chat_request() {
    let (t, echo) = translate(fixture!("responses_request.json")).unwrap();
    assert_eq!(
        json(&t.body),
        json(fixture!("chat_request_from_responses.json").as_bytes())
    );
    assert!(t.stream && t.include_usage);
    for lost in [
        "input[].reasoning",
        "tools[].type=web_search_preview",
        "reasoning.summary",
        "metadata",
    ] {
        assert!(t.dropped.contains(lost), "{lost} in {:?}", t.dropped);
    }
    // The answer echoes the request's settings, and says nothing was stored.
    let r = chat_to_responses(fixture!("chat_response.json").as_bytes(), &echo).unwrap();
    let r = json(&r.body);
    let req = json(fixture!("responses_request.json").as_bytes());
    for k in [
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "temperature",
        "metadata",
    ] {
        assert_eq!(r[k], req[k], "{k}");
    }
    assert_eq!(
        (r["store"].clone(), r["max_output_tokens"].clone()),
        (json!(false), json!(1000))
    );
}

#[test]
fn a_string_input_is_one_user_message_and_reaches_messages() {
    let (t, _) = translate(r#"{"model":"m","input":"hi","max_output_tokens":50}"#).unwrap();
    let chat = json(&t.body);
    assert_eq!(chat["messages"], json!([{"role": "user", "content": "hi"}]));
    assert_eq!(chat["max_completion_tokens"], 50);
    assert!(chat.get("stream").is_none() && t.dropped.is_empty());
    // The whole request fixture on to Anthropic: a valid Messages body.
    let (t, _) = translate(fixture!("responses_request.json")).unwrap();
    let m = crate::translate::chat_to_messages(&t.body, &opts("claude")).unwrap();
    let m = json(&m.body);
    assert_eq!(m["system"], "You are a weather assistant.");
    assert_eq!(
        field_of_each(&m["messages"], "role"),
        ["user", "assistant", "user"]
    );
    assert_eq!(m["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(m["messages"][2]["content"][1]["tool_use_id"], "call_lyon");
    assert_eq!(
        m["tool_choice"],
        json!({"type": "tool", "name": "get_current_weather"})
    );
    assert_eq!(m["max_tokens"], 1000);
}

#[test]
fn requests_that_need_stored_state_are_refused_by_name() {
    for (field, value) in [
        ("previous_response_id", json!("resp_123")),
        ("store", json!(true)),
        ("conversation", json!("conv_123")),
        ("background", json!(true)),
        ("prompt", json!({"id": "pmpt_123"})),
    ] {
        let body = json!({"model": "m", "input": "hi", field: value}).to_string();
        match translate(&body) {
            Err(ResponsesError::Stateless { param, message }) => {
                assert_eq!(param, field);
                assert!(message.contains(field), "{message}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
    let stateless = r#"{"model":"m","input":"hi","store":false,"background":false,"previous_response_id":null}"#;
    assert!(translate(stateless).is_ok());
}

#[test]
fn bad_requests_name_the_field() {
    for (body, field) in [
        (r#"{"model":"m"}"#, "input"),
        (r#"{"model":"m","input":3}"#, "input"),
        (
            r#"{"model":"m","input":[{"type":"function_call","name":"f"}]}"#,
            "input[0].call_id",
        ),
        (
            r#"{"model":"m","input":[{"role":"tool","content":"x"}]}"#,
            "input[0].role",
        ),
        (
            r#"{"model":"m","input":"hi","tools":[{"type":"function"}]}"#,
            "tools[0].name",
        ),
    ] {
        let e = translate(body).unwrap_err().to_string();
        assert!(e.starts_with(field), "{body}: {e}");
    }
    assert!(
        translate("[1]")
            .unwrap_err()
            .to_string()
            .contains("Responses request")
    );
}

#[test]
fn a_chat_completion_becomes_a_response() {
    let r = chat_to_responses(fixture!("chat_response.json").as_bytes(), &Echo::default()).unwrap();
    assert_eq!(
        json(&r.body),
        json(fixture!("responses_response_from_chat.json").as_bytes())
    );
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.cached_input_tokens,
            r.usage.output_tokens
        ),
        (93, 1024, 46)
    );
    let cut = json!({"id": "c", "created": 1, "model": "m", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": "partial"}, "finish_reason": "length"}]});
    let r = json(
        &chat_to_responses(cut.to_string().as_bytes(), &Echo::default())
            .unwrap()
            .body,
    );
    assert_eq!(
        (r["status"].clone(), r["incomplete_details"].clone()),
        (json!("incomplete"), json!({"reason": "max_output_tokens"}))
    );
    assert_eq!(r["output"][0]["status"], "incomplete");
}

/// String field `key` of each object in array `list`.
fn field_of_each<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    let list = list.as_array().unwrap();
    list.iter().map(|x| x[key].as_str().unwrap()).collect()
}

/// The events of a Responses stream as `(type, data)`, checking that the
/// event name and `type` agree and sequence numbers count from 0.
pub(super) fn events(stream: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(stream).unwrap();
    let out: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e
                .strip_prefix("event: ")
                .and_then(|r| r.split_once("\ndata: "))
                .unwrap();
            let v = json(data.as_bytes());
            assert_eq!(v["type"], name);
            (name.to_string(), v)
        })
        .collect();
    for (i, (_, v)) in out.iter().enumerate() {
        assert_eq!(v["sequence_number"], i, "{v}");
    }
    out
}

fn run(stream: &[u8], piece: usize) -> (Vec<u8>, ChatToResponses) {
    let mut t = ChatToResponses::new(&Arc::new(Echo::default()));
    let mut out = Vec::new();
    for c in stream.chunks(piece) {
        out.extend(t.feed(c));
    }
    out.extend(t.finish());
    (out, t)
}

#[test]
fn a_chunk_stream_becomes_the_responses_events_whatever_the_chunking() {
    let stream = fixture!("chat_stream.sse").as_bytes();
    let (whole, t) = run(stream, stream.len());
    assert!(t.is_done());
    assert_eq!(
        t.usage()
            .map(|u| (u.input_tokens, u.cached_input_tokens, u.reasoning_tokens)),
        Some((20, 100, 12))
    );
    for piece in [1, 7, 64] {
        assert_eq!(run(stream, piece).0, whole, "pieces of {piece}");
    }
    let ev = events(&whole);
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(kinds.last(), Some(&"response.completed"));
    for k in [
        "response.output_text.delta",
        "response.output_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.reasoning_text.delta",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let text: String = ev
        .iter()
        .filter(|(k, _)| k == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, "Checking both \"cities\".");
    let done = &ev.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(
        field_of_each(&done["output"], "type"),
        ["reasoning", "message", "function_call", "function_call"]
    );
    assert_eq!(done["output"][2]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(done["output"][3]["call_id"], "call_tokyo");
    assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 100);
    assert_eq!(
        done["usage"]["output_tokens_details"]["reasoning_tokens"],
        12
    );
    // Every item added is done before the next one is added.
    let at =
        |name: &str| -> Vec<usize> { (0..kinds.len()).filter(|i| kinds[*i] == name).collect() };
    let (added, dones) = (
        at("response.output_item.added"),
        at("response.output_item.done"),
    );
    assert_eq!(added.len(), 4);
    assert!(
        added.iter().skip(1).zip(&dones).all(|(a, d)| d < a),
        "{kinds:?}"
    );
}

#[test]
fn a_cut_stream_is_not_completed_and_an_error_is_told() {
    let stream = fixture!("chat_stream.sse");
    let cut = &stream[..stream.find("\"finish_reason\":\"tool_calls\"").unwrap()];
    let cut = &cut[..cut.rfind("\n\n").unwrap() + 2];
    let (out, mut t) = run(cut.as_bytes(), 10);
    assert!(!t.is_done());
    assert!(!String::from_utf8_lossy(&out).contains("response.completed"));
    let n = events(&out).len();
    let err = t.error_event("upstream_timeout", "silent");
    let mut all = out.clone();
    all.extend(err);
    let ev = events(&all);
    assert_eq!(
        (ev[n].0.as_str(), ev[n].1["code"].clone()),
        ("error", json!("upstream_timeout"))
    );
    let upstream_error = b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":null}}\n\n";
    let (out, t) = run(upstream_error, 5);
    let ev = events(&out);
    assert!(
        t.is_done() && ev.len() == 1 && ev[0].1["message"] == "overloaded",
        "{ev:?}"
    );
}

#[test]
fn an_anthropic_stream_reaches_a_responses_client_through_chat() {
    let mut via = MessagesToChat::new(true);
    let mut t = ChatToResponses::new(&Arc::new(Echo::default()));
    let mut out = t.feed(&via.feed(fixture!("messages_stream.sse").as_bytes()));
    out.extend(t.feed(&via.finish()));
    out.extend(t.finish());
    let ev = events(&out);
    let done = &ev.last().unwrap().1;
    assert_eq!(done["type"], "response.completed");
    assert_eq!(done["response"]["usage"]["input_tokens"], 472 + 2000 + 10);
    assert_eq!(done["response"]["usage"]["output_tokens"], 89);
    assert!(
        done["response"]["output"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"] == "function_call")
    );
}
