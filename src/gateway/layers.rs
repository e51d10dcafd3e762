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

/// How much later than `server.request_timeout_ms` the layer's timeout
/// fires: the handlers' own deadline always comes first.
const BACKSTOP_GRACE: Duration = Duration::from_secs(1);

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
        // 3. a head timeout for the whole request (streams: until headers).
        //    The /v1 handlers keep the same deadline themselves, so that
        //    their 504 is in the endpoint's error shape and in the ledger;
        //    this layer is the backstop for every other route, a second
        //    later so that it never races them.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_millis(c.server.request_timeout_ms) + BACKSTOP_GRACE,
        ))
        // 4. CORS, only when origins are configured
        .option_layer(cors);
    app.layer(stack)
}
