//! The ends of a translated Responses stream: closing an output item
//! (its `…done` events) and completing the response, each event written
//! straight into the client's bytes (`super::super::write` says why).

use super::{ChatToResponses, Item, Kind};
use crate::translate::responses::object::{self, Part};
use crate::translate::responses::write::{count, end_event, event};

/// Writes the item as the API shows it: `in_progress` and empty when
/// added, whole when done.
pub(super) fn write_item(out: &mut Vec<u8>, it: &Item, status: &str, empty: bool) {
    match it.part() {
        Some(part) => object::content_item(out, &it.id, status, part, empty),
        None => {
            let args = if empty { "" } else { it.text.as_str() };
            object::call_item(out, &it.id, status, &it.call_id, &it.name, &args);
        }
    }
}

impl ChatToResponses {
    /// Closes item `n`: its text's `…done`, its part's `content_part.done`,
    /// then `response.output_item.done`.
    pub(super) fn close(&mut self, n: usize, out: &mut Vec<u8>) {
        self.items[n].closed = true;
        let status = self.item_status();
        let mut seq = self.seq;
        let mut next = || {
            seq += 1;
            seq - 1
        };
        let it = &self.items[n];
        let index = count(n);
        match it.part() {
            Some(part) => {
                let (name, text) = match part {
                    Part::Text(t) => ("response.output_text.done", Some(t)),
                    Part::Refusal(_) => ("response.refusal.done", None),
                    Part::Reasoning(t) => ("response.reasoning_text.done", Some(t)),
                };
                let mut o = event(out, name);
                o.int("content_index", 0).str("item_id", &it.id);
                if let Part::Text(_) = part {
                    o.raw("logprobs", "[]");
                }
                o.int("output_index", index);
                if let Part::Refusal(t) = part {
                    o.str("refusal", t);
                }
                end_event(o, next(), text, name);
                let name = "response.content_part.done";
                let mut o = event(out, name);
                o.int("content_index", 0).str("item_id", &it.id);
                o.int("output_index", index);
                part.write(o.key("part"));
                end_event(o, next(), None, name);
            }
            None => {
                let name = "response.function_call_arguments.done";
                let mut o = event(out, name);
                o.str("arguments", &it.text).str("item_id", &it.id);
                o.json("name", &it.name).int("output_index", index);
                end_event(o, next(), None, name);
            }
        }
        let name = "response.output_item.done";
        let mut o = event(out, name);
        write_item(o.key("item"), it, status, false);
        o.int("output_index", index);
        end_event(o, next(), None, name);
        self.seq = seq;
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
        let Some(head) = &self.head else {
            return;
        };
        let item_status = self.item_status();
        let status = object::status(self.finish.as_deref());
        let name = if status.0 == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let mut o = event(out, name);
        object::response(
            o.key("response"),
            head,
            &self.echo,
            status,
            self.usage.as_ref(),
            |items| {
                for (i, it) in self.items.iter().enumerate() {
                    if i > 0 {
                        items.push(b',');
                    }
                    let status = match it.kind {
                        Kind::Call(_) => "completed",
                        _ => item_status,
                    };
                    write_item(items, it, status, false);
                }
            },
        );
        end_event(o, self.seq, None, name);
        self.seq += 1;
        self.done = true;
    }
}
