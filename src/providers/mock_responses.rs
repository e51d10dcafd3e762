//! The mock's Responses API, spoken natively so that `/v1/responses`
//! passes through to it untouched (tests of pass-through, benchmarks): a
//! Response object, its event stream with sequence numbers, and a
//! `function_call` when the request offers a function tool that the
//! user's last message names (as [`super::mock_tools`] decides for the
//! other APIs).

use serde_json::{Value, json};

use super::mock_tools::{self, Answer, ToolCall};

/// The call for a Responses request, if the mock makes one: the last input
/// item is the user's text (not a function's output) naming a function
/// tool offered.
pub(super) fn planned(body: &[u8]) -> Option<ToolCall> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = match &v["input"] {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let last = items.last()?;
            if last["role"] != "user" {
                return None;
            }
            match &last["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => return None,
            }
        }
        _ => return None,
    };
    v["tools"].as_array()?.iter().find_map(|t| {
        let name = t["name"].as_str().filter(|_| t["type"] == "function")?;
        text.contains(name).then(|| ToolCall {
            name: name.to_string(),
            arguments: mock_tools::arguments(t.get("parameters")),
        })
    })
}

/// A Response object: completed, with `output` and usage.
fn response(a: &Answer, status: &str, output: Vec<Value>, usage: bool) -> Value {
    let model: Value = serde_json::from_str(&a.model).unwrap_or(Value::Null);
    let (p, c) = (a.prompt_tokens, a.completion_tokens);
    let usage = usage.then(|| {
        json!({"input_tokens": p, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": c, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": p + c})
    });
    json!({"id": format!("resp_mock_{}", a.id), "object": "response", "created_at": a.created,
        "status": status, "error": null, "incomplete_details": null, "instructions": null,
        "max_output_tokens": null, "model": model, "output": output,
        "parallel_tool_calls": true, "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null}, "store": false, "temperature": 1.0,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
        "truncation": "disabled", "usage": usage, "metadata": {}})
}

/// An `output_text` content part.
fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn message(a: &Answer, status: &str, text: &str) -> Value {
    let content = if status == "completed" {
        json!([text_part(text)])
    } else {
        json!([])
    };
    json!({"id": format!("msg_mock_{}", a.id), "type": "message", "status": status,
        "role": "assistant", "content": content})
}

fn call(a: &Answer, call: &ToolCall, status: &str, args: &str) -> Value {
    json!({"id": format!("fc_mock_{}", a.id), "type": "function_call", "status": status,
        "call_id": format!("call_mock_{}", a.id), "name": call.name, "arguments": args})
}

/// The whole answer: one message with the mock's text.
pub(super) fn plain(a: &Answer, text: &str) -> String {
    response(a, "completed", vec![message(a, "completed", text)], true).to_string()
}

/// The whole answer calling the tool.
pub(super) fn call_plain(c: &ToolCall, a: &Answer) -> String {
    let out = vec![call(a, c, "completed", &c.arguments)];
    response(a, "completed", out, true).to_string()
}

/// Events numbered from 0, as the API numbers them.
#[derive(Default)]
struct Events {
    out: Vec<String>,
}

impl Events {
    fn push(&mut self, kind: &str, mut body: Value) {
        body["type"] = Value::from(kind);
        body["sequence_number"] = Value::from(self.out.len());
        self.out.push(format!("event: {kind}\ndata: {body}\n\n"));
    }

    fn open(a: &Answer) -> Events {
        let mut e = Events::default();
        let r = response(a, "in_progress", Vec::new(), false);
        e.push("response.created", json!({ "response": r }));
        e.push("response.in_progress", json!({ "response": r }));
        e
    }

    /// The last events: the one output item done, then the whole
    /// response completed with it.
    fn close(mut self, a: &Answer, done: Value) -> Vec<String> {
        self.push(
            "response.output_item.done",
            json!({"output_index": 0, "item": done}),
        );
        let r = response(a, "completed", vec![done], true);
        self.push("response.completed", json!({ "response": r }));
        self.out
    }
}

