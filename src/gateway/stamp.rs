//! The outermost layer: what every request gets on arrival, in one pass.
//!
//! It stamps the arrival time, moves the client's own `x-request-id` aside,
//! sets the gateway's (a UUIDv7, always: tower-http's request-id layer
//! would keep an incoming one), marks the key headers sensitive so they
//! never reach logs, opens the request's span, and puts the gateway's id on
//! the response, and writes the access line of every response the relay
//! does not log itself (`super::AccessLogged`): the model list, refusals by
//! auth and rate limits, unknown routes.
//!
//! Why one layer and not five: these were `map_request`, tower-http's
//! `SetRequestId`, `SetSensitiveRequestHeaders`, `Trace` and
//! `PropagateRequestId`, each with its own future (one boxed) and a wrapper
//! around every response body. Without the whole stack the gateway spent
//! ~13 µs less CPU per request (of ~125; docs/benchmarks-history.md, "The
//! middleware stack folded"), for work that is a few header operations.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use tower::{Layer, Service};
use tracing::instrument::{Instrument, Instrumented};

use super::{ClientRequestId, RequestStart};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Adds [`Stamp`] around a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampLayer;

impl<S> Layer<S> for StampLayer {
    type Service = Stamp<S>;

    fn layer(&self, inner: S) -> Stamp<S> {
        Stamp { inner }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Stamp<S> {
    inner: S,
}

/// A fresh time-ordered request id as a header value.
fn new_request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    // A hyphenated UUID is ASCII hex and dashes: always a valid header value.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

impl<S, B> Service<Request> for Stamp<S>
where
    S: Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Instrumented<Stamped<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        req.extensions_mut().insert(RequestStart(start));
        let headers = req.headers_mut();
        let client_id = headers.remove(X_REQUEST_ID).and_then(|v| {
            let mut s = v.to_str().ok()?.to_string();
            crate::ledger::entry::clean(&mut s, crate::ledger::entry::MAX_SHORT_TEXT);
            Some(ClientRequestId(s))
        });
        for name in [header::AUTHORIZATION, X_API_KEY] {
            if let Some(v) = headers.get_mut(name) {
                v.set_sensitive(true);
            }
        }
        let id = new_request_id();
        headers.insert(X_REQUEST_ID, id.clone());
        if let Some(c) = client_id {
            req.extensions_mut().insert(c);
        }
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.uri().path(),
            request_id = id.to_str().unwrap_or(""),
        );
        Stamped {
            inner: self.inner.call(req),
            id: Some(id),
            start,
        }
        .instrument(span)
    }
}

pin_project_lite::pin_project! {
    /// The inner response, with the gateway's request id added.
    pub struct Stamped<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
        start: Instant,
    }
}

impl<F, B, E> Future for Stamped<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            resp.headers_mut().insert(X_REQUEST_ID, id);
        }
        if resp.extensions().get::<super::AccessLogged>().is_none()
            && crate::telemetry::logging::access_logged(resp.status().as_u16() >= 400)
        {
            let latency = this.start.elapsed();
            tracing::info!(
                status = resp.status().as_u16(),
                latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                "access"
            );
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_gateway_id_replaces_the_clients_and_keys_are_sensitive() {
        let inner = tower::service_fn(|req: Request| async move {
            assert!(req.extensions().get::<RequestStart>().is_some());
            let client = req
                .extensions()
                .get::<ClientRequestId>()
                .map(|c| c.0.clone());
            assert_eq!(client.as_deref(), Some("client-1"));
            assert!(req.headers()[header::AUTHORIZATION].is_sensitive());
            assert!(req.headers()[X_API_KEY].is_sensitive());
            let id = req.headers()[X_REQUEST_ID]
                .to_str()
                .unwrap_or("")
                .to_string();
            let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7);
            let mut resp = Response::new(Body::empty());
            resp.headers_mut()
                .insert("x-seen-id", HeaderValue::from_str(&id).expect("header"));
            Ok::<_, std::convert::Infallible>(resp)
        });
        let req = Request::builder()
            .header(X_REQUEST_ID, "client-1")
            .header(header::AUTHORIZATION, "Bearer secret")
            .header(X_API_KEY, "secret")
            .body(Body::empty())
            .expect("request");
        let resp = StampLayer
            .layer(inner)
            .oneshot(req)
            .await
            .expect("response");
        assert_eq!(resp.headers()[X_REQUEST_ID], resp.headers()["x-seen-id"]);
    }
}
