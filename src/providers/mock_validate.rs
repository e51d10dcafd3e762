//! What the `mock` provider refuses, as the APIs it imitates refuse it:
//! a chat completion without `messages`, a Messages request without
//! `max_tokens`, an embeddings request without `input`, roles the API does
//! not know, bodies nested deeper than a JSON parser allows. Same status
//! (400), same error shape (OpenAI's `{"error":{…}}`, Anthropic's
//! `{"type":"error","error":{…}}`), so that offline runs show what
//! production would.
//!
//! Only the fields the checks need are parsed (serde skips the rest), so
//! the mock stays cheap enough for benchmarks.

use serde::Deserialize;

use super::Endpoint;

/// A refusal: the message, and the parameter it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub message: String,
    pub param: Option<&'static str>,
}

impl Invalid {
    fn new(message: impl Into<String>, param: &'static str) -> Invalid {
        Invalid {
            message: message.into(),
            param: Some(param),
        }
    }

    /// The error body in `endpoint`'s shape.
    pub fn body(&self, endpoint: Endpoint) -> String {
        let message = serde_json::Value::String(self.message.clone());
        match endpoint {
            Endpoint::Messages => format!(
                r#"{{"type":"error","error":{{"type":"invalid_request_error","message":{message}}}}}"#
            ),
            _ => {
                let param = self
                    .param
                    .map_or("null".to_string(), |p| format!("\"{p}\""));
                format!(
                    r#"{{"error":{{"message":{message},"type":"invalid_request_error","param":{param},"code":null}}}}"#
                )
            }
        }
    }
}

/// A message: only its role is checked (other fields are skipped).
#[derive(Deserialize)]
struct Message {
    role: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Chat {
    messages: Option<Vec<Message>>,
}

#[derive(Deserialize)]
struct Messages {
    messages: Option<Vec<Message>>,
    max_tokens: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<i64>),
    ManyTokens(Vec<Vec<i64>>),
}

#[derive(Deserialize)]
struct Embeddings {
    input: Option<Input>,
}

/// What an embeddings request asks for: its inputs' count and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingInputs {
    pub count: usize,
    /// Estimated tokens: about four bytes of text, or one token id, each.
    pub tokens: u64,
}

/// Checks a request body for `endpoint`; for embeddings, says what the
/// answer must hold.
pub fn check(endpoint: Endpoint, body: &[u8]) -> Result<Option<EmbeddingInputs>, Invalid> {
    let parse_error = |e: serde_json::Error| Invalid {
        message: format!("We could not parse the JSON body of your request: {e}"),
        param: None,
    };
    match endpoint {
        Endpoint::ChatCompletions => {
            let req: Chat = serde_json::from_slice(body).map_err(parse_error)?;
            let messages = req.messages.ok_or_else(|| {
                Invalid::new("Missing required parameter: 'messages'.", "messages")
            })?;
            if messages.is_empty() {
                return Err(Invalid::new(
                    "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                    "messages",
                ));
            }
            check_roles(
                &messages,
                &[
                    "system",
                    "developer",
                    "user",
                    "assistant",
                    "tool",
                    "function",
                ],
            )?;
            Ok(None)
        }
        Endpoint::Messages => {
            let req: Messages = serde_json::from_slice(body).map_err(parse_error)?;
            match &req.max_tokens {
                None => return Err(Invalid::new("max_tokens: Field required", "max_tokens")),
                Some(v) if v.as_u64().is_none_or(|n| n < 1) => {
                    return Err(Invalid::new(
                        "max_tokens: Input should be a valid integer greater than or equal to 1",
                        "max_tokens",
                    ));
                }
                Some(_) => {}
            }
            let messages = req
                .messages
                .ok_or_else(|| Invalid::new("messages: Field required", "messages"))?;
            if messages.is_empty() {
                return Err(Invalid::new(
                    "messages: at least one message is required",
                    "messages",
                ));
            }
            check_roles(&messages, &["user", "assistant"])?;
            Ok(None)
        }
        // The gateway estimates counts itself for the mock; a count asked
        // of it anyway needs only a JSON body.
        Endpoint::Responses => {
            #[derive(Deserialize)]
            struct Responses {
                input: Option<serde::de::IgnoredAny>,
            }
            let req: Responses = serde_json::from_slice(body).map_err(parse_error)?;
            match req.input {
                Some(_) => Ok(None),
                None => Err(Invalid::new(
                    "Missing required parameter: 'input'.",
                    "input",
                )),
            }
        }
        Endpoint::CountTokens => serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map(|_| None)
            .map_err(parse_error),
        Endpoint::Embeddings => {
            let req: Embeddings = serde_json::from_slice(body).map_err(parse_error)?;
            let input = req
                .input
                .ok_or_else(|| Invalid::new("Missing required parameter: 'input'.", "input"))?;
            let text = |s: &str| (s.len() as u64).div_ceil(4).max(1);
            let (count, tokens) = match &input {
                Input::One(s) => (1, text(s)),
                Input::Many(v) => (v.len(), v.iter().map(|s| text(s)).sum()),
                Input::Tokens(t) => (1, t.len() as u64),
                Input::ManyTokens(v) => (v.len(), v.iter().map(|t| t.len() as u64).sum()),
            };
            if count == 0 || tokens == 0 {
                return Err(Invalid::new(
                    "'$.input' is invalid. Please check the API reference: it must not be empty.",
                    "input",
                ));
            }
            Ok(Some(EmbeddingInputs { count, tokens }))
        }
    }
}

