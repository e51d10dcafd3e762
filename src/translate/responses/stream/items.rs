//! Output items as the chunks open and fill them: a kind of delta met for
//! the first time opens its item (`response.output_item.added`, and
//! `response.content_part.added` for text), closing the one before; each
//! piece is a delta event, written by hand (one per streamed piece).

use super::{ChatToResponses, Item, Kind, ToolDelta, write_item};
use crate::translate::de::{push_int, push_str};
use crate::translate::responses::item_id;
use crate::translate::responses::write::{count, end_event, event};

impl ChatToResponses {
    fn response_id(&self) -> &str {
        self.head.as_ref().map_or("", |h| h.id.as_str())
    }

    /// The open item of `kind`, opening it (and closing the one before).
    fn item(&mut self, kind: Kind, call: Option<&ToolDelta>, out: &mut Vec<u8>) -> usize {
        if let Some(i) = self
            .items
            .iter()
            .position(|it| it.kind == kind && !it.closed)
        {
            return i;
        }
        if let Some(prev) = self.items.iter().position(|it| !it.closed) {
            self.close(prev, out);
        }
        let n = self.items.len();
        let prefix = match kind {
            Kind::Text | Kind::Refusal => "msg",
            Kind::Reasoning => "rs",
            Kind::Call(_) => "fc",
        };
        let id = item_id(prefix, self.response_id(), n);
        let item = Item {
            kind,
            id,
            text: String::new(),
            call_id: call.and_then(|c| c.id.clone()),
            name: call.and_then(|c| c.function.as_ref()?.name.clone()),
            closed: false,
        };
        let name = "response.output_item.added";
        let mut o = event(out, name);
        write_item(o.key("item"), &item, "in_progress", true);
        o.int("output_index", count(n));
        end_event(o, self.next_seq(), None, name);
        if let Some(part) = item.part() {
            let name = "response.content_part.added";
            let mut o = event(out, name);
            o.int("content_index", 0).str("item_id", &item.id);
            o.int("output_index", count(n));
            part.write(o.key("part"));
            end_event(o, self.next_seq(), None, name);
        }
        self.items.push(item);
        n
    }

    pub(super) fn delta(&mut self, kind: Kind, text: &str, out: &mut Vec<u8>) {
        let n = self.item(kind, None, out);
        self.items[n].text.push_str(text);
        let name = match kind {
            Kind::Text => "response.output_text.delta",
            Kind::Refusal => "response.refusal.delta",
            _ => "response.reasoning_text.delta",
        };
        self.write_delta(out, name, n, true, text);
    }

    /// Writes one delta event by hand: the stream's hot path, one event
    /// per streamed piece.
    fn write_delta(&mut self, out: &mut Vec<u8>, name: &str, n: usize, part: bool, text: &str) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\",\"sequence_number\":");
        push_int(out, count(self.seq));
        out.extend_from_slice(b",\"item_id\":");
        push_str(out, &self.items[n].id);
        out.extend_from_slice(b",\"output_index\":");
        push_int(out, count(n));
        if part {
            out.extend_from_slice(b",\"content_index\":0");
        }
        out.extend_from_slice(b",\"delta\":");
        push_str(out, text);
        if name == "response.output_text.delta" {
            out.extend_from_slice(b",\"logprobs\":[]");
        }
        out.extend_from_slice(b"}\n\n");
        self.seq += 1;
    }

    pub(super) fn call_delta(&mut self, call: ToolDelta, out: &mut Vec<u8>) {
        let kind = Kind::Call(call.index.unwrap_or(0));
        let n = match self.items.iter().position(|it| it.kind == kind) {
            Some(n) => n,
            None => self.item(kind, Some(&call), out),
        };
        let Some(args) = call
            .function
            .and_then(|f| f.arguments)
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        self.items[n].text.push_str(&args);
        self.write_delta(
            out,
            "response.function_call_arguments.delta",
            n,
            false,
            &args,
        );
    }
}
