//! Fixture tests for the translators. Fixtures (src/translate/fixtures/)
//! are written from the public API references' documented shapes: a
//! client's body, and the body the translator must produce from it.

mod error;
mod request;
mod response;
mod roundtrip;
mod stream;

use serde_json::Value;

use super::RequestOpts;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../fixtures/", $name))
    };
}
pub(super) use fixture;

pub fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

pub fn opts(model: &str) -> RequestOpts<'_> {
    RequestOpts::new(model)
}

/// Sets `created` (a clock reading) to 0 wherever it is.
pub fn zero_created(v: &mut Value) {
    if let Some(c) = v.get_mut("created") {
        *c = Value::from(0);
    }
}

/// A chat chunk stream as values: each chunk's JSON (`created` zeroed),
/// `"[DONE]"`, or a comment line as a string.
pub fn chat_events(stream: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stream).expect("utf-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "unterminated: {text:?}"
    );
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| match e.strip_prefix("data: ") {
            Some("[DONE]") => Value::from("[DONE]"),
            Some(data) => {
                let mut v = json(data.as_bytes());
                zero_created(&mut v);
                v
            }
            None => Value::from(e),
        })
        .collect()
}

/// A Messages event stream as `{"event","data"}` values.
pub fn messages_events(stream: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(stream).expect("utf-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "unterminated: {text:?}"
    );
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e
                .strip_prefix("event: ")
                .and_then(|r| r.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not an event: {e:?}"));
            serde_json::json!({"event": name, "data": json(data.as_bytes())})
        })
        .collect()
}
