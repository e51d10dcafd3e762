//! The request's settings a Response object repeats (`instructions`,
//! `tools`, `temperature`, …), taken from the request when it is read and
//! written into every Response object the translator makes for it, plain
//! or streamed, as the API does.
//!
//! Each value is kept as its JSON text, serialised once per request: a
//! stream writes its Response object three times, and copying text is far
//! cheaper than cloning and re-serialising the values each time.

use std::iter::Peekable;
use std::slice;

use serde_json::Value;

use super::write::Obj;

/// The echoed fields, sorted by name, each with its value's JSON text,
/// with the API's defaults for those the request left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Echo(Vec<(String, String)>);

/// Request fields echoed as they were sent.
const ECHOED: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "reasoning",
    "service_tier",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
    "safety_identifier",
    "prompt_cache_key",
];

/// What a Response says about settings nobody sent, sorted by name.
const DEFAULTS: &[(&str, &str)] = &[
    ("background", "false"),
    ("instructions", "null"),
    ("max_output_tokens", "null"),
    ("metadata", "{}"),
    ("parallel_tool_calls", "true"),
    ("previous_response_id", "null"),
    ("reasoning", r#"{"effort":null,"summary":null}"#),
    ("store", "false"),
    ("temperature", "null"),
    ("text", r#"{"format":{"type":"text"}}"#),
    ("tool_choice", r#""auto""#),
    ("tools", "[]"),
    ("top_p", "null"),
    ("truncation", r#""disabled""#),
];

impl Default for Echo {
    fn default() -> Self {
        Echo(
            DEFAULTS
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    }
}

impl Echo {
    /// Keeps `value` if `key` is a field the answer repeats (`null`
    /// keeps the default).
    pub(super) fn offer(&mut self, key: &str, value: &Value) {
        if value.is_null() || !ECHOED.contains(&key) {
            return;
        }
        // A JSON value always serialises (`to_string` over `Display`:
        // the latter goes through the slower `fmt` machinery).
        let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(i) => self.0[i].1 = text,
            Err(i) => self.0.insert(i, (key.to_string(), text)),
        }
    }

    /// Opens a Response object at the end of `out` whose own fields the
    /// echoed ones are merged among, in name order.
    pub(super) fn merge<'a>(&'a self, out: &'a mut Vec<u8>) -> Merged<'a> {
        Merged {
            obj: Obj::new(out),
            echoed: self.0.iter().peekable(),
        }
    }
}

/// A Response object being written: each own field, given in name order,
/// comes after the echoed fields that sort before it.
pub(super) struct Merged<'a> {
    obj: Obj<'a>,
    echoed: Peekable<slice::Iter<'a, (String, String)>>,
}

impl Merged<'_> {
    /// Starts own field `key`; returns the bytes its value goes into.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        while let Some((k, v)) = self.echoed.next_if(|(k, _)| k.as_str() < key) {
            self.obj.raw(k, v);
        }
        self.obj.key(key)
    }

    /// Writes the echoed fields left and closes the object.
    pub fn end(mut self) {
        for (k, v) in self.echoed {
            self.obj.raw(k, v);
        }
        self.obj.end();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn echoed_fields_sort_among_the_objects_own() {
        let mut e = Echo::default();
        e.offer("user", &json!("u"));
        e.offer("temperature", &json!(0.5));
        e.offer("temperature", &json!(0.25));
        e.offer("model", &json!("not echoed"));
        e.offer("top_p", &Value::Null);
        let mut out = Vec::new();
        let mut m = e.merge(&mut out);
        m.key("id").extend_from_slice(b"1");
        m.key("usage").extend_from_slice(b"2");
        m.end();
        let text = String::from_utf8(out).expect("UTF-8");
        assert!(
            text.starts_with(r#"{"background":false,"id":1,"instructions":null,"#),
            "{text}"
        );
        assert!(text.ends_with(r#""truncation":"disabled","usage":2,"user":"u"}"#));
        assert!(text.contains(r#""temperature":0.25,"#) && text.contains(r#""top_p":null,"#));
        assert!(!text.contains("not echoed"));
    }
}
