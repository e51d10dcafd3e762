//! The auth layer on `/v1`: finds the presented key, asks the cached
//! authenticator, and puts the [`Principal`] into the request. Refusals are
//! answered here and never reach the ledger (so nobody can flood it from
//! outside); an identity database outage for an uncached key is 503.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::identity::AuthError;
use crate::providers::usage::Shape;

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(auth) = &state.auth else {
        return next.run(req).await;
    };
    let shape = if req.uri().path() == "/v1/messages" {
        Shape::Anthropic
    } else {
        Shape::OpenAi
    };
    let result = auth.authenticate_headers(req.headers()).await;
    match result {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => {
            // A disabled user is known but not allowed: 403, not 401.
            let status = match e {
                AuthError::Disabled { .. } => StatusCode::FORBIDDEN,
                _ => e.status(),
            };
            state.telemetry.auth_refused(e.label());
            tracing::info!(path = %req.uri().path(), reason = e.label(), "request refused by auth");
            ApiError::new(status, e.label(), e.to_string())
                .shaped(shape)
                .into_response()
        }
    }
}
