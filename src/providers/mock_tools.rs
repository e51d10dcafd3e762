//! The mock's tool calls, so that tool use runs offline and in benchmarks
//! in both APIs, plain and streamed (and through translation).
//!
//! Deterministic: the mock calls a tool when the request offers tools and
//! the last message is the user's own text (not a tool's result) naming one
//! of them; the first offered tool named is called. Its arguments fill each
//! `required` property of the tool's schema with the string `"mock"`, so
//! they validate against simple schemas. Otherwise the mock answers text.

use serde_json::Value;

use super::Endpoint;

/// The call the mock answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ToolCall {
    pub name: String,
    /// The arguments as JSON object text.
    pub arguments: String,
}

/// What an answer needs besides the call: ids, the model (JSON text),
/// usage, and whether the chat stream ends with the usage chunk.
pub(super) struct Answer {
    pub id: u64,
    pub created: u64,
    /// The model as JSON text (quoted).
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub usage_chunk: bool,
}

/// The call for this request, if the mock makes one.
pub(super) fn planned(endpoint: Endpoint, body: &[u8]) -> Option<ToolCall> {
    // Most requests offer no tools: skip parsing them at all.
    if endpoint == Endpoint::Embeddings || !body.windows(7).any(|w| w == b"\"tools\"") {
        return None;
    }
    if endpoint == Endpoint::Responses {
        return super::mock_responses::planned(body);
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let last = v["messages"].as_array()?.last()?;
    if last["role"] != "user" {
        return None;
    }
    let text = match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => {
            if blocks.iter().any(|b| b["type"] == "tool_result") {
                return None;
            }
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => return None,
    };
    v["tools"].as_array()?.iter().find_map(|t| {
        // Chat: {"type":"function","function":{name, parameters}};
        // Messages: {name, input_schema}.
        let (name, schema) = match t["function"].as_object() {
            Some(f) => (f.get("name")?.as_str()?, f.get("parameters")),
            None => (t["name"].as_str()?, t.get("input_schema")),
        };
        text.contains(name).then(|| ToolCall {
            name: name.to_string(),
            arguments: arguments(schema),
        })
    })
}

/// `{"<required>":"mock",…}` for the schema's required properties.
pub(super) fn arguments(schema: Option<&Value>) -> String {
    let args: serde_json::Map<String, Value> = schema
        .and_then(|s| s["required"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|k| (k.to_string(), Value::String("mock".into())))
        .collect();
    Value::Object(args).to_string()
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl ToolCall {
    /// The whole answer calling the tool.
    pub fn plain(&self, endpoint: Endpoint, a: &Answer) -> String {
        let (id, created, model) = (a.id, a.created, &a.model);
        let (p, c) = (a.prompt_tokens, a.completion_tokens);
        let name = json_str(&self.name);
        if endpoint == Endpoint::Responses {
            return super::mock_responses::call_plain(self, a);
        }
        if endpoint == Endpoint::Messages {
            return format!(
                r#"{{"id":"msg_mock_{id}","type":"message","role":"assistant","model":{model},"content":[{{"type":"tool_use","id":"toolu_mock_{id}","name":{name},"input":{}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{{"input_tokens":{p},"output_tokens":{c}}}}}"#,
                self.arguments
            );
        }
        format!(
            r#"{{"id":"chatcmpl-mock-{id}","object":"chat.completion","created":{created},"model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","content":null,"tool_calls":[{{"id":"call_mock_{id}","type":"function","function":{{"name":{name},"arguments":{}}}}}]}},"finish_reason":"tool_calls"}}],"usage":{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{}}}}}"#,
            json_str(&self.arguments),
            p + c
        )
    }

    /// The events of a streamed answer calling the tool: its name first,
    /// then its arguments, then the stop reason (and usage).
    pub fn events(&self, endpoint: Endpoint, a: &Answer) -> Vec<String> {
        let (id, created, model) = (a.id, a.created, &a.model);
        let (p, c) = (a.prompt_tokens, a.completion_tokens);
        let name = json_str(&self.name);
        let args = json_str(&self.arguments);
        if endpoint == Endpoint::Responses {
            return super::mock_responses::call_events(self, a);
        }
        if endpoint == Endpoint::Messages {
            let event = |kind: &str, data: String| format!("event: {kind}\ndata: {data}\n\n");
            return vec![
                event(
                    "message_start",
                    format!(
                        r#"{{"type":"message_start","message":{{"id":"msg_mock_{id}","type":"message","role":"assistant","model":{model},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{p},"output_tokens":1}}}}}}"#
                    ),
                ),
                event(
                    "content_block_start",
                    format!(
                        r#"{{"type":"content_block_start","index":0,"content_block":{{"type":"tool_use","id":"toolu_mock_{id}","name":{name},"input":{{}}}}}}"#
                    ),
                ),
                event(
                    "content_block_delta",
                    format!(
                        r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"input_json_delta","partial_json":{args}}}}}"#
                    ),
                ),
                event(
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":0}"#.into(),
                ),
                event(
                    "message_delta",
                    format!(
                        r#"{{"type":"message_delta","delta":{{"stop_reason":"tool_use","stop_sequence":null}},"usage":{{"output_tokens":{c}}}}}"#
                    ),
                ),
                event("message_stop", r#"{"type":"message_stop"}"#.into()),
            ];
        }
        let head = format!(
            r#"data: {{"id":"chatcmpl-mock-{id}","object":"chat.completion.chunk","created":{created},"model":{model},"#
        );
        let mut out = vec![
            format!(
                r#"{head}"choices":[{{"index":0,"delta":{{"role":"assistant","content":null,"tool_calls":[{{"index":0,"id":"call_mock_{id}","type":"function","function":{{"name":{name},"arguments":""}}}}]}},"finish_reason":null}}]}}"#
            ) + "\n\n",
            format!(
                r#"{head}"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":{args}}}}}]}},"finish_reason":null}}]}}"#
            ) + "\n\n",
            format!(
                r#"{head}"choices":[{{"index":0,"delta":{{}},"finish_reason":"tool_calls"}}]}}"#
            ) + "\n\n",
        ];
        if a.usage_chunk {
            out.push(
                format!(
                    r#"{head}"choices":[],"usage":{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{}}}}}"#,
                    p + c
                ) + "\n\n",
            );
        }
        out.push("data: [DONE]\n\n".into());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"weather please: get_weather"}],
        "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}"#;
    const MESSAGES: &str = r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"call get_weather"}]}],
        "tools":[{"name":"get_weather","input_schema":{"type":"object","required":["city"]}}]}"#;

    #[test]
    fn a_tool_named_by_the_user_is_called_with_its_required_arguments() {
        for (endpoint, body) in [
            (Endpoint::ChatCompletions, CHAT),
            (Endpoint::Messages, MESSAGES),
        ] {
            let call = planned(endpoint, body.as_bytes()).expect("a call");
            assert_eq!(call.name, "get_weather");
            assert_eq!(call.arguments, r#"{"city":"mock"}"#);
        }
    }

    #[test]
    fn no_call_without_tools_unnamed_or_after_a_tool_result() {
        let plain = r#"{"model":"m","messages":[{"role":"user","content":"get_weather"}]}"#;
        assert_eq!(planned(Endpoint::ChatCompletions, plain.as_bytes()), None);
        let unnamed = CHAT.replace("weather please: get_weather", "hello");
        assert_eq!(planned(Endpoint::ChatCompletions, unnamed.as_bytes()), None);
        let answered = MESSAGES.replace(
            r#"[{"type":"text","text":"call get_weather"}]"#,
            r#"[{"type":"tool_result","tool_use_id":"t","content":"sunny"}]"#,
        );
        assert_eq!(planned(Endpoint::Messages, answered.as_bytes()), None);
    }

    #[test]
    fn answers_are_valid_json_in_each_api() {
        let call = planned(Endpoint::ChatCompletions, CHAT.as_bytes()).expect("a call");
        let a = Answer {
            id: 7,
            created: 1,
            model: "\"m\"".into(),
            prompt_tokens: 3,
            completion_tokens: 4,
            usage_chunk: true,
        };
        let chat: Value =
            serde_json::from_str(&call.plain(Endpoint::ChatCompletions, &a)).expect("json");
        let tc = &chat["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(tc["function"]["arguments"], r#"{"city":"mock"}"#);
        let msg: Value = serde_json::from_str(&call.plain(Endpoint::Messages, &a)).expect("json");
        assert_eq!(msg["content"][0]["input"]["city"], "mock");
        for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
            for e in call.events(endpoint, &a) {
                let data = e
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .expect("data");
                if data != "[DONE]" {
                    serde_json::from_str::<Value>(data).expect("each event is JSON");
                }
            }
        }
    }
}
