//! `Connection: close` on an answer given before the request body was read.
//!
//! Why: a refusal (401, 403, 404, 413, 429, …) is answered from the head
//! alone, without reading the body. hyper cannot then reuse the connection
//! (the unread bytes are still on it), so it closes it after the answer —
//! silently, while the client may still be sending the body. A keep-alive
//! client then meets a broken pipe on its next request (Python's
//! `http.client` failed 264 of 1,000 sequential requests so against a key
//! limited to 20/s), and SDKs that retry on connection errors double the
//! load exactly when the gateway refuses it. Saying `Connection: close` on
//! such an answer lets every client close cleanly and reconnect.
//!
//! The layer wraps the request body to note when it has been read to its
//! end, and marks the answer when it was not. Bodies that were read (the
//! relayed requests) keep their keep-alive connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderValue, header};
use http_body::{Body as _, Frame, SizeHint};

/// Adds [`UnreadBody`] around a service.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnreadBodyLayer;

impl<S> tower::Layer<S> for UnreadBodyLayer {
    type Service = UnreadBody<S>;
    fn layer(&self, inner: S) -> UnreadBody<S> {
        UnreadBody { inner }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct UnreadBody<S> {
    inner: S,
}

impl<S> tower::Service<Request> for UnreadBody<S>
where
    S: tower::Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.body().is_end_stream() {
            // No body (a GET): nothing can be left unread.
            return Box::pin(self.inner.call(req));
        }
        let read = Arc::new(AtomicBool::new(false));
        let req = req.map(|inner| {
            Body::new(Tracked {
                inner,
                read: read.clone(),
            })
        });
        let answer = self.inner.call(req);
        Box::pin(async move {
            let mut resp = answer.await?;
            if !read.load(Ordering::Acquire) {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(resp)
        })
    }
}

pin_project_lite::pin_project! {
    /// A request body that notes when it has been read to its end.
    struct Tracked {
        #[pin]
        inner: Body,
        read: Arc<AtomicBool>,
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = inner.as_mut().poll_frame(cx);
        let done = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => inner.is_end_stream(),
            _ => false,
        };
        if done {
            this.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
