//! One HTTP/1.1 connection per concurrency slot and one request/answer
//! exchange over it, with its outcome classified. It does not record
//! statistics (see `engine.rs`).
//!
//! Why not hyper's client here: a load generator must cost its host less
//! than the target does, and hyper's client (request and header-map
//! building, its dispatch channel, response header maps) spent ~8 µs of
//! user CPU per request against wrk's ~2 µs (docs/benchmarks.md), on a
//! machine the generator shares with the target. Every request of a run is
//! the same, so its bytes are made once ([`Target::wire`]); the answer's
//! head is parsed with `httparse` (the parser hyper itself uses) and its
//! body framed by `Content-Length`, chunked encoding, or the end of the
//! connection, as RFC 9112 says. An `https://` target's connection is the
//! same exchange over a tokio-rustls stream; a plain one pays nothing for it
//! but a branch on the stream kind.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::LoadError;
use super::sse::SseState;
use super::stats::ErrorKind;
use super::target::Target;

/// A plain or TLS connection (the TLS state boxed: it is large, and a plain
/// connection should not carry its size).
type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Headers an answer may carry; more is a malformed answer.
const MAX_HEADERS: usize = 64;
/// Read-buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// A worker's connection, opened lazily and reopened after a failure or
/// an answer that ends the connection.
#[derive(Default)]
pub struct Conn {
    stream: Option<Stream>,
    /// Bytes read and not yet consumed, from `start`.
    buf: Vec<u8>,
    start: usize,
}

/// A request that got an HTTP answer.
pub struct Answer {
    pub status: u16,
    /// Body bytes (after chunked decoding).
    pub bytes: u64,
    /// When the request was handed to the connection.
    pub sent: Instant,
    pub done: Instant,
    pub sse: Option<SseState>,
}

/// How the body of an answer ends.
enum Framing {
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// Connects to `target` once before a run (and, for https, completes a
/// TLS handshake), so that an unreachable target or a certificate the roots
/// do not vouch for is one clear error instead of a run of failures.
pub async fn probe(target: &Target) -> Result<(), LoadError> {
    let addr = || target.addr.clone();
    let tcp = TcpStream::connect(&target.addr)
        .await
        .map_err(|source| LoadError::Unreachable {
            addr: addr(),
            source,
        })?;
    if let Some(tls) = target.tls() {
        TlsConnector::from(tls.config.clone())
            .connect(tls.name.clone(), tcp)
            .await
            .map_err(|source| LoadError::Tls {
                addr: addr(),
                source,
            })?;
    }
    Ok(())
}

/// Opens a worker's connection: TCP with `TCP_NODELAY`, then TLS for https.
async fn connect(target: &Target) -> Result<Stream, ErrorKind> {
    let tcp = TcpStream::connect(&target.addr)
        .await
        .map_err(|_| ErrorKind::Connect)?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = target.tls() else {
        return Ok(Either::Left(tcp));
    };
    let stream = TlsConnector::from(tls.config.clone())
        .connect(tls.name.clone(), tcp)
        .await
        .map_err(|_| ErrorKind::Connect)?;
    Ok(Either::Right(Box::new(stream)))
}

/// Opens `n` connections at once, each within `timeout`, before a level's
/// schedule starts. One that fails is left closed: its first request opens
/// it again and counts the error if it fails again.
pub async fn open_all(target: &Target, n: usize, timeout: Duration) -> Vec<Conn> {
    let opens = (0..n).map(|_| async {
        let stream = tokio::time::timeout(timeout, connect(target))
            .await
            .ok()
            .and_then(Result::ok);
        Conn {
            stream,
            ..Conn::default()
        }
    });
    futures_util::future::join_all(opens).await
}

impl Conn {
    /// Sends one request and reads the whole answer within `timeout`.
    pub async fn exchange(
        &mut self,
        target: &Target,
        stream: bool,
        timeout: Duration,
    ) -> Result<Answer, ErrorKind> {
        match tokio::time::timeout(timeout, self.exchange_inner(target, stream)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(kind)) => {
                self.stream = None;
                Err(kind)
            }
            Err(_) => {
                self.stream = None;
                Err(ErrorKind::Timeout)
            }
        }
    }

    async fn exchange_inner(&mut self, target: &Target, stream: bool) -> Result<Answer, ErrorKind> {
        if self.stream.is_none() {
            self.stream = Some(connect(target).await?);
        }
        self.buf.clear();
        self.start = 0;
        let sent = Instant::now();
        let conn = self.stream.as_mut().ok_or(ErrorKind::Connect)?;
        conn.write_all(target.wire())
            .await
            .map_err(|e| classify(&e))?;
        if let Either::Right(tls) = conn {
            // rustls may hold the last record until flushed.
            tls.flush().await.map_err(|e| classify(&e))?;
        }
        let (status, framing, close) = self.read_head().await?;
        let mut sse = stream.then(SseState::default);
        let bytes = match framing {
            Framing::Length(n) => self.read_length(n, sse.as_mut()).await?,
            Framing::Chunked => self.read_chunked(sse.as_mut()).await?,
            Framing::Close => self.read_to_close(sse.as_mut()).await?,
        };
        let done = Instant::now();
        // Anything after the answer was not asked for: start afresh.
        if close || matches!(framing, Framing::Close) || self.start < self.buf.len() {
            self.stream = None;
        }
        Ok(Answer {
            status,
            bytes,
            sent,
            done,
            sse,
        })
    }

