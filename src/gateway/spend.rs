//! Budgets at the gateway's door: what a request may cost at most (its
//! estimate), the 429 `budget_exceeded` an exhausted budget answers, the
//! 503 when Redis fails and `budgets.on_store_failure = refuse`, and the
//! `x-tokctl-budget-*` headers on answers.
//!
//! The estimate prices the prompt (its bytes / 4 tokens) and the output
//! limit (`max_tokens`, `max_completion_tokens` or `max_output_tokens`,
//! else the model's `max_tokens_default`) at the highest prices among the
//! model's deployments and fallbacks, so a request can cost more than its
//! estimate only when its prompt tokenises to more than bytes / 4.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::ApiError;
use crate::budget::{Ask, Exceeded, Window};
use crate::identity::Principal;
use crate::ledger::Usage;
use crate::pricing::Prices;
use crate::providers::usage::Shape;

const REMAINING: HeaderName = HeaderName::from_static("x-tokctl-budget-remaining");
const RESET: HeaderName = HeaderName::from_static("x-tokctl-budget-reset");

/// The parts of a request body an estimate needs (the model borrowed from
/// the body unless it has escapes).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Head<'a> {
    #[serde(borrow)]
    pub model: Option<std::borrow::Cow<'a, str>>,
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
}

impl<'a> Head<'a> {
    pub fn of(body: &'a [u8]) -> Head<'a> {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// The output limit the client set, if any.
    pub fn output_limit(&self) -> Option<u64> {
        self.max_completion_tokens
            .or(self.max_tokens)
            .or(self.max_output_tokens)
    }
}

/// What the principal's budgets are asked to hold for this request.
pub fn ask(state: &App, principal: &Principal, body_len: usize, head: &Head<'_>) -> Option<Ask> {
    let budgets = principal.budgets.clone()?;
    let route = head.model.as_deref().and_then(|m| state.routes.get(m));
    let estimate_nano = route.map_or(0, |r| {
        let output = head
            .output_limit()
            .unwrap_or(u64::from(r.max_tokens_default));
        estimate_nano(&r.ceiling, body_len, output)
    });
    Some(Ask {
        budgets,
        estimate_nano,
    })
}

/// The most `body_len` bytes of prompt and `output` tokens cost at `p`
/// (cache writes may be dearer than input: the dearer counts).
pub fn estimate_nano(p: &Prices, body_len: usize, output: u64) -> i64 {
    let ceiling = Prices {
        input: p.input.max(p.cache_write),
        ..*p
    };
    let usage = Usage {
        input_tokens: i64::try_from(body_len.div_ceil(4)).unwrap_or(i64::MAX),
        output_tokens: i64::try_from(output).unwrap_or(i64::MAX),
        ..Usage::default()
    };
    ceiling.cost_nano(&usage)
}

/// An amount of nano-units in the ledger's currency, for messages (as
/// the CLI shows budgets: `0.50`, `0.0024`).
fn money(nano: i64) -> String {
    crate::identity::budgets::format_amount(nano)
}

fn window_text(w: Window) -> String {
    match w {
        Window::Daily => "day".into(),
        Window::Weekly => "week".into(),
        Window::Monthly => "month".into(),
        Window::Every(d) => humantime::format_duration(d).to_string(),
    }
}

/// A reset time in whole seconds, rounded up: a client that waits until
/// then finds the new period begun.
fn rfc3339(us: i64) -> String {
    let us = us.div_euclid(1_000_000) * 1_000_000 + if us % 1_000_000 == 0 { 0 } else { 1_000_000 };
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// 429 `budget_exceeded`, shaped so the official SDKs raise at once:
/// OpenAI's `insufficient_quota`, Anthropic's `rate_limit_error` with the
/// message prefixed, and `x-should-retry: false`.
pub fn exceeded(state: &App, x: &Exceeded, shape: Shape) -> Response {
    let scope = x.budget.scope.as_str();
    state.telemetry.admission_refused("budget_exceeded", scope);
    tracing::info!(
        scope,
        id = x.budget.id,
        spent_nano = x.spent_nano,
        limit_nano = x.budget.limit_nano,
        "budget exceeded"
    );
    let reset = rfc3339(x.reset_us);
    let message = format!(
        "budget_exceeded: the {scope} budget of {} per {} is spent ({} used or held); it resets at {reset}. \
         Ask an administrator to raise it (tokctl {scope}s update … --budget) or wait for the reset",
        money(x.budget.limit_nano),
        window_text(x.budget.window),
        money(x.spent_nano),
    );
    let mut resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "budget_exceeded", message)
        .shaped(shape)
        .into_response();
    let h = resp.headers_mut();
    h.insert("x-should-retry", HeaderValue::from_static("false"));
    h.insert(super::limit::TYPE, HeaderValue::from_static("budget"));
    if let Ok(v) = HeaderValue::from_str(&reset) {
        h.insert(RESET, v);
    }
    h.insert(REMAINING, HeaderValue::from(0));
    resp
}

/// 503: Redis, which shares the budgets, failed and the configuration
/// says to refuse rather than enforce per instance.
pub fn unavailable(state: &App, shape: Shape) -> Response {
    state
        .telemetry
        .admission_refused("budget_store_unavailable", "store");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "budget_store_unavailable",
        "the budget store (Redis) is unavailable and budgets.on_store_failure is `refuse`; retry shortly",
    )
    .shaped(shape)
    .into_response()
}

/// `x-tokctl-budget-remaining` (in currency units, after this request's
/// estimate) and `x-tokctl-budget-reset` of the tightest budget (`left`
/// nano-units, resetting at `reset_us`), on an admitted request's answer.
pub fn headers(resp: &mut Response, (left, reset_us): (i64, i64)) {
    let h = resp.headers_mut();
    let left = left.max(0);
    let units = format!(
        "{}.{:06}",
        left / 1_000_000_000,
        left % 1_000_000_000 / 1000
    );
    if let Ok(v) = HeaderValue::from_str(&units) {
        h.insert(REMAINING, v);
    }
    if let Some(v) = reset_header(reset_us) {
        h.insert(RESET, v);
    }
}

thread_local! {
    /// The last reset time formatted on this thread: every request of a
    /// period shares it, and formatting a date costs more than the rest of
    /// the budget's work.
    static LAST_RESET: std::cell::RefCell<Option<(i64, HeaderValue)>> =
        const { std::cell::RefCell::new(None) };
}

/// `reset_us` as an `x-tokctl-budget-reset` value.
fn reset_header(reset_us: i64) -> Option<HeaderValue> {
    LAST_RESET.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((us, v)) = last.as_ref()
            && *us == reset_us
        {
            return Some(v.clone());
        }
        let v = HeaderValue::from_str(&rfc3339(reset_us)).ok()?;
        *last = Some((reset_us, v.clone()));
        Some(v)
    })
}

