//! The request body, read once: by the model-access check when the caller
//! has an allow-list, or by the tokens-per-minute limit when it needs an
//! estimate (the bytes then travel on in the request's extensions), else
//! by the relay. Either way one function reads it and
//! gives one answer per failure:
//!
//! - longer than `server.max_body_bytes` (declared or read): 413 `body_too_large`;
//! - the client's connection ended before the body did: 499 `client_closed`;
//! - anything else (a malformed chunked encoding, an I/O error): 400
//!   `body_unreadable`.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

use super::error::ApiError;
use super::relay::CLIENT_CLOSED;

/// A body read before the handler (by the limiter), carried in the
/// request's extensions so that nobody reads it again.
#[derive(Debug, Clone)]
pub struct PreRead(pub Result<Bytes, ApiError>);

/// The body as the relay gets it.
pub enum RequestBody {
    /// Still on the connection.
    Unread(Body),
    /// Read already (see [`PreRead`]).
    Read(Result<Bytes, ApiError>),
}

impl RequestBody {
    /// The bytes, reading them if nobody has.
    pub async fn bytes(self, headers: &HeaderMap, max: usize) -> Result<Bytes, ApiError> {
        match self {
            RequestBody::Unread(body) => read(body, headers, max).await,
            RequestBody::Read(result) => result,
        }
    }
}

/// Reads a whole body of at most `max` bytes (see the module's doc for
/// the answers).
pub async fn read(body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {max} bytes (server.max_body_bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) if client_went_away(e.as_ref()) => Err(ApiError::new(
            StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST),
            "client_closed",
            format!("the client closed the connection before the request body ended: {e}"),
        )),
        Err(e) => Err(ApiError::bad_request(
            "body_unreadable",
            format!(
                "the request body could not be read ({e}); send it whole, with a valid \
                 Content-Length or chunked encoding"
            ),
        )),
    }
}

/// Whether a body error means the connection ended early (hyper's
/// "incomplete message"; a body cut short is hyper's `Body` error over an
/// `UnexpectedEof`, a reset a `ConnectionReset`), rather than bytes that
/// make no sense (a bad chunk size is an `InvalidInput`).
fn client_went_away(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{
                BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof,
            };
            return matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            );
        }
        cur = err.source();
    }
    false
}