    /// Reads more bytes; `Ok(0)` is the end of the connection.
    async fn fill(&mut self) -> Result<usize, ErrorKind> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.reserve(READ_CHUNK);
        let Some(stream) = self.stream.as_mut() else {
            return Err(ErrorKind::Connect);
        };
        match stream.read_buf(&mut self.buf).await {
            Ok(n) => Ok(n),
            // A TLS peer that closes without close_notify: the end of the
            // connection, as a plain socket's 0 would say.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(classify(&e)),
        }
    }

    /// Reads and parses the status line and headers (skipping 1xx answers).
    async fn read_head(&mut self) -> Result<(u16, Framing, bool), ErrorKind> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..]) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.ok_or(ErrorKind::Other)?;
                    let (framing, close) = framing(status, resp.headers)?;
                    self.start += len;
                    if (100..200).contains(&status) {
                        continue;
                    }
                    return Ok((status, framing, close));
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill().await? == 0 {
                        return Err(ErrorKind::Reset);
                    }
                }
                Err(_) => return Err(ErrorKind::Other),
            }
        }
    }

    /// Hands `n` buffered body bytes to the stream parser and consumes them.
    fn take(&mut self, n: usize, sse: Option<&mut SseState>) {
        if let Some(s) = sse {
            s.feed(&self.buf[self.start..self.start + n], Instant::now());
        }
        self.start += n;
    }

    async fn read_length(
        &mut self,
        len: u64,
        mut sse: Option<&mut SseState>,
    ) -> Result<u64, ErrorKind> {
        let mut left = len;
        loop {
            let have = (self.buf.len() - self.start) as u64;
            let n = have.min(left) as usize;
            self.take(n, sse.as_deref_mut());
            left -= n as u64;
            if left == 0 {
                return Ok(len);
            }
            if self.fill().await? == 0 {
                return Err(ErrorKind::Reset);
            }
        }
    }

    async fn read_to_close(&mut self, mut sse: Option<&mut SseState>) -> Result<u64, ErrorKind> {
        let mut total = 0u64;
        loop {
            let n = self.buf.len() - self.start;
            self.take(n, sse.as_deref_mut());
            total += n as u64;
            if self.fill().await? == 0 {
                return Ok(total);
            }
        }
    }

    /// Decodes a chunked body (RFC 9112 §7.1), feeding each chunk's data as
    /// it arrives; trailers are read and ignored.
    async fn read_chunked(&mut self, mut sse: Option<&mut SseState>) -> Result<u64, ErrorKind> {
        let mut total = 0u64;
        loop {
            let line = self.read_line().await?;
            let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size_text)
                .ok()
                .and_then(|t| u64::from_str_radix(t.trim(), 16).ok())
                .ok_or(ErrorKind::Other)?;
            if size == 0 {
                // Trailer fields, then the empty line.
                while !self.read_line().await?.is_empty() {}
                return Ok(total);
            }
            total += self.read_length(size, sse.as_deref_mut()).await?;
            if !self.read_line().await?.is_empty() {
                return Err(ErrorKind::Other);
            }
        }
    }

    /// Reads one CRLF-terminated line and returns it without the CRLF.
    async fn read_line(&mut self) -> Result<Vec<u8>, ErrorKind> {
        loop {
            if let Some(i) = self.buf[self.start..].windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            if self.buf.len() - self.start > READ_CHUNK {
                return Err(ErrorKind::Other);
            }
            if self.fill().await? == 0 {
                return Err(ErrorKind::Reset);
            }
        }
    }
}

/// The body's framing and whether the server ends the connection after it.
fn framing(status: u16, headers: &[httparse::Header<'_>]) -> Result<(Framing, bool), ErrorKind> {
    let mut length = None;
    let (mut chunked, mut close) = (false, false);
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(ErrorKind::Other)?;
            if length.is_some_and(|l| l != n) {
                return Err(ErrorKind::Other);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .split(|&b| b == b',')
                .next_back()
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h
                .value
                .split(|&b| b == b',')
                .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    // No body: 1xx, 204 and 304 (RFC 9112 §6.3).
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok((Framing::Length(0), close));
    }
    Ok(match (chunked, length) {
        (true, _) => (Framing::Chunked, close),
        (false, Some(n)) => (Framing::Length(n), close),
        (false, None) => (Framing::Close, true),
    })
}

/// Maps an I/O error to the reported error kind.
fn classify(e: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted | K::UnexpectedEof => {
            ErrorKind::Reset
        }
        K::TimedOut => ErrorKind::Timeout,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<(u16, Framing, bool), ErrorKind> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let _ = resp.parse(head.as_bytes());
        let status = resp.code.unwrap_or(0);
        framing(status, resp.headers).map(|(f, c)| (status, f, c))
    }

    #[test]
    fn bodies_are_framed_as_rfc_9112_says() {
        let len = parse("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert!(matches!(len, Ok((200, Framing::Length(12), false))));
        // Chunked wins over a length (a proxy's leftover).
        let chunked = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        );
        assert!(matches!(chunked, Ok((200, Framing::Chunked, false))));
        let close = parse("HTTP/1.1 200 OK\r\n\r\n");
        assert!(matches!(close, Ok((200, Framing::Close, true))));
        let asked = parse(
            "HTTP/1.1 500 Oops\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
        );
        assert!(matches!(asked, Ok((500, Framing::Length(0), true))));
        let none = parse("HTTP/1.1 204 No Content\r\n\r\n");
        assert!(matches!(none, Ok((204, Framing::Length(0), false))));
        let two = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
        assert!(matches!(two, Err(ErrorKind::Other)));
        let junk = parse("HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n");
        assert!(matches!(junk, Err(ErrorKind::Other)));
    }
}