/// Soft thresholds a settlement crossed: logged and counted (a webhook
/// once the project has them), once per budget and period.
pub fn soft_crossed(state: &App, crossed: &[crate::budget::Crossed]) {
    for c in crossed {
        let scope = c.budget.scope.as_str();
        state.telemetry.budget_soft_threshold(scope);
        tracing::warn!(
            scope,
            id = c.budget.id,
            limit_nano = c.budget.limit_nano,
            soft_percent = c.budget.soft_percent.unwrap_or(0),
            "budget soft threshold crossed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_prices_prompt_and_output_at_the_ceiling() {
        let p = Prices {
            input: 1_000_000_000, // 1 per Mtok: 1,000 nano per token
            cached_input: 0,
            cache_write: 2_000_000_000,
            output: 4_000_000_000,
        };
        // 400 bytes = 100 tokens at the dearer cache-write price, 10 output.
        assert_eq!(estimate_nano(&p, 400, 10), 100 * 2_000 + 10 * 4_000);
        assert_eq!(estimate_nano(&Prices::default(), 400, 10), 0);
    }

    #[test]
    fn the_output_limit_is_whichever_field_the_api_uses() {
        let h = Head::of(br#"{"model":"m","max_output_tokens":7}"#);
        assert_eq!((h.model.as_deref(), h.output_limit()), (Some("m"), Some(7)));
        let h = Head::of(br#"{"max_tokens":5,"max_completion_tokens":9}"#);
        assert_eq!(h.output_limit(), Some(9));
        assert_eq!(Head::of(b"not json").output_limit(), None);
    }
}
