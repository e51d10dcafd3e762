//! Auth on `/v1`, the first step of every `/v1` handler: finds the
//! presented key and asks the cached authenticator who it belongs to.
//! Refusals are answered here and never reach the ledger (so nobody can
//! flood it from outside); an identity database outage for an uncached key
//! is 503.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::ApiError;
use crate::identity::{AuthError, Principal};
use crate::providers::usage::Shape;

/// The caller's principal (`None` with `auth.enabled = false`), or the
/// refusal to send back.
/// (Takes the parts it reads, not the request: a request's body is not
/// `Sync`, so a borrowed request would make the handler's future not `Send`.)
pub async fn admit(
    state: &App,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Principal>, Response> {
    let Some(auth) = &state.auth else {
        return Ok(None);
    };
    let shape = if path == "/v1/messages" {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    let result = auth.authenticate_headers(headers).await;
    match result {
        Ok(principal) => Ok(Some(principal)),
        Err(e) => {
            // A disabled user is known but not allowed: 403, not 401.
            let status = match e {
                AuthError::Disabled { .. } => StatusCode::FORBIDDEN,
                _ => e.status(),
            };
            state.telemetry.auth_refused(e.label());
            tracing::info!(path = %path, reason = e.label(), "request refused by auth");
            Err(ApiError::new(status, e.label(), e.to_string())
                .shaped(shape)
                .into_response())
        }
    }
}
