//! Fixture tests after the Responses API reference's own examples (the
//! "Functions" request and answer, and the "Streaming" event sequence of
//! `POST /v1/responses`): the fixtures are written here in those shapes, the
//! chat side being what a Chat Completions upstream answers to the
//! translated request.

use std::sync::Arc;

use serde_json::json;

use super::tests::events;
use super::{ChatToResponses, Echo, chat_to_responses, responses_to_chat};
use crate::translate::tests::{fixture, json, opts};

#[test]
fn the_reference_function_call_example_round_trips() {
    let (t, echo) = responses_to_chat(
        fixture!("responses_request_functions.json").as_bytes(),
        &opts("gpt-5.4"),
    )
    .unwrap();
    let chat = json(&t.body);
    assert_eq!(
        chat["messages"],
        json!([{"role": "user", "content": "What is the weather like in Boston today?"}])
    );
    assert_eq!(chat["tools"][0]["function"]["name"], "get_current_weather");
    assert_eq!(chat["tool_choice"], "auto");
    let r = chat_to_responses(fixture!("chat_response_functions.json").as_bytes(), &echo).unwrap();
    assert_eq!(
        json(&r.body),
        json(fixture!("responses_response_functions.json").as_bytes())
    );
}

/// The reference's streaming example, event by event: the event names in
/// order (its `...` stands for more text deltas) and each event's fields.
const REFERENCE: &[(&str, &[&str])] = &[
    ("response.created", &["response"]),
    ("response.in_progress", &["response"]),
    ("response.output_item.added", &["output_index", "item"]),
    (
        "response.content_part.added",
        &["item_id", "output_index", "content_index", "part"],
    ),
    (
        "response.output_text.delta",
        &["item_id", "output_index", "content_index", "delta"],
    ),
    (
        "response.output_text.delta",
        &["item_id", "output_index", "content_index", "delta"],
    ),
    (
        "response.output_text.done",
        &["item_id", "output_index", "content_index", "text"],
    ),
    (
        "response.content_part.done",
        &["item_id", "output_index", "content_index", "part"],
    ),
    ("response.output_item.done", &["output_index", "item"]),
    ("response.completed", &["response"]),
];

#[test]
fn the_reference_streaming_example_is_what_a_chat_stream_becomes() {
    let mut t = ChatToResponses::new(&Arc::new(Echo::default()));
    let mut out = t.feed(fixture!("chat_stream_hi.sse").as_bytes());
    out.extend(t.finish());
    let events = events(&out);
    assert_eq!(events.len(), REFERENCE.len(), "{events:?}");
    for ((name, data), (want, fields)) in events.iter().zip(REFERENCE) {
        assert_eq!(name, want);
        for f in *fields {
            assert!(data.get(*f).is_some(), "{name} has {f}: {data}");
        }
    }
    let done = &events[9].1["response"];
    assert_eq!(
        done["output"][0]["content"][0]["text"],
        "Hi there! How can I assist you today?"
    );
    assert_eq!(events[6].1["text"], "Hi there! How can I assist you today?");
    assert_eq!(
        (
            done["usage"]["input_tokens"].clone(),
            done["usage"]["output_tokens"].clone(),
            done["usage"]["total_tokens"].clone()
        ),
        (json!(37), json!(11), json!(48))
    );
    // The lifecycle events name one response; items keep their ids.
    assert_eq!(events[0].1["response"]["id"], done["id"]);
    assert_eq!(events[2].1["item"]["id"], events[8].1["item"]["id"]);
    assert_eq!(events[0].1["response"]["status"], "in_progress");
}