fn check_roles(messages: &[Message], known: &[&str]) -> Result<(), Invalid> {
    for (i, m) in messages.iter().enumerate() {
        let role = m.role.as_ref().and_then(|r| r.as_str());
        match role {
            Some(r) if known.contains(&r) => {}
            Some(r) => {
                return Err(Invalid::new(
                    format!(
                        "Invalid value: '{r}'. Supported values are: {}.",
                        known.join(", ")
                    ),
                    "messages",
                ));
            }
            None => {
                return Err(Invalid::new(
                    format!("Missing required parameter: 'messages[{i}].role'."),
                    "messages",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_apis_refuse_the_mock_refuses() {
        let bad = |e, body: &str| check(e, body.as_bytes()).expect_err(body);
        assert_eq!(
            bad(Endpoint::ChatCompletions, r#"{"model":"m"}"#).param,
            Some("messages")
        );
        assert!(check(Endpoint::ChatCompletions, br#"{"model":"m","messages":[]}"#).is_err());
        assert!(
            check(
                Endpoint::ChatCompletions,
                br#"{"model":"m","messages":[{"role":"wizard","content":"hi"}]}"#
            )
            .is_err()
        );
        let deep = format!(
            r#"{{"model":"m","messages":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(check(Endpoint::ChatCompletions, deep.as_bytes()).is_err());
        let e = bad(
            Endpoint::Messages,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        );
        assert_eq!(e.param, Some("max_tokens"));
        assert!(e.body(Endpoint::Messages).starts_with(r#"{"type":"error""#));
        assert!(check(Endpoint::Embeddings, br#"{"model":"m"}"#).is_err());
        assert!(check(Endpoint::Embeddings, br#"{"model":"m","input":[]}"#).is_err());
    }

    #[test]
    fn valid_requests_pass_and_embeddings_count_their_inputs() {
        assert_eq!(
            check(
                Endpoint::ChatCompletions,
                br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#
            ),
            Ok(None)
        );
        assert_eq!(
            check(
                Endpoint::Messages,
                br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#
            ),
            Ok(None)
        );
        let two = check(
            Endpoint::Embeddings,
            br#"{"model":"m","input":["abcd","abcdefgh"]}"#,
        );
        assert_eq!(
            two,
            Ok(Some(EmbeddingInputs {
                count: 2,
                tokens: 3
            }))
        );
        let long = check(
            Endpoint::Embeddings,
            format!(r#"{{"model":"m","input":"{}"}}"#, "x".repeat(400)).as_bytes(),
        );
        assert_eq!(
            long,
            Ok(Some(EmbeddingInputs {
                count: 1,
                tokens: 100
            }))
        );
    }
}
