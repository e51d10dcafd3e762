//! One HTTP/1.1 connection per concurrency slot, driven in the worker's own
//! task (no spawned connection task, no pool), and one request/answer
//! exchange over it with its outcome classified. It does not record
//! statistics (see `engine.rs`).

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest, handshake};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::sse::SseState;
use super::stats::ErrorKind;
use super::target::Target;

type Driver = Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// A worker's connection, opened lazily and reopened after a failure.
#[derive(Default)]
pub struct Conn {
    open: Option<(SendRequest<Full<Bytes>>, Driver)>,
}

/// A request that got an HTTP answer.
pub struct Answer {
    pub status: u16,
    pub bytes: u64,
    /// When the request was handed to the connection.
    pub sent: Instant,
    pub done: Instant,
    pub sse: Option<SseState>,
}

/// Opens a TCP connection to `addr` (used once before a run to fail fast).
pub async fn probe(addr: &str) -> std::io::Result<()> {
    TcpStream::connect(addr).await.map(drop)
}

impl Conn {
    /// Sends one request and reads the whole answer within `timeout`.
    pub async fn exchange(
        &mut self,
        target: &Target,
        stream: bool,
        timeout: Duration,
    ) -> Result<Answer, ErrorKind> {
        if self.open.as_ref().is_none_or(|(s, _)| s.is_closed()) {
            self.open = None;
            let tcp = TcpStream::connect(&target.addr)
                .await
                .map_err(|_| ErrorKind::Connect)?;
            let _ = tcp.set_nodelay(true);
            let (s, c) = handshake(TokioIo::new(tcp))
                .await
                .map_err(|_| ErrorKind::Connect)?;
            self.open = Some((s, Box::pin(c)));
        }
        let Some((sender, driver)) = self.open.as_mut() else {
            return Err(ErrorKind::Connect);
        };
        let sent = Instant::now();
        let mut closed = false;
        let out = {
            let work = tokio::time::timeout(timeout, read(sender, target, stream, sent));
            tokio::pin!(work);
            loop {
                tokio::select! {
                    biased;
                    r = &mut work => break r,
                    _ = driver.as_mut(), if !closed => closed = true,
                }
            }
        };
        let out = match out {
            Ok(r) => r,
            Err(_) => {
                self.open = None;
                return Err(ErrorKind::Timeout);
            }
        };
        if closed || out.is_err() {
            self.open = None;
        }
        out
    }
}

async fn read(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
    stream: bool,
    sent: Instant,
) -> Result<Answer, ErrorKind> {
    sender.ready().await.map_err(|e| classify(&e))?;
    let resp = sender
        .send_request(target.request())
        .await
        .map_err(|e| classify(&e))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes = 0u64;
    let mut sse = stream.then(SseState::default);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify(&e))?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
            if let Some(s) = sse.as_mut() {
                s.feed(data, Instant::now());
            }
        }
    }
    Ok(Answer {
        status,
        bytes,
        sent,
        done: Instant::now(),
        sse,
    })
}

/// Maps a hyper error to the reported error kind.
fn classify(e: &hyper::Error) -> ErrorKind {
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return ErrorKind::Reset;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return match io.kind() {
                K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted | K::UnexpectedEof => {
                    ErrorKind::Reset
                }
                K::TimedOut => ErrorKind::Timeout,
                _ => ErrorKind::Other,
            };
        }
        cur = c.source();
    }
    ErrorKind::Other
}
