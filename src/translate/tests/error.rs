//! Error answers in the client's shape and status.

use serde_json::json as j;

use super::json;
use crate::translate::error::{chat_to_messages, messages_to_chat};

fn anthropic_error(kind: &str) -> Vec<u8> {
    j!({"type": "error", "error": {"type": kind, "message": format!("upstream said {kind}")}})
        .to_string()
        .into_bytes()
}

#[test]
fn anthropic_errors_take_openai_shape_and_status() {
    for (status, kind, want_status, want_type) in [
        (529, "overloaded_error", 503, "service_unavailable"),
        (429, "rate_limit_error", 429, "rate_limit_error"),
        (400, "invalid_request_error", 400, "invalid_request_error"),
        (401, "authentication_error", 401, "authentication_error"),
        (403, "permission_error", 403, "permission_error"),
        (404, "not_found_error", 404, "not_found_error"),
        (413, "request_too_large", 413, "invalid_request_error"),
        (500, "api_error", 500, "api_error"),
        (504, "timeout_error", 504, "api_error"),
    ] {
        let t = messages_to_chat(status, &anthropic_error(kind));
        assert_eq!(t.status, want_status, "{kind}");
        assert_eq!(
            json(&t.body),
            j!({"error": {"message": format!("upstream said {kind}"), "type": want_type, "param": null, "code": kind}})
        );
    }
}

#[test]
fn openai_errors_take_anthropic_shape_and_status() {
    for (status, kind, want_status, want_type) in [
        (503, "service_unavailable", 529, "overloaded_error"),
        (429, "rate_limit_error", 429, "rate_limit_error"),
        (429, "insufficient_quota", 429, "rate_limit_error"),
        (400, "invalid_request_error", 400, "invalid_request_error"),
        (422, "invalid_request_error", 422, "invalid_request_error"),
        (401, "invalid_request_error", 401, "authentication_error"),
        (403, "permission_error", 403, "permission_error"),
        (404, "invalid_request_error", 404, "not_found_error"),
        (500, "server_error", 500, "api_error"),
        (502, "server_error", 500, "api_error"),
    ] {
        let body =
            j!({"error": {"message": "m", "type": kind, "param": null, "code": null}}).to_string();
        let t = chat_to_messages(status, body.as_bytes());
        assert_eq!(t.status, want_status, "{status} {kind}");
        assert_eq!(
            json(&t.body),
            j!({"type": "error", "error": {"type": want_type, "message": "m"}})
        );
    }
}

#[test]
fn a_body_that_is_not_an_error_object_becomes_the_message() {
    let t = chat_to_messages(502, b"<html>Bad Gateway</html>");
    assert_eq!(t.status, 500);
    let v = json(&t.body);
    assert_eq!(v["error"]["type"], "api_error");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("502")
            && v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Bad Gateway")
    );
    let t = messages_to_chat(529, b"overloaded");
    assert_eq!(t.status, 503);
    assert_eq!(json(&t.body)["error"]["code"], "upstream_error");
    let long = vec![b'x'; 5000];
    let t = messages_to_chat(500, &long);
    assert!(t.body.len() < 1200, "a long body is cut");
}
