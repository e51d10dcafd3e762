//! The ends of a translated Responses stream: closing an output item
//! (its `…done` events), completing the response, and writing one event
//! with its sequence number.

use serde_json::{Value, json};

use super::{ChatToResponses, Item, Kind};
use crate::translate::responses::object;

impl ChatToResponses {
    /// The item as the API shows it: `in_progress` and empty when added,
    /// whole when done.
    pub(super) fn item_json(&self, it: &Item, status: &str, empty: bool) -> Value {
        let text = if empty { "" } else { it.text.as_str() };
        match it.kind {
            Kind::Text => {
                let content = if empty {
                    json!([])
                } else {
                    json!([object::text_part(Value::from(text))])
                };
                json!({"type": "message", "id": it.id, "status": status, "role": "assistant",
                    "content": content})
            }
            Kind::Refusal => {
                let content = if empty {
                    json!([])
                } else {
                    json!([{"type": "refusal", "refusal": text}])
                };
                json!({"type": "message", "id": it.id, "status": status, "role": "assistant",
                    "content": content})
            }
            Kind::Reasoning => {
                let content = if empty {
                    json!([])
                } else {
                    json!([{"type": "reasoning_text", "text": text}])
                };
                json!({"type": "reasoning", "id": it.id, "summary": [], "content": content})
            }
            Kind::Call(_) => {
                object::call_item(&it.id, status, &it.call_id, &it.name, Value::from(text))
            }
        }
    }

    /// Closes item `n`: its text's `…done`, its part's `content_part.done`,
    /// then `response.output_item.done`.
    pub(super) fn close(&mut self, n: usize, out: &mut Vec<u8>) {
        self.items[n].closed = true;
        let status = self.item_status();
        let done = self.item_json(&self.items[n], status, false);
        let it = &self.items[n];
        let (kind, id, text, name) = (it.kind, it.id.clone(), it.text.clone(), it.name.clone());
        match kind {
            Kind::Text | Kind::Refusal | Kind::Reasoning => {
                let (event, field, part) = match kind {
                    Kind::Text => (
                        "response.output_text.done",
                        "text",
                        object::text_part(Value::from(text.as_str())),
                    ),
                    Kind::Refusal => (
                        "response.refusal.done",
                        "refusal",
                        json!({"type": "refusal", "refusal": text}),
                    ),
                    _ => (
                        "response.reasoning_text.done",
                        "text",
                        json!({"type": "reasoning_text", "text": text}),
                    ),
                };
                let mut body = json!({"item_id": id, "output_index": n, "content_index": 0});
                body[field] = Value::from(text);
                if kind == Kind::Text {
                    body["logprobs"] = json!([]);
                }
                self.emit(out, event, body);
                let body = json!({"item_id": id, "output_index": n, "content_index": 0,
                    "part": part});
                self.emit(out, "response.content_part.done", body);
            }
            Kind::Call(_) => {
                let body = json!({"item_id": id, "output_index": n, "name": name,
                    "arguments": text});
                self.emit(out, "response.function_call_arguments.done", body);
            }
        }
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": n, "item": done}),
        );
    }

    /// A message cut by the token limit or the filter is `incomplete`.
    fn item_status(&self) -> &'static str {
        match object::status(self.finish.as_deref()).0 {
            "completed" => "completed",
            _ => "incomplete",
        }
    }

    /// Closes what is open and writes `response.completed` (or
    /// `response.incomplete`) with every item and the usage. Nothing when
    /// the stream never began.
    pub(super) fn complete(&mut self, out: &mut Vec<u8>) {
        if self.done || self.head.is_none() {
            return;
        }
        for n in 0..self.items.len() {
            if !self.items[n].closed {
                self.close(n, out);
            }
        }
        let item_status = self.item_status();
        let output: Vec<Value> = self
            .items
            .iter()
            .map(|it| {
                let status = if matches!(it.kind, Kind::Call(_)) {
                    "completed"
                } else {
                    item_status
                };
                self.item_json(it, status, false)
            })
            .collect();
        let (status, incomplete) = object::status(self.finish.as_deref());
        let usage = self.usage.as_ref().map(object::usage);
        let head = self.head.clone().unwrap_or_default();
        let r = object::response(&head, &self.echo, status, incomplete, output, usage);
        let name = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(out, name, json!({ "response": r }));
        self.done = true;
    }

    /// Writes one event: `event: <kind>` and its data, which gets `type`
    /// and the next `sequence_number`.
    pub(super) fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut body: Value) {
        if let Some(m) = body.as_object_mut() {
            m.insert("type".into(), Value::from(kind));
            m.insert("sequence_number".into(), Value::from(self.seq));
        }
        self.seq += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &body);
        out.extend_from_slice(b"\n\n");
    }
}
