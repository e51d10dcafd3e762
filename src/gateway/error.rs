//! Errors the gateway answers with, in OpenAI's shape
//! (`{"error":{"message","type","param","code"}}`) or, on `/v1/messages`,
//! Anthropic's (`{"type":"error","error":{"type","message"}}`). Each has a
//! `&'static str` label for metrics and the ledger's `error_kind`; raw
//! upstream text goes into the message, never into a label.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::providers::UpstreamError;
use crate::providers::usage::Shape;

/// One error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Low-cardinality label: metrics and `error_kind`.
    pub label: &'static str,
    pub message: String,
    pub param: Option<&'static str>,
    pub shape: Shape,
}

impl ApiError {
    pub fn new(status: StatusCode, label: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            label,
            message: message.into(),
            param: None,
            shape: Shape::OpenAi,
        }
    }

    pub fn bad_request(label: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, label, message)
    }

    pub fn param(mut self, p: &'static str) -> Self {
        self.param = Some(p);
        self
    }

    pub fn shaped(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    /// The error `type` for the status: OpenAI's, then Anthropic's.
    fn types(&self) -> (&'static str, &'static str) {
        match self.status.as_u16() {
            401 => ("authentication_error", "authentication_error"),
            403 => ("permission_error", "permission_error"),
            404 => ("not_found_error", "not_found_error"),
            // Budgets: OpenAI's SDKs and clients know a spent quota by this type.
            429 if self.label == "budget_exceeded" => ("insufficient_quota", "rate_limit_error"),
            429 => ("rate_limit_error", "rate_limit_error"),
            413 => ("invalid_request_error", "request_too_large"),
            400 | 405 | 415 | 422 => ("invalid_request_error", "invalid_request_error"),
            503 => ("service_unavailable", "overloaded_error"),
            529 => ("api_error", "overloaded_error"),
            s if s < 500 => ("api_error", "invalid_request_error"),
            _ => ("api_error", "api_error"),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        match self.shape {
            Shape::OpenAi | Shape::Responses => serde_json::json!({
                "error": {
                    "message": self.message,
                    "type": self.types().0,
                    "param": self.param,
                    "code": self.label,
                }
            }),
            Shape::Anthropic => serde_json::json!({
                "type": "error",
                "error": { "type": self.types().1, "message": self.message }
            }),
        }
    }

    /// Maps an upstream failure: down is 502 naming the provider, a
    /// timeout is 504.
    pub fn upstream(e: &UpstreamError) -> Self {
        let status = match e {
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.label(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp.extensions_mut().insert(ErrorLabel(self.label));
        resp
    }
}

/// Attached to error responses so that outer layers (metrics, logs) can
/// read the label without parsing the body.
#[derive(Debug, Clone, Copy)]
pub struct ErrorLabel(pub &'static str);
