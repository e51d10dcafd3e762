//! Model access on `/v1`, the step after auth and before the rate limits
//! (so a refused request reserves nothing): a principal whose key, user or
//! team carries an allow-list ([`crate::identity::access`]) may only name
//! the models every one of those lists allows. A refusal is 403
//! `model_not_allowed` in the client API's error shape, counted in
//! `tokctl_admission_refusals_total` by scope and never written to the
//! ledger. `GET /v1/models` lists only what the caller may use.
//!
//! Principals without lists (the common case) cost nothing here: the body
//! is read only when there is a list to check, and then handed on in the
//! request's extensions ([`super::body::PreRead`]) so nobody reads it again.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::App;
use super::body::{PreRead, read};
use super::error::ApiError;
use crate::identity::Principal;
use crate::identity::access::ModelAccess;
use crate::providers::usage::Shape;

/// Lets the request through, or answers 403 `model_not_allowed`. A body
/// that cannot be read or names no model is let through: the relay answers
/// (and records) that failure as it would without a list.
pub async fn check(
    state: &App,
    principal: Option<&Principal>,
    req: Request,
) -> Result<Request, Response> {
    let Some(access) = principal.and_then(|p| p.access.as_deref()) else {
        return Ok(req);
    };
    if req.method() != http::Method::POST {
        return Ok(req);
    }
    let shape = if req.uri().path().starts_with("/v1/messages") {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    let (mut parts, body) = req.into_parts();
    let bytes = read(body, &parts.headers, state.config.server.max_body_bytes).await;
    let model = bytes.as_ref().ok().and_then(|b| model_of(b));
    parts.extensions.insert(PreRead(bytes));
    let req = Request::from_parts(parts, Body::empty());
    let Some(model) = model else {
        return Ok(req);
    };
    let Err(scope) = access.check(&model) else {
        return Ok(req);
    };
    state
        .telemetry
        .admission_refused("model_not_allowed", scope.as_str());
    tracing::info!(model = %model, scope = scope.as_str(),
        user = principal.map_or("", |p| p.user_name.as_str()), "model not allowed");
    let allowed = allowed_names(state, access);
    let message = format!(
        "the model `{model}` is not allowed for this API key (the {} allow-list excludes it); {}",
        scope.as_str(),
        if allowed.is_empty() {
            "no configured model is allowed: ask an administrator".to_string()
        } else {
            format!("allowed here: {}", allowed.join(", "))
        }
    );
    Err(
        ApiError::new(StatusCode::FORBIDDEN, "model_not_allowed", message)
            .param("model")
            .shaped(shape)
            .into_response(),
    )
}

/// The `model` of a JSON body, if it has a string one.
fn model_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        model: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Head>(body).ok()?.model? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// The configured models `access` allows, in config order.
fn allowed_names<'a>(state: &'a App, access: &ModelAccess) -> Vec<&'a str> {
    state
        .routes
        .names
        .iter()
        .filter(|n| access.allows(n))
        .map(String::as_str)
        .collect()
}

/// `GET /v1/models` for `principal`: OpenAI's list shape, or Anthropic's
/// when `anthropic`, with only the models the caller may use.
pub fn models_list(state: &App, principal: Option<&Principal>, anthropic: bool) -> Response {
    let access = principal.and_then(|p| p.access.as_deref());
    let mut list = if anthropic {
        state.routes.list_anthropic_json()
    } else {
        state.routes.list_json()
    };
    if let Some(access) = access {
        let id = |m: &serde_json::Value| m.get("id").and_then(|v| v.as_str()).map(str::to_string);
        if let Some(serde_json::Value::Array(data)) = list.get_mut("data") {
            data.retain(|m| id(m).is_some_and(|n| access.allows(&n)));
            let (first, last) = (data.first().and_then(id), data.last().and_then(id));
            if anthropic {
                list["first_id"] = first.into();
                list["last_id"] = last.into();
            }
        }
    }
    axum::Json(list).into_response()
}
