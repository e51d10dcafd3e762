//! The middleware stack, one `ServiceBuilder` read top to bottom in request
//! order.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

use super::error::ApiError;
use crate::config::Config;

/// A panic becomes a logged 500 in the OpenAI shape; the server lives on.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into());
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_panic",
        "the gateway hit an internal error; it has been logged with this request's id",
    )
    .into_response()
}

/// The head timeout of the routes that answer without the relay but may
/// wait (`/health` asks the databases): an empty 504 after
/// `server.request_timeout_ms`. The `/v1` handlers keep the same deadline
/// themselves (see `super::proxy`); the rest answers at once.
pub fn timeout(c: &Config) -> TimeoutLayer {
    TimeoutLayer::with_status_code(
        StatusCode::GATEWAY_TIMEOUT,
        Duration::from_millis(c.server.request_timeout_ms),
    )
}

pub fn apply(app: Router, c: &Config) -> Router {
    let cors = if c.server.cors_allow_origins.is_empty() {
        None
    } else {
        let origins: Vec<HeaderValue> = c
            .server
            .cors_allow_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([http::Method::GET, http::Method::POST])
                // What the OpenAI and Anthropic browser SDKs send (their
                // `x-stainless-*` telemetry headers included), so that
                // their preflight passes.
                .allow_headers(AllowHeaders::list(
                    [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT]
                        .into_iter()
                        .chain(
                            [
                                "x-api-key",
                                "x-request-id",
                                "anthropic-version",
                                "anthropic-beta",
                                "anthropic-dangerous-direct-browser-access",
                                "openai-organization",
                                "openai-project",
                                "x-stainless-arch",
                                "x-stainless-lang",
                                "x-stainless-os",
                                "x-stainless-package-version",
                                "x-stainless-retry-count",
                                "x-stainless-runtime",
                                "x-stainless-runtime-version",
                                "x-stainless-timeout",
                            ]
                            .map(HeaderName::from_static),
                        ),
                ))
                // Scripts may read the ids a support ticket needs, the
                // gateway's overhead and the rate-limit state.
                .expose_headers(
                    [
                        "x-request-id",
                        "x-upstream-request-id",
                        "x-tokctl-overhead-us",
                        "x-ratelimit-limit",
                        "x-ratelimit-remaining",
                        "x-ratelimit-reset",
                        "x-ratelimit-type",
                        "retry-after",
                    ]
                    .map(HeaderName::from_static),
                ),
        )
    };
    let stack = ServiceBuilder::new()
        // 1. arrival time, the client's x-request-id kept apart, the
        //    gateway's own id (on the request, the response and the span),
        //    keys marked sensitive: one pass (stamp.rs says why)
        .layer(super::stamp::StampLayer)
        // 2. panics inside become a logged 500 with the id
        .layer(CatchPanicLayer::custom(panic_response))
        // 3. an answer given before the body was read says
        //    `Connection: close`, so keep-alive clients reconnect cleanly
        .layer(super::unread::UnreadBodyLayer)
        // 4. the head timeout (`server.request_timeout_ms`): the /v1
        //    handlers keep it themselves, so that their 504 is in the
        //    endpoint's error shape and in the ledger, with one timer per
        //    request; the health and metrics routes have [`timeout`]
        // 5. CORS, only when origins are configured
        .option_layer(cors);
    app.layer(stack)
}
