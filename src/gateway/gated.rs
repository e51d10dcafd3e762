//! A whole response body that is held until a signal: the spool's
//! acknowledgement of the request's ledger entry.
//!
//! Headers leave at once (with the exact length); the bytes follow when
//! the gate opens, so no client ever completes an answer whose usage entry
//! a crash could still lose. A dropped gate opens it too: the body is
//! never held for ever.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

/// One chunk of bytes behind a gate.
#[derive(Debug)]
pub struct Gated {
    data: Option<Bytes>,
    gate: Option<oneshot::Receiver<()>>,
    len: u64,
}

impl Gated {
    pub fn new(data: Bytes, gate: oneshot::Receiver<()>) -> Gated {
        Gated {
            len: data.len() as u64,
            data: Some(data),
            gate: Some(gate),
        }
    }
}

impl Body for Gated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(gate) = self.gate.as_mut() {
            let _ = ready!(Pin::new(gate).poll(cx));
            self.gate = None;
        }
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn holds_the_bytes_until_the_gate_opens() {
        let (open, gate) = oneshot::channel();
        let body = Gated::new(Bytes::from_static(b"hello"), gate);
        assert_eq!(body.size_hint().exact(), Some(5));
        let read = tokio::spawn(async move { body.collect().await.map(|c| c.to_bytes()) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!read.is_finished(), "the body waited for the gate");
        open.send(()).unwrap();
        assert_eq!(read.await.unwrap().unwrap(), Bytes::from_static(b"hello"));
    }
}
