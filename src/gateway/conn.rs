//! One client connection: hyper serving the app over it (HTTP/1.1, or
//! HTTP/2 with prior knowledge, as `axum::serve` did), with two deadlines
//! on the time a client may hold a socket without asking anything:
//!
//! - `server.header_read_timeout_ms`: from a request head's first byte
//!   (or from the accept, for the first request) to the call of the app.
//!   A client sending a head byte by byte (slowloris) or nothing at all is
//!   disconnected after it.
//! - `server.keepalive_idle_timeout_ms`: from the end of a response to the
//!   first byte of the next request, on a keep-alive connection.
//!
//! Why not hyper's own `header_read_timeout`: its timer starts whenever
//! the connection waits for a head, idle keep-alive time included, so the
//! two limits could not differ (an idle timeout as short as the header
//! timeout closes connections a load balancer is about to reuse).
//!
//! How: [`Tracked`] counts the connection's requests in progress, from the
//! call of the app until the response body is dropped (done or abandoned);
//! [`Guarded`], the socket under hyper, reads that count when hyper waits
//! for bytes and arms the deadline of the phase it is in. While a request
//! is in progress neither applies (`request_timeout_ms` and
//! `stream_idle_timeout_ms` do). A deadline that passes fails the read
//! with `TimedOut`, and hyper closes the connection.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// The two deadlines of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header_read: Duration,
    pub keepalive_idle: Duration,
}

/// Serves one connection until it closes; on `stop`, lets the request in
/// progress finish and closes (hyper's graceful shutdown).
pub async fn serve(
    tcp: TcpStream,
    accepted: Instant,
    app: Router,
    deadlines: Deadlines,
    stop: CancellationToken,
) {
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Guarded::new(tcp, accepted, deadlines, activity.clone()));
    let service = TowerToHyperService::new(Tracked { app, activity });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection closed: {e}");
                }
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What [`Tracked`] tells [`Guarded`]: requests in progress, and how many
/// have finished (so an idle period is noticed even between two polls).
#[derive(Default)]
struct Activity {
    busy: AtomicUsize,
    finished: AtomicU64,
}

/// Marks a request in progress until dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Relaxed);
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The app, counting each request from its call until its response body
/// is dropped.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl<B> tower::Service<http::Request<B>> for Tracked
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A Router is always ready; each call takes a clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let busy = Busy::start(&self.activity);
        let answer = tower::ServiceExt::oneshot(self.app.clone(), req.map(Body::new));
        Box::pin(async move {
            let Ok(resp) = answer.await;
            Ok(resp.map(|body| Body::new(BusyBody { body, _busy: busy })))
        })
    }
}

/// A response body that keeps its request counted as in progress.
struct BusyBody {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    // Kept, so a known length is still sent as Content-Length.
    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (or reading) a request head since then.
    Head(Instant),
    /// A keep-alive connection idle since then.
    Idle(Instant),
    /// A request in progress: no deadline here.
    Busy,
}

/// The client socket as hyper sees it, failing a read once the deadline
/// of the current phase has passed.
struct Guarded {
    tcp: TcpStream,
    deadlines: Deadlines,
    activity: Arc<Activity>,
    phase: Phase,
    finished_seen: u64,
    /// HTTP/2 with prior knowledge: frames between requests (PING,
    /// WINDOW_UPDATE) are not the start of a request head.
    h2: Option<bool>,
    timer: Option<Pin<Box<Sleep>>>,
}

/// The HTTP/2 connection preface's first bytes.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl Guarded {
    fn new(
        tcp: TcpStream,
        accepted: Instant,
        deadlines: Deadlines,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            tcp,
            deadlines,
            activity,
            phase: Phase::Head(accepted),
            finished_seen: 0,
            h2: None,
            timer: None,
        }
    }

    /// Follows the requests' progress into the phase.
    fn update_phase(&mut self) {
        if self.activity.busy.load(Ordering::Relaxed) > 0 {
            self.phase = Phase::Busy;
            return;
        }
        let finished = self.activity.finished.load(Ordering::Relaxed);
        if finished != self.finished_seen || matches!(self.phase, Phase::Busy) {
            self.finished_seen = finished;
            self.phase = Phase::Idle(Instant::now());
        }
    }

    /// Bytes arrived: on an idle HTTP/1 connection, a new head begins.
    fn on_bytes(&mut self, bytes: &[u8]) {
        if self.h2.is_none() {
            let n = bytes.len().min(H2_PREFACE.len());
            self.h2 = Some(bytes[..n] == H2_PREFACE[..n]);
        }
        if let Phase::Idle(_) = self.phase
            && self.h2 != Some(true)
        {
            self.phase = Phase::Head(Instant::now());
        }
    }

    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match self.phase {
            Phase::Head(since) => Some((
                since + self.deadlines.header_read,
                "no whole request head within server.header_read_timeout_ms",
            )),
            Phase::Idle(since) => Some((
                since + self.deadlines.keepalive_idle,
                "idle past server.keepalive_idle_timeout_ms",
            )),
            Phase::Busy => None,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.update_phase();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.on_bytes(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((at, why)) = this.deadline() else {
                    return Poll::Pending;
                };
                let timer = match &mut this.timer {
                    Some(t) => {
                        if t.deadline() != at {
                            t.as_mut().reset(at);
                        }
                        t
                    }
                    None => this.timer.insert(Box::pin(tokio::time::sleep_until(at))),
                };
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::debug!("closing a client connection: {why}");
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
