//! JSON written straight into the client's bytes: [`Obj`] writes one
//! object field by field, and [`event`] frames one server-sent event of
//! the Responses stream.
//!
//! Why by hand: the Response objects and the stream's events used to be
//! built as `serde_json::Value` trees and serialised, which cost a map
//! node and a `String` per field, and a deep copy of the request's echoed
//! settings per object — most of a translated request's CPU beyond the
//! pass-through path. Writers keep the fields in the order those maps
//! wrote them (sorted by key), so the bytes a client receives did not
//! change.

use serde::Serialize;

use crate::translate::de::{push_int, push_str};

/// One JSON object being written; fields go in the order they are added.
pub(super) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Starts field `key` (the translator's own constant, which needs no
    /// escaping) and returns the bytes its value goes into.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A string field (quoted and escaped).
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        push_str(self.key(key), value);
        self
    }

    /// A field whose value is JSON text already.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key).extend_from_slice(json.as_bytes());
        self
    }

    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        push_int(self.key(key), value);
        self
    }

    /// A field holding any serialisable value (`None` is `null`).
    pub fn json(&mut self, key: &str, value: &impl Serialize) -> &mut Self {
        push_json(self.key(key), value);
        self
    }

    /// Closes the object.
    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// Appends `value` as JSON.
pub(super) fn push_json(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing into a Vec cannot fail, and the values written here (JSON
    // values, strings, options of them) always serialise.
    let _ = serde_json::to_writer(out, value);
}

/// A count as JSON (counts fit in an `i64`).
pub(super) fn count(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// Starts event `name`: its `event:` line and its data object, whose
/// fields the caller writes before [`end_event`].
pub(super) fn event<'a>(out: &'a mut Vec<u8>, name: &str) -> Obj<'a> {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    Obj::new(out)
}

/// Ends an event with its `sequence_number`, `text` (the `…text.done`
/// events: it sorts between the two) and `type`.
pub(super) fn end_event(mut o: Obj, seq: u64, text: Option<&str>, name: &str) {
    o.int("sequence_number", count(seq));
    if let Some(t) = text {
        o.str("text", t);
    }
    o.str("type", name);
    o.out.extend_from_slice(b"}\n\n");
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn fields_are_escaped_and_the_event_framed() {
        let name = "response.output_text.done";
        let mut out = Vec::new();
        let mut o = event(&mut out, name);
        o.str("item_id", "a\"b\n\u{2028}é\\").raw("logprobs", "[]");
        o.json("name", &None::<String>);
        Obj::new(o.key("part")).int("n", -3).end();
        end_event(o, 7, Some("t\u{1}"), name);
        let text = String::from_utf8(out).expect("UTF-8");
        let (head, data) = text.split_once("\ndata: ").expect("a data line");
        assert_eq!(head, "event: response.output_text.done");
        assert!(data.ends_with("}\n\n"), "{data}");
        let v: Value = serde_json::from_str(data).expect("JSON");
        assert_eq!(
            v,
            json!({"item_id": "a\"b\n\u{2028}é\\", "logprobs": [], "name": null,
                "part": {"n": -3}, "sequence_number": 7, "text": "t\u{1}", "type": name})
        );
    }
}
