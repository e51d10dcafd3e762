//! The little the gateway reads from a request body — model, stream flag,
//! stream options, max tokens — and the little it may change before the
//! body goes upstream. Everything else passes through as bytes.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use crate::ledger::entry::MAX_SHORT_TEXT;

/// What the gateway needs from a body.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub model: String,
    pub stream: bool,
    /// The client sent `stream_options` (so rewriting must merge, not insert).
    pub has_stream_options: bool,
    /// The client asked for OpenAI's usage chunk itself.
    pub include_usage: bool,
}

#[derive(Deserialize)]
struct Head {
    model: Option<Value>,
    stream: Option<Value>,
    stream_options: Option<Value>,
}

/// The client's `anthropic-*` headers (version, beta flags), passed on to
/// Anthropic upstreams.
pub fn anthropic_headers(headers: &http::HeaderMap) -> Vec<(http::HeaderName, http::HeaderValue)> {
    headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("anthropic-"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Reads model and stream flag; every problem is a 400 that says what to fix.
pub fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body is empty; send a JSON object with at least \"model\"",
        ));
    }
    let head: Head = serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "the request body must be a JSON object".to_string()
        } else {
            format!("the request body is not valid JSON ({e})")
        };
        ApiError::bad_request("invalid_json", what)
    })?;
    let model = match head.model {
        None | Some(Value::Null) => {
            return Err(bad_model(
                "missing_model",
                "the request has no \"model\"; name one of GET /v1/models",
            ));
        }
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(bad_model(
                "invalid_model",
                format!("\"model\" must be a string, not {}", kind(&other)),
            ));
        }
    };
    if model.is_empty() {
        return Err(bad_model("invalid_model", "\"model\" is empty"));
    }
    if model.contains('\0') {
        return Err(bad_model("invalid_model", "\"model\" contains a NUL byte"));
    }
    if model.len() > MAX_SHORT_TEXT {
        return Err(bad_model(
            "invalid_model",
            format!(
                "\"model\" is {} bytes long; model names are at most {MAX_SHORT_TEXT}",
                model.len()
            ),
        ));
    }
    let stream = match head.stream {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_stream",
                format!("\"stream\" must be true or false, not {}", kind(&other)),
            )
            .param("stream"));
        }
    };
    let include_usage = head
        .stream_options
        .as_ref()
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Parsed {
        model,
        stream,
        has_stream_options: head.stream_options.is_some(),
        include_usage,
    })
}

/// A 400 about the request's `model`.
fn bad_model(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message).param("model")
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The body to send upstream: the same bytes unless the model must be
/// renamed or OpenAI's usage chunk must be asked for.
pub fn upstream_body(body: Bytes, parsed: &Parsed, upstream_model: &str, ask_usage: bool) -> Bytes {
    let rename = parsed.model != upstream_model;
    if !rename && !ask_usage {
        return body;
    }
    if !rename && !parsed.has_stream_options {
        // Cheap path: insert the option right after the opening brace.
        if let Some(pos) = body.iter().position(|b| *b == b'{') {
            let mut out = BytesMut::with_capacity(body.len() + 48);
            out.extend_from_slice(&body[..=pos]);
            out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
            let rest = &body[pos + 1..];
            if rest.iter().all(u8::is_ascii_whitespace) || rest.trim_ascii_start().starts_with(b"}")
            {
                // Empty object: drop the trailing comma.
                out.truncate(out.len() - 1);
            }
            out.extend_from_slice(rest);
            return out.freeze();
        }
    }
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    if rename {
        map.insert("model".into(), Value::String(upstream_model.to_string()));
    }
    if ask_usage {
        let opts = map
            .entry("stream_options")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(o) = opts {
            o.insert("include_usage".into(), Value::Bool(true));
        }
    }
    serde_json::to_vec(&Value::Object(map))
        .map(Bytes::from)
        .unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reports_what_to_fix() {
        assert_eq!(
            parse(b"{\"model\":\"m\",\"stream\":true}").unwrap().model,
            "m"
        );
        assert_eq!(parse(b"not json").unwrap_err().label, "invalid_json");
        assert_eq!(parse(b"[1]").unwrap_err().label, "invalid_json");
        assert_eq!(parse(b"{}").unwrap_err().label, "missing_model");
        assert_eq!(parse(b"{\"model\":3}").unwrap_err().label, "invalid_model");
        assert_eq!(
            parse(b"{\"model\":\"a\\u0000b\"}").unwrap_err().label,
            "invalid_model"
        );
        let long = format!("{{\"model\":\"{}\"}}", "x".repeat(10_000));
        assert_eq!(parse(long.as_bytes()).unwrap_err().label, "invalid_model");
        assert_eq!(
            parse(b"{\"model\":\"m\",\"stream\":\"yes\"}")
                .unwrap_err()
                .label,
            "invalid_stream"
        );
    }

    #[test]
    fn usage_option_is_inserted_or_merged() {
        let p = parse(br#"{"model":"m","stream":true}"#).unwrap();
        let out = upstream_body(
            Bytes::from_static(br#"{"model":"m","stream":true}"#),
            &p,
            "m",
            true,
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stream_options"]["include_usage"], true);
        let body = br#"{"model":"m","stream":true,"stream_options":{"x":1}}"#;
        let p = parse(body).unwrap();
        let out = upstream_body(Bytes::from_static(body), &p, "up", true);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "up");
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["x"], 1);
    }
}
