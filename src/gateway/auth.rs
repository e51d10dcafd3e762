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
use crate::identity::{AuthError, presented_key};
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
    let result = match presented_key(req.headers()) {
        None => Err(AuthError::Missing),
        Some(key) => auth.authenticate(key).await,
    };
    match result {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => {
            let status = match e {
                AuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                AuthError::Disabled => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            tracing::info!(path = %req.uri().path(), reason = e.label(), "request refused by auth");
            ApiError::new(status, e.label(), e.to_string())
                .shaped(shape)
                .into_response()
        }
    }
}
