//! Fixture tests for the translators. Fixtures (src/translate/fixtures/)
//! are written from the public API references' documented shapes: a
//! client's body, and the body the translator must produce from it.

mod error;
mod request;
mod response;
mod roundtrip;
mod stream;

use serde_json::Value;

use super::{RequestOpts, TranslateError, Translated};

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

/// A request translator, either way.
pub type Translate = fn(&[u8], &RequestOpts) -> Result<Translated, TranslateError>;

/// Translates request fixture `input` with `f` for `model`, checks the body
/// equals fixture `want`, and returns the translation.
pub fn translates_to(f: Translate, input: &str, model: &str, want: &str) -> Translated {
    let t = f(input.as_bytes(), &opts(model)).unwrap();
    assert_eq!(json(&t.body), json(want.as_bytes()));
    t
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
    events(stream)
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
    events(stream)
        .map(|e| {
            let (name, data) = e
                .strip_prefix("event: ")
                .and_then(|r| r.split_once("\ndata: "))
                .unwrap_or_else(|| panic!("not an event: {e:?}"));
            serde_json::json!({"event": name, "data": json(data.as_bytes())})
        })
        .collect()
}

/// The events of a complete stream (it must end with a blank line), each
/// without its blank line.
fn events(stream: &[u8]) -> impl Iterator<Item = &str> {
    let text = std::str::from_utf8(stream).expect("utf-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "unterminated: {text:?}"
    );
    text.split("\n\n").filter(|e| !e.is_empty())
}
