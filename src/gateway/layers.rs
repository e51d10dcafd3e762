//! The middleware stack, one `ServiceBuilder` read top to bottom in request
//! order.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::ApiError;
use super::{ClientRequestId, RequestStart};
use crate::config::Config;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Time-ordered request ids (UUIDv7), made by the gateway for every request.
#[derive(Clone, Copy, Default)]
struct MakeUuidV7;

impl MakeRequestId for MakeUuidV7 {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Stamps the arrival time and moves the client's own `x-request-id` aside,
/// so the id layer below always sets the gateway's (tower-http keeps an
/// incoming id otherwise).
async fn stamp(mut req: Request) -> Request {
    req.extensions_mut().insert(RequestStart(Instant::now()));
    if let Some(v) = req.headers_mut().remove(X_REQUEST_ID)
        && let Ok(s) = v.to_str()
    {
        let mut s = s.to_string();
        crate::ledger::entry::clean(&mut s, crate::ledger::entry::MAX_SHORT_TEXT);
        req.extensions_mut().insert(ClientRequestId(s));
    }
    req
}

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
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("x-api-key"),
                ]),
        )
    };
    let stack = ServiceBuilder::new()
        // 1. arrival time; the client's x-request-id kept apart
        .layer(axum::middleware::map_request(stamp))
        // 2. the gateway's own request id, always
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeUuidV7))
        // 3. keys never reach logs
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
        ]))
        // 4. a span per request, carrying the id
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &http::Request<Body>| {
                    let id = req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        // 5. the id goes back as x-request-id
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        // 6. panics inside become a logged 500 with the id
        .layer(CatchPanicLayer::custom(panic_response))
        // 7. a head timeout for the whole request (streams: until headers)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            Duration::from_millis(c.server.request_timeout_ms),
        ))
        // 8. CORS, only when origins are configured
        .option_layer(cors);
    app.layer(stack)
}
