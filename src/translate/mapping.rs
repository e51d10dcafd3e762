//! The value tables both directions share: stop reasons, reasoning effort
//! and thinking budgets, error types and statuses. Kept in one place so
//! that each pair reads as a table (and docs/translation.md can follow it).

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn and any newer reason.
        _ => "stop",
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`.
pub fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// The smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// OpenAI `reasoning_effort` → Anthropic `thinking.budget_tokens`; `None`
/// for `none` (no thinking) and for values this table does not know.
pub fn thinking_budget(effort: &str) -> Option<u32> {
    match effort {
        "minimal" | "low" => Some(MIN_THINKING_BUDGET),
        "medium" => Some(4096),
        "high" => Some(16384),
        _ => None,
    }
}

/// Anthropic `thinking.budget_tokens` → OpenAI `reasoning_effort`: the
/// effort whose budget ([`thinking_budget`]) is nearest below.
pub fn reasoning_effort(budget: u32) -> &'static str {
    match budget {
        0..2048 => "low",
        2048..8192 => "medium",
        _ => "high",
    }
}

/// An Anthropic error `type` → (OpenAI status, OpenAI `type`).
pub fn openai_error(anthropic_type: &str, upstream_status: u16) -> (u16, &'static str) {
    match anthropic_type {
        "invalid_request_error" => (400, "invalid_request_error"),
        "authentication_error" => (401, "authentication_error"),
        "billing_error" => (402, "insufficient_quota"),
        "permission_error" => (403, "permission_error"),
        "not_found_error" => (404, "not_found_error"),
        "request_too_large" => (413, "invalid_request_error"),
        "rate_limit_error" => (429, "rate_limit_error"),
        "api_error" => (500, "api_error"),
        "timeout_error" => (504, "api_error"),
        "overloaded_error" => (503, "service_unavailable"),
        _ => openai_type_for_status(upstream_status),
    }
}

fn openai_type_for_status(status: u16) -> (u16, &'static str) {
    let kind = match status {
        400 | 405 | 413 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => return (503, "service_unavailable"),
        _ => "api_error",
    };
    (status, kind)
}

/// An OpenAI error (status and `type`) → (Anthropic status, Anthropic `type`).
pub fn anthropic_error(status: u16, openai_type: Option<&str>) -> (u16, &'static str) {
    if openai_type == Some("insufficient_quota") {
        return (429, "rate_limit_error");
    }
    match status {
        401 => (401, "authentication_error"),
        402 => (402, "billing_error"),
        403 => (403, "permission_error"),
        404 => (404, "not_found_error"),
        413 => (413, "request_too_large"),
        429 => (429, "rate_limit_error"),
        503 | 529 => (529, "overloaded_error"),
        504 => (504, "timeout_error"),
        s if (400..500).contains(&s) => (s, "invalid_request_error"),
        _ => (500, "api_error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_both_ways() {
        for (anth, oai) in [
            ("end_turn", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
        ] {
            assert_eq!(finish_reason(anth), oai);
            assert_eq!(stop_reason(oai), anth);
        }
        assert_eq!(finish_reason("stop_sequence"), "stop");
        assert_eq!(finish_reason("pause_turn"), "stop");
    }

    #[test]
    fn effort_and_budget_round_trip() {
        for effort in ["low", "medium", "high"] {
            let b = thinking_budget(effort).unwrap();
            assert!(b >= MIN_THINKING_BUDGET);
            assert_eq!(reasoning_effort(b), effort);
        }
        assert_eq!(thinking_budget("none"), None);
    }
}