/// The events of a streamed text answer, one delta per word.
pub(super) fn events(a: &Answer, words: &[String]) -> Vec<String> {
    let mut e = Events::open(a);
    let item_id = format!("msg_mock_{}", a.id);
    e.push(
        "response.output_item.added",
        json!({"output_index": 0, "item": message(a, "in_progress", "")}),
    );
    let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
    let with = |extra: Value| {
        let mut v = at.clone();
        if let (Some(m), Value::Object(x)) = (v.as_object_mut(), extra) {
            m.extend(x);
        }
        v
    };
    e.push(
        "response.content_part.added",
        with(json!({ "part": text_part("") })),
    );
    for w in words {
        let body = with(json!({"delta": w, "logprobs": []}));
        e.push("response.output_text.delta", body);
    }
    let text = words.concat();
    e.push(
        "response.output_text.done",
        with(json!({"text": text, "logprobs": []})),
    );
    e.push(
        "response.content_part.done",
        with(json!({ "part": text_part(&text) })),
    );
    let done = message(a, "completed", &text);
    e.close(a, done)
}

/// The events of a streamed answer calling the tool.
pub(super) fn call_events(c: &ToolCall, a: &Answer) -> Vec<String> {
    let mut e = Events::open(a);
    let item_id = format!("fc_mock_{}", a.id);
    e.push(
        "response.output_item.added",
        json!({"output_index": 0, "item": call(a, c, "in_progress", "")}),
    );
    e.push(
        "response.function_call_arguments.delta",
        json!({"item_id": item_id, "output_index": 0, "delta": c.arguments}),
    );
    e.push(
        "response.function_call_arguments.done",
        json!({"item_id": item_id, "output_index": 0, "name": c.name, "arguments": c.arguments}),
    );
    let done = call(a, c, "completed", &c.arguments);
    e.close(a, done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Answer {
        Answer {
            id: 7,
            created: 1,
            model: "\"m\"".into(),
            prompt_tokens: 12,
            completion_tokens: 3,
            usage_chunk: false,
        }
    }

    /// Each event's `type` and `sequence_number`, checked to count from 0.
    fn kinds(events: &[String]) -> Vec<String> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (name, data) = e
                    .strip_prefix("event: ")
                    .and_then(|r| r.split_once("\ndata: "))
                    .expect("an event");
                let v: Value = serde_json::from_str(data.trim_end()).expect("json");
                assert_eq!(
                    (v["type"].as_str(), v["sequence_number"].as_u64()),
                    (Some(name), Some(i as u64))
                );
                name.to_string()
            })
            .collect()
    }

    #[test]
    fn text_and_calls_are_spoken_natively() {
        let plain: Value = serde_json::from_str(&plain(&answer(), "a b")).expect("json");
        assert_eq!(plain["output"][0]["content"][0]["text"], "a b");
        assert_eq!(plain["usage"]["total_tokens"], 15);
        let words = ["a".to_string(), " b".to_string()];
        let k = kinds(&events(&answer(), &words));
        assert_eq!(k.first().map(String::as_str), Some("response.created"));
        assert_eq!(
            k.iter()
                .filter(|k| *k == "response.output_text.delta")
                .count(),
            2
        );
        assert_eq!(k.last().map(String::as_str), Some("response.completed"));

        let body = br#"{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"call get_weather"}]}],
            "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object","required":["city"]}}]}"#;
        let call = planned(body).expect("a call");
        assert_eq!(call.arguments, r#"{"city":"mock"}"#);
        let v: Value = serde_json::from_str(&call_plain(&call, &answer())).expect("json");
        assert_eq!(v["output"][0]["type"], "function_call");
        assert_eq!(v["output"][0]["call_id"], "call_mock_7");
        let k = kinds(&call_events(&call, &answer()));
        assert!(
            k.contains(&"response.function_call_arguments.delta".to_string()),
            "{k:?}"
        );
        let answered = br#"{"model":"m","tools":[{"type":"function","name":"get_weather"}],
            "input":[{"type":"function_call_output","call_id":"c","output":"sunny"}]}"#;
        assert_eq!(planned(answered), None);
    }
}
